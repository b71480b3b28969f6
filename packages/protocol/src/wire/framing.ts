import * as dagCbor from '@ipld/dag-cbor'
import { decodeCanonical } from '../canonical.js'
import { MAX_VARINT_BYTES, READ_HIGH_WATER_BYTES } from './constants.js'
import {
  ExcessBytesError,
  MalformedMessageError,
  MessageTooLargeError,
  StreamClosedWhileSendingError,
  TruncatedMessageError
} from './errors.js'

/** What a libp2p stream yields: a Uint8Array or a Uint8ArrayList (which has `subarray()` and iterates its buffers). */
export type WireChunk =
  | Uint8Array
  | { subarray: () => Uint8Array; byteLength: number; [Symbol.iterator]?: () => Iterator<Uint8Array> }

function toBytes(chunk: WireChunk): Uint8Array {
  return chunk instanceof Uint8Array ? chunk : chunk.subarray()
}

/**
 * The chunk's buffers as they are. A list's `subarray()` copies its parts into one new buffer: a 1 MiB yamux frame
 * is ~16 noise messages, so flattening every frame copied (and left as garbage) every byte a get reads, which the
 * reader then copies again wherever it keeps them.
 */
function buffersOf(chunk: WireChunk): Iterable<Uint8Array> {
  if (chunk instanceof Uint8Array) return [chunk]
  return chunk[Symbol.iterator] === undefined ? [chunk.subarray()] : (chunk as Iterable<Uint8Array>)
}

export function encodeVarint(value: number): Uint8Array {
  if (!Number.isSafeInteger(value) || value < 0)
    throw new RangeError(`varint must be a non-negative safe integer, got ${value}`)
  const out: number[] = []
  let v = value
  while (v >= 0x80) {
    out.push((v % 0x80) | 0x80)
    v = Math.floor(v / 0x80)
  }
  out.push(v)
  return Uint8Array.from(out)
}

/** A frame: unsigned-varint length, then that many bytes of dag-cbor. */
export function encodeFrame(message: unknown): Uint8Array {
  const body = dagCbor.encode(message)
  const prefix = encodeVarint(body.byteLength)
  const out = new Uint8Array(prefix.byteLength + body.byteLength)
  out.set(prefix, 0)
  out.set(body, prefix.byteLength)
  return out
}

/**
 * Decodes a frame body: exactly one canonical DAG-CBOR object (`decodeCanonical`), else `MalformedMessageError`
 * naming the field.
 */
export function decodeFrameBody(body: Uint8Array): unknown {
  return decodeCanonical(body, (field, problem) => {
    throw new MalformedMessageError(field === '' ? `frame ${problem}` : `frame field ${field} ${problem}`, { field })
  })
}

/**
 * Pulls frames and raw byte runs off any async source of chunks (a libp2p stream, or `streamSource(stream)`).
 * Every read names its bound: a declared length above it throws `MessageTooLargeError` before anything is buffered.
 */
export class WireReader {
  private readonly iterator: AsyncIterator<WireChunk>
  private buffered: Uint8Array = new Uint8Array(0)
  private ended = false

  constructor(source: AsyncIterable<WireChunk>) {
    this.iterator = source[Symbol.asyncIterator]()
  }

  private async pull(): Promise<boolean> {
    if (this.ended) return false
    const next = await this.iterator.next()
    if (next.done === true) {
      this.ended = true
      return false
    }
    const bytes = toBytes(next.value)
    if (this.buffered.byteLength === 0) {
      this.buffered = bytes
    } else {
      const joined = new Uint8Array(this.buffered.byteLength + bytes.byteLength)
      joined.set(this.buffered, 0)
      joined.set(bytes, this.buffered.byteLength)
      this.buffered = joined
    }
    return true
  }

  private async readVarint(): Promise<number> {
    let value = 0
    let scale = 1
    for (let i = 0; ; i++) {
      if (i >= MAX_VARINT_BYTES) throw new MalformedMessageError(`length prefix longer than ${MAX_VARINT_BYTES} bytes`)
      while (this.buffered.byteLength <= i) {
        if (!(await this.pull())) throw new TruncatedMessageError('stream ended inside a length prefix')
      }
      const byte = this.buffered[i] as number
      value += (byte & 0x7f) * scale
      scale *= 0x80
      if ((byte & 0x80) === 0) {
        this.buffered = this.buffered.subarray(i + 1)
        return value
      }
    }
  }

  /** Reads one frame of at most `maxBytes` bytes and decodes its dag-cbor body. */
  async readFrame(maxBytes: number): Promise<unknown> {
    const length = await this.readVarint()
    if (length > maxBytes) throw new MessageTooLargeError(`frame declares ${length} bytes, the limit is ${maxBytes}`)
    while (this.buffered.byteLength < length) {
      if (!(await this.pull()))
        throw new TruncatedMessageError(`stream ended after ${this.buffered.byteLength} of ${length} frame bytes`)
    }
    const body = this.buffered.subarray(0, length)
    this.buffered = this.buffered.subarray(length)
    return decodeFrameBody(body)
  }

