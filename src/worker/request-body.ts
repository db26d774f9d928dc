// The client's request body as a stream: uWS's onData is registered in the synchronous handler
// (data arriving with no handler is lost), and chunks wait here, bounded, until a consumer attaches.
import type { HttpResponse } from '../uws.js'

/** Bytes held before the client is paused while no consumer is attached yet. */
const HIGH_WATER_MARK = 64 * 1024

export interface BodyConsumer {
  /** `chunk` is owned by the consumer (already copied out of uWS's neutered ArrayBuffer). */
  onBodyChunk(chunk: Buffer, isLast: boolean): void
}

export class RequestBody {
  readonly res: HttpResponse
  /** GATEWAY_MAX_BODY_SIZE, or lower once a plugin capped this request's body (lowerLimit). */
  limit: number
  received = 0
  ended = false
  paused = false
  private held: Buffer[] = []
  private heldBytes = 0
  private consumer: BodyConsumer | null = null
  /** The exchange ended early: later chunks are dropped, not held. */
  private detached = false
  private readonly onTooLarge: (() => void) | null

  /** `onTooLarge` null: a body made by a plugin (ctx.replaceBody), nothing is read from the client. */
  constructor(res: HttpResponse, limit: number, onTooLarge: (() => void) | null) {
    this.res = res
    this.limit = limit
    this.onTooLarge = onTooLarge
    if (onTooLarge !== null) res.onData(this.onData)
  }

  private readonly onData = (ab: ArrayBuffer, isLast: boolean): void => {
    this.received += ab.byteLength
    if (this.received > this.limit) {
      this.overflow()
      this.onTooLarge!()
      return
    }
    if (isLast) this.ended = true
    if (this.detached) return
    // uWS neuters `ab` when this callback returns: anything kept (or queued by socket.write) is a copy.
    const chunk = Buffer.copyBytesFrom(new Uint8Array(ab))
    if (this.consumer !== null) {
      this.consumer.onBodyChunk(chunk, isLast)
      return
    }
    this.held.push(chunk)
    this.heldBytes += chunk.length
    if (this.heldBytes > HIGH_WATER_MARK && !this.paused && !isLast) this.pause()
  }

  /**
   * Lowers the limit for this request (request-size-limiting, in access). Every later chunk is checked
   * against it as it arrives, so a chunked body past it gets 413 before the rest is sent. Returns false
   * when more than `limit` bytes already arrived (the caller answers 413).
   */
  lowerLimit(limit: number): boolean {
    if (limit < this.limit) this.limit = limit
    if (this.received <= this.limit) return true
    this.overflow()
    return false
  }

  /** Past the limit: nothing more is held or delivered. */
  private overflow(): void {
    this.ended = true
    this.consumer = null
    this.held = []
  }

  /** Hands held chunks, then every later one, to `consumer`. */
  attach(consumer: BodyConsumer): void {
    this.consumer = consumer
    const held = this.held
    this.held = []
    this.heldBytes = 0
    const n = held.length
    if (n === 0 && this.ended) {
      consumer.onBodyChunk(Buffer.alloc(0), true)
      return
    }
    for (let i = 0; i < n; i++) consumer.onBodyChunk(held[i]!, this.ended && i === n - 1)
    if (this.paused && this.consumer === consumer) this.resume()
  }

  /**
   * Puts back a body a plugin read whole (ctx.readBody, e.g. key-auth's key_in_body), so the next
   * consumer (the upstream exchange) still gets every byte. `ended`: it is the whole body (a plugin's).
   */
  restore(whole: Buffer, ended = false): void {
    if (ended) this.ended = true
    this.consumer = null
    this.held = whole.length === 0 ? [] : [whole]
    this.heldBytes = whole.length
  }

  /** Stops delivering (the exchange ended early); later chunks are dropped. */
  detach(): void {
    this.detached = true
    this.consumer = null
    this.held = []
  }

  pause(): void {
    if (this.paused) return
    this.paused = true
    this.res.pause()
  }

  resume(): void {
    if (!this.paused) return
    this.paused = false
    this.res.resume()
  }
}
