// The llparse graph of an HTTP/1.x response: status line, headers tagged by kind, body framing (length, chunked, EOF).
// Only framing-relevant headers are special-cased in the grammar; decisions that are easier in C live in native/gw-framing.c.
import { LLParse, source } from 'llparse'
import { CONNECTION_TOKEN, ERROR, ERROR_REASON, FLAGS, FRAMING, HEADER_KIND, PAUSE } from './constants.js'

type Node = source.node.Node
type Match = source.node.Match

const NODES = [
  'message_start',
  'status_line_http',
  'http_major',
  'http_dot',
  'http_minor',
  'status_sp',
  'status_digit_1',
  'status_digit_2',
  'status_digit_3',
  'status_after_code',
  'reason',
  'reason_end',
  'status_line_cr',
  'status_line_lf',
  'header_field_start',
  'header_field_kind',
  'header_field_kind_end',
  'header_field_general',
  'header_field_general_end',
  'header_colon',
  'header_value_discard_ws',
  'header_value_general',
  'header_value_general_end',
  'header_value_cr',
  'header_value_lf',
  'header_value_cl_first',
  'header_value_cl_digits',
  'header_value_cl_ows',
  'header_value_te_token',
  'header_value_te_chunked_end',
  'header_value_te_other',
  'header_value_conn_token',
  'header_value_conn_token_end',
  'header_value_conn_other',
  'headers_almost_done',
  'body_length',
  'body_eof',
  'chunk_size_first',
  'chunk_size',
  'chunk_size_lf',
  'chunk_ext_ws',
  'chunk_ext_name_ws',
  'chunk_ext_name_start',
  'chunk_ext_name',
  'chunk_ext_after_name',
  'chunk_ext_value_ws',
  'chunk_ext_value_token',
  'chunk_ext_quoted',
  'chunk_ext_quoted_pair',
  'chunk_data_crlf',
  'trailer_field_start',
  'trailer_name',
  'trailer_value_ws',
  'trailer_value',
  'trailer_value_end',
  'trailer_value_lf',
  'trailers_almost_done',
  'after_complete',
] as const
type NodeName = (typeof NODES)[number]

// RFC 9110 §5.6.2 tchar.
const TOKEN: string[] = '!#$%&\'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ'.split('')
// RFC 9110 §5.5 field-vchar / SP / HTAB: everything but CTLs (CR, LF and NUL included) and DEL.
const VALUE_CHARS: number[] = [0x09]
for (let c = 0x20; c <= 0xff; c++) if (c !== 0x7f) VALUE_CHARS.push(c)
const VALUE_CHARS_NO_COMMA = VALUE_CHARS.filter((c) => c !== 0x2c)
// RFC 9110 §5.6.4 qdtext (and obs-text), and what may follow a backslash in a quoted-pair.
const QDTEXT = VALUE_CHARS.filter((c) => c !== 0x22 && c !== 0x5c)
const QUOTED_PAIR = VALUE_CHARS
const WS = [' ', '\t']

const DIGITS: Record<string, number> = {}
for (let d = 0; d <= 9; d++) DIGITS[String(d)] = d
const NONZERO_DIGITS: Record<string, number> = {}
for (let d = 1; d <= 9; d++) NONZERO_DIGITS[String(d)] = d
const HEX: Record<string, number> = { ...DIGITS }
for (let d = 10; d < 16; d++) {
  HEX[d.toString(16)] = d
  HEX[d.toString(16).toUpperCase()] = d
}

/** Names matched exactly (followed by ':'); anything longer becomes GENERAL. */
const EXACT_KINDS: Record<string, number> = {
  'content-length': HEADER_KIND.CONTENT_LENGTH,
  'transfer-encoding': HEADER_KIND.TRANSFER_ENCODING,
  connection: HEADER_KIND.CONNECTION,
  'keep-alive': HEADER_KIND.KEEP_ALIVE,
  te: HEADER_KIND.TE,
  trailer: HEADER_KIND.TRAILER,
  upgrade: HEADER_KIND.UPGRADE,
}
/** Names matched by prefix. */
const PREFIX_KINDS: Record<string, number> = { 'proxy-': HEADER_KIND.PROXY }

/** Largest value a JS number holds exactly; Content-Length and chunk sizes above it are refused. */
const MAX_LENGTH = Number.MAX_SAFE_INTEGER

