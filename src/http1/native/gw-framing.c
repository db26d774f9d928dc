/* The grammar's C callbacks: events into the shared array, Content-Length/Transfer-Encoding rules, framing after the head.
 * Decisions that need several headers at once are here (like llhttp's http.c), the byte-level rules stay in grammar.ts. */
#include <string.h>

#include "gw-parser.h"
#include "gw_known.h"

#define GW(s) ((gw_parser_t*) (s))
#define GW_ABS(g, p) ((g)->base_abs + (uint64_t) ((const unsigned char*) (p) - (g)->base))
#define GW_FULL_OR_OK(g) ((g)->ev_count >= (g)->ev_cap ? GW_PAUSE_FULL : 0)

/* --- events ----------------------------------------------------------------------------------- */

/* Appends a record. Room: every callback that emits returns GW_PAUSE_FULL once ev_count reaches
 * ev_cap, which stops the run at once, so one call writes at most ev_cap + 1 records from the run
 * (+1 from the end-of-buffer span flush, which only runs when nothing paused) and then at most 3
 * pieces (gw_flush_slots): within the GW_EV_HEADROOM records the wrapper allocates. */
static inline int32_t* gw_emit(gw_parser_t* g, int32_t type) {
  int32_t* r = g->ev + GW_EV_STRIDE * (1 + g->ev_count);
  g->ev_count++;
  r[0] = type;
  return r;
}

/* 1xx other than 101 are interim (RFC 9110 §15.2): parsed and validated, then skipped. The status
 * code is known before the reason starts, so even a reason cut by a read is not reported. */
static inline int gw_is_interim(const gw_resp_t* s) {
  return s->status_code < 200 && s->status_code != 101;
}

static void gw_emit_piece(gw_parser_t* g, int slot) {
  static const int32_t types[GW_SLOTS] = { GW_EV_REASON_PIECE, GW_EV_NAME_PIECE, GW_EV_VALUE_PIECE };
  int32_t* r;
  if (g->slot_len[slot] > 0 && !g->suppress && !(slot == GW_SLOT_REASON && gw_is_interim(&g->llp))) {
    g->slot_split[slot] = 1;
    r = gw_emit(g, types[slot]);
    r[1] = g->slot_off[slot];
    r[2] = g->slot_len[slot];
  }
  g->slot_len[slot] = -1;
}

/* A span of the status line or of a header ended (or was cut by the end of the buffer). It is kept
 * until the line completes, so the common case is one record per header; whatever is still held
 * when the call returns goes out as a *_PIECE record (gw_flush_slots) for the wrapper to stitch. */
static inline int gw_slot_set(gw_parser_t* g, int slot, const unsigned char* p, const unsigned char* endp) {
  if (g->slot_len[slot] >= 0) gw_emit_piece(g, slot); /* not reached with this grammar; keeps data safe */
  g->slot_off[slot] = (int32_t) (p - g->base);
  g->slot_len[slot] = (int32_t) (endp - p);
  return 0;
}

static void gw_flush_slots(gw_parser_t* g) {
  gw_emit_piece(g, GW_SLOT_REASON);
  gw_emit_piece(g, GW_SLOT_NAME);
  gw_emit_piece(g, GW_SLOT_VALUE);
}

static inline int gw_region_over(gw_parser_t* g, const unsigned char* p) {
  return g->region_active && GW_ABS(g, p) - g->region_start > g->max_head;
}

/* --- status line ------------------------------------------------------------------------------ */

int gw_on_message_begin(gw_resp_t* s, const unsigned char* p, const unsigned char* endp) {
  gw_parser_t* g = GW(s);
  s->status_code = 0;
  s->http_major = 0;
  s->http_minor = 0;
  s->flags = 0;
  s->header_kind = 0;
  s->header_other = 0;
  s->conn_token = 0;
  s->framing = GW_FRAMING_UNDECIDED;
  s->content_length = 0;
  s->cl_value = 0;
  g->cl_header = 0;
  g->suppress = 0;
  g->head_done = 0;
  g->keep_alive = 0;
  g->in_progress = 1;
  g->region_start = GW_ABS(g, p);
  g->region_active = 1;
  return 0;
}

