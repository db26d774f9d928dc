// The error every transcoding step throws for a request it cannot map: it names the field (the
// JSON path as the client wrote it) so the 400 answer says what to fix.

/** `field` is the JSON path ('book.id', 'tags[2]'), '' for the body as a whole. */
export class TranscodeError extends Error {
  readonly field: string
  constructor(field: string, message: string) {
    super(field === '' ? message : `"${field}": ${message}`)
    this.name = 'TranscodeError'
    this.field = field
  }
}