export class ResponseGrammar {
  readonly p: LLParse
  private readonly nodes = new Map<NodeName, Match>()
  private readonly errors = new Map<string, Node>()
  /** Shared targets, set while building: the message-complete callback and the chunk-size line start. */
  private messageComplete: Node | null = null
  private chunkStartNode: Node | null = null
  private readonly spans: {
    reason: source.Span
    name: source.Span
    value: source.Span
    body: source.Span
  }

  constructor(prefix = 'gw_resp') {
    const p = (this.p = new LLParse(prefix))
    p.property('i8', 'http_major')
    p.property('i8', 'http_minor')
    p.property('i16', 'status_code')
    p.property('i8', 'header_kind')
    p.property('i8', 'header_other')
    p.property('i8', 'conn_token')
    p.property('i8', 'framing')
    p.property('i32', 'flags')
    // Bytes left of the current body / chunk (consume), and the Content-Length header being read.
    p.property('i64', 'content_length')
    p.property('i64', 'cl_value')
    for (const name of NODES) this.nodes.set(name, p.node(name))
    this.spans = {
      reason: p.span(p.code.span('gw_on_reason')),
      name: p.span(p.code.span('gw_on_header_name')),
      value: p.span(p.code.span('gw_on_header_value')),
      body: p.span(p.code.span('gw_on_body')),
    }
  }

  /** Builds the graph and returns llparse's C source and header. */
  build(): { c: string; header: string } {
    this.buildStatusLine()
    this.buildHeaderField()
    this.buildHeaderValue()
    this.buildHeadersComplete()
    this.buildBody()
    this.buildChunked()
    this.buildTrailers()
    this.n('after_complete').skipTo(this.error(ERROR.UNEXPECTED_DATA))
    return this.p.build(this.n('message_start'), { headerGuard: 'GW_RESP_GENERATED_H_' })
  }

  // --- helpers -------------------------------------------------------------------------------

  private n(name: NodeName): Match {
    const node = this.nodes.get(name)
    if (node === undefined) throw new Error(`unknown node ${name}`)
    return node
  }

  /** One error node per code and reason, shared by every path to that failure. */
  private error(code: number, reason = ERROR_REASON[code] ?? 'error'): Node {
    const key = `${code} ${reason}`
    let node = this.errors.get(key)
    if (node === undefined) {
      node = this.p.error(code, reason)
      this.errors.set(key, node)
    }
    return node
  }

  private store(field: string, next: Node): Node {
    return this.p.invoke(this.p.code.store(field), next)
  }

  private update(field: string, value: number, next: Node): Node {
    return this.p.invoke(this.p.code.update(field, value), next)
  }

  private setFlag(flag: number, next: Node): Node {
    return this.p.invoke(this.p.code.or('flags', flag), next)
  }

  private mulAdd(field: string, base: number, overflow: Node, next: Node, max?: number): Node {
    const opts = max === undefined ? { base, signed: false } : { base, signed: false, max }
    return this.p.invoke(this.p.code.mulAdd(field, opts), { 1: overflow }, next)
  }

  /**
   * Calls a C callback that may return 0 (go on), PAUSE.FULL (the event array is full: return to
   * JS, resume at `next`) or one of `errors` (stop with that code).
   */
  private invokePausable(fn: string, next: Node, errors: readonly number[] = []): Node {
    const p = this.p
    const map: Record<number, Node> = { 0: next, [PAUSE.FULL]: p.pause(PAUSE.FULL, 'event array full').otherwise(next) }
    for (const code of errors) map[code] = this.error(code)
    return p.invoke(p.code.match(fn), map, this.error(ERROR.INTERNAL, `unexpected return value from ${fn}`))
  }

  // --- status line: HTTP/1.x SP 3DIGIT [SP reason] CRLF (RFC 9112 §4) ---------------------------