  /** Reads a frame after which its sender must close the stream (a request with no bytes, a final answer). */
  async readLastFrame(maxBytes: number): Promise<unknown> {
    const frame = await this.readFrame(maxBytes)
    await this.expectEnd('the frame')
    return frame
  }

  /**
   * Waits for the sender to close its side, and throws `ExcessBytesError` if anything arrives first. `after` says
   * what the stream should have ended with.
   */
  async expectEnd(after: string): Promise<void> {
    for (;;) {
      if (this.buffered.byteLength > 0) {
        throw new ExcessBytesError(
          `the sender went on after ${after} (${this.buffered.byteLength} more bytes at least); ` +
            'nothing of this request is kept: send exactly what the protocol declares, then close the stream'
        )
      }
      if (!(await this.pull())) return
    }
  }

  /**
   * Yields exactly `length` raw bytes in the chunks they arrived in, then waits for the sender to close its side.
   * Raw bytes are always the last thing their sender writes on a stream of this protocol, so more is
   * `ExcessBytesError`, fewer `TruncatedMessageError`; both are thrown before the consumer's loop ends, so a store
   * is never committed on either.
   */
  async *readBytes(length: number): AsyncGenerator<Uint8Array> {
    let remaining = length
    while (remaining > 0) {
      if (this.buffered.byteLength === 0 && !(await this.pull())) {
        throw new TruncatedMessageError(`stream ended with ${remaining} of ${length} bytes still expected`)
      }
      const take = Math.min(remaining, this.buffered.byteLength)
      const out = this.buffered.subarray(0, take)
      this.buffered = this.buffered.subarray(take)
      remaining -= take
      yield out
    }
    await this.expectEnd(`the ${length} bytes it declared`)
  }

  /**
   * Yields the next `length` raw bytes in the chunks they arrived in, and nothing after them: for a sender whose
   * bytes are consumed in parts (a shard range read piece by piece); fewer is `TruncatedMessageError`.
   */
  async *readSome(length: number): AsyncGenerator<Uint8Array> {
    let remaining = length
    while (remaining > 0) {
      if (this.buffered.byteLength === 0 && !(await this.pull())) {
        throw new TruncatedMessageError(`stream ended with ${remaining} of ${length} bytes still expected`)
      }
      const take = Math.min(remaining, this.buffered.byteLength)
      const out = this.buffered.subarray(0, take)
      this.buffered = this.buffered.subarray(take)
      remaining -= take
      yield out
    }
  }

  /**
   * Reads the next `length` bytes into one buffer, expecting more after them (`readSome`): into `into` when given
   * (exactly `length` bytes, the caller's own buffer: no allocation per read), else a new one. On a failure `into`
   * holds whatever arrived before it.
   */
  async readExact(length: number, into?: Uint8Array): Promise<Uint8Array> {
    if (into !== undefined && into.byteLength !== length)
      throw new RangeError(`cannot read ${length} bytes into a buffer of ${into.byteLength}`)
    return gather(length, this.readSome(length), into)
  }

  /** Reads exactly `length` bytes into one buffer (for small payloads such as manifests). */
  async readAll(length: number): Promise<Uint8Array> {
    return gather(length, this.readBytes(length))
  }
}

/** Copies the `length` bytes `chunks` yields into one buffer (`out`, or a new one). */
async function gather(
  length: number,
  chunks: AsyncIterable<Uint8Array>,
  out: Uint8Array = new Uint8Array(length)
): Promise<Uint8Array> {
  let offset = 0
  for await (const chunk of chunks) {
    out.set(chunk, offset)
    offset += chunk.byteLength
  }
  return out
}

/**
 * The parts of a libp2p 3 stream that `streamSource` and `sendBytes` use (kept structural so this package does not
 * depend on libp2p).
 */
export interface ByteStream {
  // biome-ignore lint/suspicious/noExplicitAny: matches libp2p's overloaded, event-typed listener methods structurally.
  addEventListener: (type: any, listener: any) => void
  // biome-ignore lint/suspicious/noExplicitAny: as above.
  removeEventListener: (type: any, listener: any) => void
  pause: () => void
  resume: () => void
  send: (data: Uint8Array) => boolean
  onDrain: (options?: { signal?: AbortSignal }) => Promise<void>
  readonly readStatus: string
}

/**
 * An async source over a libp2p stream that pauses the remote when more than `highWaterBytes` are waiting unread,
 * so a slow consumer (a disk) throttles the sender instead of buffering without limit. It yields the buffers a message
 * arrived in (a yamux frame's noise messages, ~64 KiB each) without joining them: readers copy them where they keep them.
 */