int gw_on_reason(gw_resp_t* s, const unsigned char* p, const unsigned char* endp) {
  return gw_slot_set(GW(s), GW_SLOT_REASON, p, endp);
}

int gw_on_status_complete(gw_resp_t* s, const unsigned char* p, const unsigned char* endp) {
  gw_parser_t* g = GW(s);
  int32_t* r;
  g->slot_split[GW_SLOT_REASON] = 0;
  if (gw_is_interim(s)) {
    g->suppress = 1;
    g->slot_len[GW_SLOT_REASON] = -1;
    return 0;
  }
  r = gw_emit(g, GW_EV_STATUS);
  if (g->slot_len[GW_SLOT_REASON] >= 0) {
    r[1] = g->slot_off[GW_SLOT_REASON];
    r[2] = g->slot_len[GW_SLOT_REASON];
    g->slot_len[GW_SLOT_REASON] = -1;
  } else {
    r[1] = 0;
    r[2] = 0;
  }
  r[3] = s->status_code;
  r[4] = s->http_major * 10 + s->http_minor;
  return GW_FULL_OR_OK(g);
}

/* --- headers ---------------------------------------------------------------------------------- */

int gw_on_header_name(gw_resp_t* s, const unsigned char* p, const unsigned char* endp) {
  return gw_slot_set(GW(s), GW_SLOT_NAME, p, endp);
}

int gw_on_header_value(gw_resp_t* s, const unsigned char* p, const unsigned char* endp) {
  return gw_slot_set(GW(s), GW_SLOT_VALUE, p, endp);
}

/* Transfer-Encoding codings, in order. RFC 9112 §6.1: chunked must not be applied twice, and only
 * a final chunked frames the body (§6.3 ¶4). */
int gw_on_te_chunked(gw_resp_t* s, const unsigned char* p, const unsigned char* endp) {
  if (s->flags & GW_F_CHUNKED_SEEN) return GW_ERR_INVALID_TRANSFER_ENCODING;
  s->flags |= GW_F_CHUNKED | GW_F_CHUNKED_SEEN;
  return 0;
}

int gw_on_te_other(gw_resp_t* s, const unsigned char* p, const unsigned char* endp) {
  s->flags &= ~(uint32_t) GW_F_CHUNKED;
  return 0;
}

/* One header line is complete (CRLF seen). Returns 0, GW_PAUSE_FULL or an error. */
int gw_on_header_complete(gw_resp_t* s, const unsigned char* p, const unsigned char* endp) {
  gw_parser_t* g = GW(s);
  int32_t* r;
  int32_t type = GW_EV_HEADER;
  int32_t noff, nlen, voff, vlen;

  if (gw_region_over(g, p)) return GW_ERR_HEADER_OVERFLOW;

  switch (s->header_kind) {
    case GW_KIND_CONTENT_LENGTH:
      /* RFC 9110 §8.6 / RFC 9112 §6.3 ¶5: several Content-Length fields are acceptable only when
       * they agree; different values could frame the body two ways (response splitting). */
      if (s->flags & GW_F_CONTENT_LENGTH) {
        if (g->cl_header != s->cl_value) return GW_ERR_DUPLICATE_CONTENT_LENGTH;
      } else {
        s->flags |= GW_F_CONTENT_LENGTH;
        g->cl_header = s->cl_value;
      }
      break;
    case GW_KIND_TRANSFER_ENCODING:
      s->flags |= GW_F_TRANSFER_ENCODING;
      break;
    case GW_KIND_CONNECTION:
      if (s->header_other) {
        s->flags |= GW_F_CONNECTION_OTHER;
        type |= GW_EV_HEADER_OTHER;
        s->header_other = 0;
      }
      break;
    default:
      break;
  }

  if (g->suppress) {
    g->slot_len[GW_SLOT_NAME] = -1;
    g->slot_len[GW_SLOT_VALUE] = -1;
    g->slot_split[GW_SLOT_NAME] = 0;
    g->slot_split[GW_SLOT_VALUE] = 0;
    return 0;
  }

  noff = nlen = voff = vlen = 0;
  if (g->slot_len[GW_SLOT_NAME] >= 0) {
    noff = g->slot_off[GW_SLOT_NAME];
    nlen = g->slot_len[GW_SLOT_NAME];
    g->slot_len[GW_SLOT_NAME] = -1;
  }
  if (g->slot_len[GW_SLOT_VALUE] >= 0) {
    voff = g->slot_off[GW_SLOT_VALUE];
    vlen = g->slot_len[GW_SLOT_VALUE];
    g->slot_len[GW_SLOT_VALUE] = -1;
    /* Trailing OWS is not part of the value (RFC 9112 §5); leading OWS never entered the span. */
    while (vlen > 0 && (g->base[voff + vlen - 1] == ' ' || g->base[voff + vlen - 1] == '\t')) vlen--;
  }
  /* Common names and values (whole in this read) become ids: the wrapper reuses its strings. */
  if (s->header_kind == GW_KIND_GENERAL) {
    if (!g->slot_split[GW_SLOT_NAME]) type |= gw_known_name(g->base + noff, nlen) << GW_EV_HEADER_NAME_SHIFT;
    if (!g->slot_split[GW_SLOT_VALUE]) type |= gw_known_value(g->base + voff, vlen) << GW_EV_HEADER_VALUE_SHIFT;
  }
  g->slot_split[GW_SLOT_NAME] = 0;
  g->slot_split[GW_SLOT_VALUE] = 0;

  r = gw_emit(g, type | (s->header_kind << GW_EV_HEADER_KIND_SHIFT));
  r[1] = noff;
  r[2] = nlen;
  r[3] = voff;
  r[4] = vlen;
  return GW_FULL_OR_OK(g);
}