  private buildStatusLine(): void {
    const p = this.p
    const badVersion = this.error(ERROR.INVALID_VERSION)
    const badStatus = this.error(ERROR.INVALID_STATUS)
    const eol = this.error(ERROR.INVALID_EOL)

    // Peek (not otherwise) so the begin callback only runs once a byte of the response is here.
    this.n('message_start')
      .peek('H', p.invoke(p.code.match('gw_on_message_begin'), this.n('status_line_http')))
      .otherwise(badVersion)
    this.n('status_line_http').match('HTTP/', this.n('http_major')).otherwise(badVersion)
    this.n('http_major').match('1', this.update('http_major', 1, this.n('http_dot'))).otherwise(badVersion)
    this.n('http_dot').match('.', this.n('http_minor')).otherwise(badVersion)
    this.n('http_minor').select(DIGITS, this.store('http_minor', this.n('status_sp'))).otherwise(badVersion)
    this.n('status_sp').match(' ', this.n('status_digit_1')).otherwise(badStatus)

    this.n('status_digit_1')
      .select(NONZERO_DIGITS, this.mulAdd('status_code', 10, badStatus, this.n('status_digit_2')))
      .otherwise(badStatus)
    this.n('status_digit_2')
      .select(DIGITS, this.mulAdd('status_code', 10, badStatus, this.n('status_digit_3')))
      .otherwise(badStatus)
    this.n('status_digit_3')
      .select(DIGITS, this.mulAdd('status_code', 10, badStatus, this.n('status_after_code')))
      .otherwise(badStatus)

    // The SP before an empty reason is required by RFC 9112 §4 but often missing: accept "200\r\n".
    const reasonStart = this.spans.reason.start(this.n('reason'))
    this.n('status_after_code').match(' ', reasonStart).peek('\r', reasonStart).otherwise(badStatus)
    // Hot loops have a single self edge and test the terminator in a second node, so llparse can
    // vectorise them (SSE4.2 / NEON range compares, 16 bytes at a time).
    this.n('reason').match(VALUE_CHARS, this.n('reason')).otherwise(this.n('reason_end'))
    this.n('reason_end')
      .peek('\r', this.spans.reason.end(this.n('status_line_cr')))
      .otherwise(this.error(ERROR.INVALID_REASON))
    this.n('status_line_cr').match('\r', this.n('status_line_lf')).otherwise(eol)
    this.n('status_line_lf')
      .match('\n', this.invokePausable('gw_on_status_complete', this.n('header_field_start')))
      .otherwise(eol)
  }

  // --- header names: token ":" (RFC 9112 §5.1); no whitespace before the colon -----------------

  private buildHeaderField(): void {
    const p = this.p
    const badToken = this.error(ERROR.INVALID_HEADER_TOKEN)
    const nameEnd = this.spans.name.end(this.n('header_colon'))

    // RFC 9112 §5.2: obs-fold in a response may be refused (a gateway answers 502). The same
    // check refuses whitespace between the status line and the first header (RFC 9112 §2.2).
    this.n('header_field_start')
      .match('\r', this.n('headers_almost_done'))
      .peek(WS, this.error(ERROR.OBS_FOLD))
      .peek(':', badToken)
      .otherwise(this.spans.name.start(this.n('header_field_kind')))

    // The select consumes the matched prefix; on a mismatch the rest of the name is read by
    // header_field_general (still inside the name span) and the kind is GENERAL.
    this.n('header_field_kind')
      .transform(p.transform.toLower())
      .select(EXACT_KINDS, this.store('header_kind', this.n('header_field_kind_end')))
      .select(PREFIX_KINDS, this.store('header_kind', this.n('header_field_general')))
      .otherwise(this.update('header_kind', HEADER_KIND.GENERAL, this.n('header_field_general')))

    // "content-length" must be the whole name: "content-lengthy" is an ordinary header.
    this.n('header_field_kind_end')
      .peek(':', nameEnd)
      .otherwise(this.update('header_kind', HEADER_KIND.GENERAL, this.n('header_field_general')))

    this.n('header_field_general').match(TOKEN, this.n('header_field_general')).otherwise(this.n('header_field_general_end'))
    this.n('header_field_general_end').peek(':', nameEnd).otherwise(badToken)
    this.n('header_colon').match(':', this.n('header_value_discard_ws')).otherwise(badToken)
  }

  // --- header values: OWS field-value OWS CRLF; CTLs (CR, LF, NUL…) refused ---------------------