export function streamSource(stream: ByteStream, highWaterBytes = READ_HIGH_WATER_BYTES): AsyncIterable<Uint8Array> {
  return {
    [Symbol.asyncIterator]() {
      const queue: Uint8Array[] = []
      let queuedBytes = 0
      let done = false
      let failure: Error | undefined
      let wake: (() => void) | undefined
      let paused = false
      let resuming = false
      const notify = (): void => {
        const w = wake
        wake = undefined
        w?.()
      }
      const onMessage = (evt: { data: WireChunk }): void => {
        for (const bytes of buffersOf(evt.data)) {
          if (bytes.byteLength === 0) continue
          queue.push(bytes)
          queuedBytes += bytes.byteLength
        }
        if (!resuming) pauseIfFull()
        notify()
      }
      const pauseIfFull = (): void => {
        if (paused || queuedBytes <= highWaterBytes) return
        // libp2p throws StreamStateError on pausing a stream that is closing: its last messages need no brake.
        try {
          stream.pause()
          paused = true
        } catch (err) {
          if ((err as Error).name !== 'StreamStateError') throw err
        }
      }
      const onClose = (evt: { error?: Error }): void => {
        done = true
        if (evt.error != null) failure = evt.error
        notify()
      }
      const onRemoteCloseWrite = (): void => {
        done = true
        notify()
      }
      const cleanup = (): void => {
        stream.removeEventListener('message', onMessage)
        stream.removeEventListener('close', onClose)
        stream.removeEventListener('remoteCloseWrite', onRemoteCloseWrite)
      }
      stream.addEventListener('message', onMessage)
      stream.addEventListener('close', onClose)
      stream.addEventListener('remoteCloseWrite', onRemoteCloseWrite)
      if (stream.readStatus !== 'readable' && stream.readStatus !== 'paused') done = true
      return {
        async next(): Promise<IteratorResult<Uint8Array>> {
          for (;;) {
            const head = queue.shift()
            if (head !== undefined) {
              queuedBytes -= head.byteLength
              if (paused && queuedBytes <= highWaterBytes / 2) {
                paused = false
                // Resumed even after the remote finished writing: libp2p holds what arrived while paused until then.
                // A stream already closing throws StreamStateError; it has nothing more to let in.
                // libp2p's resume() hands over what arrived while paused *before* it tells yamux to send window
                // updates again, so a pause from inside that hand-over would be undone at once and the remote never
                // held back again: pause, if the hand-over filled the queue, only once resume() has returned.
                resuming = true
                try {
                  stream.resume()
                } catch (err) {
                  if ((err as Error).name !== 'StreamStateError') throw err
                } finally {
                  resuming = false
                }
                pauseIfFull()
              }
              return { done: false, value: head }
            }
            if (failure != null) {
              cleanup()
              throw failure
            }
            if (done) {
              cleanup()
              return { done: true, value: undefined }
            }
            await new Promise<void>((resolve) => {
              wake = resolve
            })
          }
        },
        async return(): Promise<IteratorResult<Uint8Array>> {
          cleanup()
          return { done: true, value: undefined }
        }
      }
    }
  }
}

/**
 * Sends bytes, waiting for the stream to drain when its send buffer is full.
 *
 * It waits for the next `'drain'` event rather than `stream.onDrain()`: in libp2p 3 (@libp2p/utils 7,
 * AbstractMessageStream) `onDrain()` creates one promise, resolves it on the first drain and never replaces it, so
 * every later `onDrain()` returns at once even while the stream needs draining. A sender looping on `onDrain()` then
 * has no backpressure after its first stall: it queues everything it has in the stream's write buffer (a provider
 * read a whole shard into memory for a paused client, and its read lease ended long before the client had the bytes).
 */
export async function sendBytes(
  stream: ByteStream,
  data: Uint8Array,
  options: { signal?: AbortSignal } = {}
): Promise<void> {
  if (stream.send(data)) return
  const { signal } = options
  signal?.throwIfAborted()
  await new Promise<void>((resolve, reject) => {
    const done = (): void => {
      stream.removeEventListener('drain', onDrain)
      stream.removeEventListener('close', onClose)
      signal?.removeEventListener('abort', onAbort)
    }
    const onDrain = (): void => {
      done()
      resolve()
    }
    const onClose = (evt: { error?: Error }): void => {
      done()
      reject(evt.error ?? new StreamClosedWhileSendingError('the stream closed before its send buffer drained'))
    }
    const onAbort = (): void => {
      done()
      reject(signal?.reason)
    }
    stream.addEventListener('drain', onDrain)
    stream.addEventListener('close', onClose)
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}