/* --- framing ---------------------------------------------------------------------------------- */

/*
 * The head is complete: choose how the body is delimited and store it in `framing`, which the
 * grammar then branches on (RFC 9112 §6.3, in this order):
 *
 *   framing              when                                         body kind  keep-alive
 *   GW_FRAMING_UPGRADE   101 Switching Protocols                      NONE       no (tunnel)
 *   GW_FRAMING_INFORMATIONAL  other 1xx: skipped, next head follows   -          -
 *   GW_FRAMING_NONE      204; HEAD request, 304 (cl still reported)   NONE       per Connection
 *   GW_FRAMING_CHUNKED   Transfer-Encoding with chunked last          CHUNKED    per Connection
 *   GW_FRAMING_EOF       Transfer-Encoding without chunked last       EOF        no
 *   GW_FRAMING_LENGTH    Content-Length (0 → GW_FRAMING_NONE)         LENGTH     per Connection
 *   GW_FRAMING_EOF       none of the above: read until close          EOF        no
 *
 * Return values: 0 = go on (framing set), GW_PAUSE_FULL = event array full (resumes into the same
 * branch), GW_ERR_CONTENT_LENGTH_WITH_TRANSFER_ENCODING, GW_ERR_HEADER_OVERFLOW.
 */
int gw_on_headers_complete(gw_resp_t* s, const unsigned char* p, const unsigned char* endp) {
  gw_parser_t* g = GW(s);
  uint32_t flags = s->flags;
  unsigned status = s->status_code;
  int v11 = s->http_major == 1 && s->http_minor >= 1;
  int keep, kind;
  int64_t cl = -1;
  int32_t* r;

  if (gw_region_over(g, p)) return GW_ERR_HEADER_OVERFLOW;
  g->region_active = 0;

  /* RFC 9112 §6.3 ¶3: "If a message is received with both a Transfer-Encoding and a
   * Content-Length header field, the Transfer-Encoding overrides the Content-Length. Such a
   * message might indicate an attempt to perform request smuggling (Section 11.2) or response
   * splitting (Section 11.1) and ought to be handled as an error." A gateway relaying it could
   * disagree with the next hop on where the response ends, so it is an error here. */
  if ((flags & GW_F_CONTENT_LENGTH) && (flags & GW_F_TRANSFER_ENCODING)) {
    return GW_ERR_CONTENT_LENGTH_WITH_TRANSFER_ENCODING;
  }

  /* Keep-alive: HTTP/1.1 unless "close"; HTTP/1.0 only with "keep-alive" (RFC 9112 §9.3).
   * RFC 9112 §6.1: an HTTP/1.0 message with Transfer-Encoding has faulty framing: process it,
   * then close the connection. */
  if (flags & GW_F_CONNECTION_CLOSE) keep = 0;
  else keep = v11 || (flags & GW_F_CONNECTION_KEEP_ALIVE);
  if (!v11 && (flags & GW_F_TRANSFER_ENCODING)) keep = 0;

  g->head_done = 1;
  if (status == 101) {
    s->framing = GW_FRAMING_UPGRADE;
    kind = GW_BODY_NONE;
    keep = 0;
    g->upgraded = 1;
  } else if (status < 200) {
    s->framing = GW_FRAMING_INFORMATIONAL;
    return 0;
  } else if (status == 204) {
    /* RFC 9110 §15.3.5: no content, and a Content-Length here means nothing. */
    s->framing = GW_FRAMING_NONE;
    kind = GW_BODY_NONE;
  } else if (g->skip_body || status == 304) {
    /* RFC 9110 §8.6: Content-Length of a HEAD/304 response is the size the body would have had;
     * it is reported so the relay can forward it. */
    s->framing = GW_FRAMING_NONE;
    kind = GW_BODY_NONE;
    if (flags & GW_F_CONTENT_LENGTH) cl = (int64_t) g->cl_header;
  } else if (flags & GW_F_TRANSFER_ENCODING) {
    if (flags & GW_F_CHUNKED) {
      s->framing = GW_FRAMING_CHUNKED;
      kind = GW_BODY_CHUNKED;
    } else {
      /* RFC 9112 §6.3 ¶4: chunked not final in a response → read until the server closes. */
      s->framing = GW_FRAMING_EOF;
      kind = GW_BODY_EOF;
      keep = 0;
    }
  } else if (flags & GW_F_CONTENT_LENGTH) {
    cl = (int64_t) g->cl_header;
    kind = GW_BODY_LENGTH;
    s->framing = cl == 0 ? GW_FRAMING_NONE : GW_FRAMING_LENGTH;
    s->content_length = g->cl_header;
  } else {
    s->framing = GW_FRAMING_EOF;
    kind = GW_BODY_EOF;
    keep = 0;
  }
  if (s->framing == GW_FRAMING_EOF) s->content_length = UINT64_MAX;
  g->keep_alive = (uint8_t) keep;

  r = gw_emit(g, GW_EV_HEAD_DONE);
  r[1] = kind | (keep << 8);
  r[2] = (int32_t) flags;
  r[3] = (int32_t) (uint32_t) ((uint64_t) cl & 0xffffffffu);
  r[4] = (int32_t) (cl >> 32);
  return GW_FULL_OR_OK(g);
}