  private buildHeaderValue(): void {
    const p = this.p
    const badValue = this.error(ERROR.INVALID_HEADER_VALUE)
    const badLength = this.error(ERROR.INVALID_CONTENT_LENGTH)
    const valueEnd = this.spans.value.end(this.n('header_value_cr'))

    const byKind = p.invoke(
      p.code.load('header_kind'),
      {
        [HEADER_KIND.CONTENT_LENGTH]: this.update('cl_value', 0, this.n('header_value_cl_first')),
        [HEADER_KIND.TRANSFER_ENCODING]: this.n('header_value_te_token'),
        [HEADER_KIND.CONNECTION]: this.n('header_value_conn_token'),
      },
      this.n('header_value_general'),
    )
    this.n('header_value_discard_ws').match(WS, this.n('header_value_discard_ws')).otherwise(this.spans.value.start(byKind))

    this.n('header_value_general').match(VALUE_CHARS, this.n('header_value_general')).otherwise(this.n('header_value_general_end'))
    this.n('header_value_general_end').peek('\r', valueEnd).otherwise(badValue)

    // Content-Length = 1*DIGIT (RFC 9110 §8.6); lists ("5, 5") are refused. Above 2^53-1 is an error.
    const clDigit = this.mulAdd('cl_value', 10, badLength, this.n('header_value_cl_digits'), MAX_LENGTH)
    this.n('header_value_cl_first').select(DIGITS, clDigit).otherwise(badLength)
    this.n('header_value_cl_digits')
      .select(DIGITS, clDigit)
      .match(WS, this.n('header_value_cl_ows'))
      .peek('\r', valueEnd)
      .otherwise(badLength)
    this.n('header_value_cl_ows').match(WS, this.n('header_value_cl_ows')).peek('\r', valueEnd).otherwise(badLength)

    // Transfer-Encoding: the codings in order; only whether the last one is "chunked" matters
    // (RFC 9112 §6.3 ¶4-5), which C tracks in gw_on_te_chunked / gw_on_te_other.
    const teToken = this.n('header_value_te_token')
    teToken
      .match([' ', '\t', ','], teToken)
      .peek('\r', valueEnd)
      .transform(p.transform.toLower())
      .match('chunked', this.n('header_value_te_chunked_end'))
      .otherwise(p.invoke(p.code.match('gw_on_te_other'), this.n('header_value_te_other')))
    this.n('header_value_te_chunked_end')
      .peek([',', ' ', '\t', '\r'], p.invoke(p.code.match('gw_on_te_chunked'), { 0: teToken }, this.error(ERROR.INVALID_TRANSFER_ENCODING)))
      .otherwise(p.invoke(p.code.match('gw_on_te_other'), this.n('header_value_te_other')))
    this.n('header_value_te_other')
      .match(VALUE_CHARS_NO_COMMA, this.n('header_value_te_other'))
      .match(',', teToken)
      .peek('\r', valueEnd)
      .otherwise(badValue)

    // Connection: close / keep-alive / upgrade set flags; any other token means the value names
    // headers the wrapper must drop too (RFC 9110 §7.6.1).
    const connToken = this.n('header_value_conn_token')
    const connOther = this.update('header_other', 1, this.n('header_value_conn_other'))
    connToken
      .match([' ', '\t', ','], connToken)
      .peek('\r', valueEnd)
      .transform(p.transform.toLower())
      .select(
        { close: CONNECTION_TOKEN.CLOSE, 'keep-alive': CONNECTION_TOKEN.KEEP_ALIVE, upgrade: CONNECTION_TOKEN.UPGRADE },
        this.store('conn_token', this.n('header_value_conn_token_end')),
      )
      .otherwise(connOther)
    this.n('header_value_conn_token_end')
      .peek(
        [',', ' ', '\t', '\r'],
        p.invoke(
          p.code.load('conn_token'),
          {
            [CONNECTION_TOKEN.CLOSE]: this.setFlag(FLAGS.CONNECTION_CLOSE, connToken),
            [CONNECTION_TOKEN.KEEP_ALIVE]: this.setFlag(FLAGS.CONNECTION_KEEP_ALIVE, connToken),
            [CONNECTION_TOKEN.UPGRADE]: this.setFlag(FLAGS.CONNECTION_UPGRADE, connToken),
          },
          this.error(ERROR.INTERNAL),
        ),
      )
      .otherwise(connOther)
    this.n('header_value_conn_other')
      .match(VALUE_CHARS_NO_COMMA, this.n('header_value_conn_other'))
      .match(',', connToken)
      .peek('\r', valueEnd)
      .otherwise(badValue)

    // Strict CRLF: a bare CR or LF is not a line end (RFC 9112 §2.2 lets us refuse them); a CR
    // not followed by LF counts as a CR inside the value.
    this.n('header_value_cr').match('\r', this.n('header_value_lf')).otherwise(badValue)
    this.n('header_value_lf')
      .match(
        '\n',
        this.invokePausable('gw_on_header_complete', this.n('header_field_start'), [
          ERROR.DUPLICATE_CONTENT_LENGTH,
          ERROR.HEADER_OVERFLOW,
        ]),
      )
      .otherwise(badValue)
  }

  // --- end of head: C picks the framing (see the table in native/gw-framing.c) ----------------

  private buildHeadersComplete(): void {
    const p = this.p
    const messageComplete = this.invokePausable('gw_on_message_complete', this.n('after_complete'))
    // 101: report it, then stop; what follows belongs to the upgraded protocol.
    const upgraded = this.invokePausable(
      'gw_on_message_complete',
      p.pause(PAUSE.UPGRADE, 'upgraded').otherwise(this.error(ERROR.UPGRADED)),
    )
    const byFraming = p.invoke(
      p.code.load('framing'),
      {
        [FRAMING.NONE]: messageComplete,
        [FRAMING.LENGTH]: this.spans.body.start(this.n('body_length')),
        [FRAMING.CHUNKED]: this.chunkStart(),
        [FRAMING.EOF]: this.spans.body.start(this.n('body_eof')),
        [FRAMING.INFORMATIONAL]: this.n('message_start'),
        [FRAMING.UPGRADE]: upgraded,
      },
      this.error(ERROR.INTERNAL, 'no framing decided'),
    )
    this.n('headers_almost_done')
      .match(
        '\n',
        this.invokePausable('gw_on_headers_complete', byFraming, [
          ERROR.CONTENT_LENGTH_WITH_TRANSFER_ENCODING,
          ERROR.HEADER_OVERFLOW,
        ]),
      )
      .otherwise(this.error(ERROR.INVALID_EOL))
    this.messageComplete = messageComplete
  }

  /** C resets the chunk size and starts the size-line limit before each chunk-size line. */
  private chunkStart(): Node {
    if (this.chunkStartNode === null) {
      this.chunkStartNode = this.p.invoke(this.p.code.match('gw_on_chunk_header'), this.n('chunk_size_first'))
    }
    return this.chunkStartNode
  }

  // --- bodies: Content-Length (consume) and close-delimited -----------------------------------

  private buildBody(): void {
    const p = this.p
    const body = this.spans.body
    this.n('body_length').otherwise(
      p.consume('content_length').otherwise(body.end(this.messageComplete ?? this.error(ERROR.INTERNAL))),
    )
    // Read until EOF: C set content_length to UINT64_MAX, so consume takes whole reads at once
    // and the span flushes one BODY event per read. finish() completes the message.
    this.n('body_eof').otherwise(p.consume('content_length').otherwise(body.end(this.error(ERROR.INTERNAL, 'EOF body overflow'))))
  }

  // --- chunked (RFC 9112 §7.1): size [ext] CRLF data CRLF … 0 CRLF trailers CRLF ---------------