/* --- bodies ----------------------------------------------------------------------------------- */

int gw_on_body(gw_resp_t* s, const unsigned char* p, const unsigned char* endp) {
  gw_parser_t* g = GW(s);
  int32_t* r;
  if (p == endp) return 0;
  r = gw_emit(g, GW_EV_BODY);
  r[1] = (int32_t) (p - g->base);
  r[2] = (int32_t) (endp - p);
  return GW_FULL_OR_OK(g);
}

/* Before each chunk-size line: reset the size and bound the line (size + extensions). */
int gw_on_chunk_header(gw_resp_t* s, const unsigned char* p, const unsigned char* endp) {
  gw_parser_t* g = GW(s);
  s->content_length = 0;
  g->region_start = GW_ABS(g, p);
  g->region_active = 1;
  return 0;
}

/* After the chunk-size line. Returns 0 = data follows, 1 = last chunk (trailers follow), or
 * GW_ERR_HEADER_OVERFLOW when the line (extensions) was longer than the head limit. */
int gw_on_chunk_header_done(gw_resp_t* s, const unsigned char* p, const unsigned char* endp) {
  gw_parser_t* g = GW(s);
  if (gw_region_over(g, p)) return GW_ERR_HEADER_OVERFLOW;
  if (s->content_length == 0) {
    g->region_start = GW_ABS(g, p); /* the trailer section gets its own budget */
    return 1;
  }
  g->region_active = 0;
  return 0;
}

int gw_on_trailers_complete(gw_resp_t* s, const unsigned char* p, const unsigned char* endp) {
  gw_parser_t* g = GW(s);
  if (gw_region_over(g, p)) return GW_ERR_HEADER_OVERFLOW;
  g->region_active = 0;
  return 0;
}

/* The final response ended. Bytes after it in the same read mean the upstream is broken (we never
 * pipeline), so the connection is reported as not reusable and the grammar then errors on them. */
int gw_on_message_complete(gw_resp_t* s, const unsigned char* p, const unsigned char* endp) {
  gw_parser_t* g = GW(s);
  int32_t* r = gw_emit(g, GW_EV_COMPLETE);
  r[1] = g->keep_alive && p == endp && !g->upgraded;
  g->in_progress = 0;
  return GW_FULL_OR_OK(g);
}

/* --- driver ----------------------------------------------------------------------------------- */

void gw_parser_init(gw_parser_t* g, int32_t* ev, uint32_t ev_cap, uint32_t max_head) {
  memset(g, 0, sizeof(*g));
  g->ev = ev;
  g->ev_cap = ev_cap;
  g->max_head = max_head;
  gw_parser_reset(g, 0);
}

void gw_parser_reset(gw_parser_t* g, int skip_body) {
  gw_resp_init(&g->llp);
  g->skip_body = (uint8_t) (skip_body != 0);
  g->in_progress = 0;
  g->suppress = 0;
  g->head_done = 0;
  g->keep_alive = 0;
  g->upgraded = 0;
  g->closed = 0;
  g->region_active = 0;
  g->cl_header = 0;
  g->base = NULL;
  g->end = NULL;
  g->base_abs = 0;
  g->total = 0;
  g->slot_len[0] = g->slot_len[1] = g->slot_len[2] = -1;
  g->slot_split[0] = g->slot_split[1] = g->slot_split[2] = 0;
}

int gw_parser_execute(gw_parser_t* g, const unsigned char* data, size_t len, size_t off, int fresh) {
  gw_resp_t* s = &g->llp;
  int rc;

  g->ev_count = 0;
  if (g->closed) {
    g->ev[0] = 0;
    g->ev[1] = -1;
    return GW_ERR_UNEXPECTED_DATA;
  }
  if (fresh) {
    g->base_abs = g->total;
    g->total += len;
  }
  g->base = data;
  g->end = data + len;
  /* Resuming after the wrapper drained a full event array. */
  if (s->error == GW_PAUSE_FULL) s->error = 0;

  rc = gw_resp_execute(s, (const char*) data + off, (const char*) data + len);
  /* A head (or chunk line, or trailer section) still growing past the limit across reads. */
  if (rc == 0 && gw_region_over(g, g->end)) {
    s->error = GW_ERR_HEADER_OVERFLOW;
    s->reason = NULL;
    s->error_pos = (const char*) g->end;
    rc = GW_ERR_HEADER_OVERFLOW;
  }
  gw_flush_slots(g);

  g->ev[0] = (int32_t) g->ev_count;
  if (rc != 0 && (const unsigned char*) s->error_pos >= data && (const unsigned char*) s->error_pos <= g->end) {
    g->ev[1] = (int32_t) ((const unsigned char*) s->error_pos - data);
  } else {
    g->ev[1] = rc == 0 ? (int32_t) len : -1;
  }
  return rc;
}

int gw_parser_finish(gw_parser_t* g) {
  gw_resp_t* s = &g->llp;
  if (s->error == GW_PAUSE_UPGRADE) return 0;
  if (s->error != 0) return s->error;
  if (!g->in_progress) return 0;
  if (g->head_done && s->framing == GW_FRAMING_EOF) {
    /* RFC 9112 §6.3 ¶8: a close-delimited body ends with the connection. */
    g->in_progress = 0;
    g->closed = 1; /* nothing may follow; reset() before reuse */
    return -1;
  }
  s->error = GW_ERR_TRUNCATED;
  s->reason = NULL;
  return GW_ERR_TRUNCATED;
}