  private buildChunked(): void {
    const p = this.p
    const badSize = this.error(ERROR.INVALID_CHUNK_SIZE)
    const overflow = this.error(ERROR.CHUNK_SIZE_OVERFLOW)
    const badExt = this.error(ERROR.INVALID_CHUNK_EXTENSION)
    const sizeDigit = this.mulAdd('content_length', 16, overflow, this.n('chunk_size'), MAX_LENGTH)

    this.n('chunk_size_first').select(HEX, sizeDigit).otherwise(badSize)
    this.n('chunk_size')
      .select(HEX, sizeDigit)
      .match('\r', this.n('chunk_size_lf'))
      .peek([';', ' ', '\t'], this.n('chunk_ext_ws'))
      .otherwise(badSize)

    // chunk-ext = *( BWS ";" BWS ext-name [ BWS "=" BWS ext-val ] ), ext-val = token / quoted-string.
    // Extensions are validated and ignored.
    const lf = this.n('chunk_size_lf')
    this.n('chunk_ext_ws').match(WS, this.n('chunk_ext_ws')).match(';', this.n('chunk_ext_name_ws')).match('\r', lf).otherwise(badExt)
    this.n('chunk_ext_name_ws').match(WS, this.n('chunk_ext_name_ws')).otherwise(this.n('chunk_ext_name_start'))
    this.n('chunk_ext_name_start').match(TOKEN, this.n('chunk_ext_name')).otherwise(badExt)
    this.n('chunk_ext_name')
      .match(TOKEN, this.n('chunk_ext_name'))
      .match(WS, this.n('chunk_ext_after_name'))
      .match('=', this.n('chunk_ext_value_ws'))
      .match(';', this.n('chunk_ext_name_ws'))
      .match('\r', lf)
      .otherwise(badExt)
    this.n('chunk_ext_after_name')
      .match(WS, this.n('chunk_ext_after_name'))
      .match('=', this.n('chunk_ext_value_ws'))
      .match(';', this.n('chunk_ext_name_ws'))
      .match('\r', lf)
      .otherwise(badExt)
    this.n('chunk_ext_value_ws')
      .match(WS, this.n('chunk_ext_value_ws'))
      .match('"', this.n('chunk_ext_quoted'))
      .match(TOKEN, this.n('chunk_ext_value_token'))
      .otherwise(badExt)
    this.n('chunk_ext_value_token')
      .match(TOKEN, this.n('chunk_ext_value_token'))
      .match(WS, this.n('chunk_ext_ws'))
      .match(';', this.n('chunk_ext_name_ws'))
      .match('\r', lf)
      .otherwise(badExt)
    this.n('chunk_ext_quoted')
      .match('"', this.n('chunk_ext_ws'))
      .match('\\', this.n('chunk_ext_quoted_pair'))
      .match(QDTEXT, this.n('chunk_ext_quoted'))
      .otherwise(badExt)
    this.n('chunk_ext_quoted_pair').match(QUOTED_PAIR, this.n('chunk_ext_quoted')).otherwise(badExt)

    // C returns 0 for a data chunk, 1 for the last chunk (size 0): trailers follow.
    const body = this.spans.body
    lf.match(
      '\n',
      p.invoke(
        p.code.match('gw_on_chunk_header_done'),
        {
          0: body.start(p.consume('content_length').otherwise(body.end(this.n('chunk_data_crlf')))),
          1: this.n('trailer_field_start'),
          [ERROR.HEADER_OVERFLOW]: this.error(ERROR.HEADER_OVERFLOW),
        },
        this.error(ERROR.INTERNAL),
      ),
    ).otherwise(this.error(ERROR.INVALID_EOL))
    this.n('chunk_data_crlf').match('\r\n', this.chunkStart()).otherwise(this.error(ERROR.INVALID_CHUNK_DATA))
  }

  // --- trailers: validated like headers, then dropped (RFC 9110 §6.5: never framing) ----------

  private buildTrailers(): void {
    const badToken = this.error(ERROR.INVALID_HEADER_TOKEN)
    const badValue = this.error(ERROR.INVALID_HEADER_VALUE)
    this.n('trailer_field_start')
      .match('\r', this.n('trailers_almost_done'))
      .peek(WS, this.error(ERROR.OBS_FOLD))
      .match(TOKEN, this.n('trailer_name'))
      .otherwise(badToken)
    this.n('trailer_name').match(TOKEN, this.n('trailer_name')).match(':', this.n('trailer_value_ws')).otherwise(badToken)
    this.n('trailer_value_ws').match(WS, this.n('trailer_value_ws')).otherwise(this.n('trailer_value'))
    this.n('trailer_value').match(VALUE_CHARS, this.n('trailer_value')).otherwise(this.n('trailer_value_end'))
    this.n('trailer_value_end').match('\r', this.n('trailer_value_lf')).otherwise(badValue)
    this.n('trailer_value_lf').match('\n', this.n('trailer_field_start')).otherwise(this.error(ERROR.INVALID_EOL))
    this.n('trailers_almost_done')
      .match(
        '\n',
        this.p.invoke(
          this.p.code.match('gw_on_trailers_complete'),
          { 0: this.messageComplete ?? this.error(ERROR.INTERNAL), [ERROR.HEADER_OVERFLOW]: this.error(ERROR.HEADER_OVERFLOW) },
          this.error(ERROR.INTERNAL),
        ),
      )
      .otherwise(this.error(ERROR.INVALID_EOL))
  }
}
