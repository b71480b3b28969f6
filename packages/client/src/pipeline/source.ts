import type { Readable } from 'node:stream'
import { InvalidOptionError } from './errors.js'

/** What encodeFile reads: a Node Readable (no encoding set), a web ReadableStream or any async iterable of bytes. */
export type FileSource = Readable | ReadableStream<Uint8Array> | AsyncIterable<Uint8Array>

async function* fromWebStream(stream: ReadableStream<Uint8Array>): AsyncGenerator<Uint8Array> {
  const reader = stream.getReader()
  let finished = false
  try {
    while (true) {
      const { done, value } = await reader.read()
      if (done) {
        finished = true
        return
      }
      yield value
    }
  } finally {
    // Stopped early (abort, error downstream): tell the producer so it stops reading the file.
    if (!finished) await reader.cancel().catch(() => {})
    reader.releaseLock()
  }
}

/**
 * An async generator as a web ReadableStream, pulled (one chunk per read, so the reader's pace is the get's).
 * Hand-made because `ReadableStream.from` does not exist in Chromium; cancelling returns the generator.
 */
export function readableStreamOf(chunks: AsyncGenerator<Uint8Array, void, undefined>): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        try {
          const { done, value } = await chunks.next()
          if (done === true) controller.close()
          else controller.enqueue(value)
        } catch (err) {
          controller.error(err)
        }
      },
      async cancel() {
        await chunks.return(undefined)
      }
    },
    { highWaterMark: 0 }
  )
}

/** Any FileSource as an async iterable of chunks (a web stream is locked only once the result is iterated). */
export function chunksOf(source: FileSource): AsyncIterable<unknown> {
  if (source !== null && typeof source === 'object') {
    if (typeof (source as ReadableStream).getReader === 'function') {
      return { [Symbol.asyncIterator]: () => fromWebStream(source as ReadableStream<Uint8Array>) }
    }
    if (typeof (source as AsyncIterable<unknown>)[Symbol.asyncIterator] === 'function')
      return source as AsyncIterable<unknown>
  }
  throw new InvalidOptionError(
    'the source must be a Node Readable, a web ReadableStream or an AsyncIterable<Uint8Array>'
  )
}

/**
 * Cuts a stream of chunks into segments of exactly `segmentSize` bytes (the last may be shorter; an empty
 * stream yields none). Holds at most one segment plus one chunk. A yielded segment is valid only until the next
 * one is asked for: full segments share one buffer, so a large file leaves no segment-sized garbage behind. A
 * segment that lies inside one source chunk is a view of it instead (bytes put from memory: no copy at all).
 */
export async function* segmentsOf(
  source: FileSource,
  segmentSize: number,
  signal?: AbortSignal
): AsyncGenerator<Uint8Array> {
  let pending: Uint8Array[] = []
  let pendingBytes = 0
  let full: Uint8Array | undefined
  const take = (): Uint8Array => {
    const size = Math.min(segmentSize, pendingBytes)
    const head = pending[0]!
    if (head.length >= size) {
      // The segment lies in one source chunk (a put of bytes in memory is one chunk): a view, not a copy. It stays
      // valid for longer than the contract promises, and the chunk is held anyway until its last segment is taken.
      pending[0] = head.subarray(size)
      if (pending[0].length === 0) pending.shift()
      pendingBytes -= size
      return head.subarray(0, size)
    }
    // biome-ignore lint/suspicious/noAssignInExpressions: the one shared full-segment buffer is made on first use.
    const segment = size === segmentSize ? (full ??= new Uint8Array(segmentSize)) : new Uint8Array(size)
    let filled = 0
    const rest: Uint8Array[] = []
    for (const chunk of pending) {
      if (filled === size) {
        rest.push(chunk)
        continue
      }
      const n = Math.min(chunk.length, size - filled)
      segment.set(n === chunk.length ? chunk : chunk.subarray(0, n), filled)
      filled += n
      if (n < chunk.length) rest.push(chunk.subarray(n))
    }
    pending = rest
    pendingBytes -= size
    return segment
  }
  for await (const chunk of chunksOf(source)) {
    signal?.throwIfAborted()
    if (!(chunk instanceof Uint8Array)) {
      throw new InvalidOptionError(
        `the source yielded a ${typeof chunk} chunk; it must yield Uint8Array (do not set an ` +
          'encoding on a Node stream)'
      )
    }
    if (chunk.length === 0) continue
    pending.push(chunk)
    pendingBytes += chunk.length
    while (pendingBytes >= segmentSize) yield take()
  }
  signal?.throwIfAborted()
  if (pendingBytes > 0) yield take()
}

/**
 * Reads a FileSource in pieces of the sizes the caller asks for, without holding more than one source chunk
 * beyond them. Used by the stripe encoder, which needs exactly one stripe's plaintext at a time.
 */
export class ByteReader {
  readonly #iterator: AsyncIterator<unknown>
  readonly #signal: AbortSignal | undefined
  #chunk: Uint8Array = new Uint8Array(0)
  #position = 0
  #ended = false
  /** Bytes handed out so far. */
  consumed = 0

  constructor(source: FileSource, signal?: AbortSignal) {
    this.#iterator = chunksOf(source)[Symbol.asyncIterator]()
    this.#signal = signal
  }

  /** Makes the current chunk non-empty unless the source has ended; false at the end. */
  async #fill(): Promise<boolean> {
    while (this.#position >= this.#chunk.length) {
      if (this.#ended) return false
      this.#signal?.throwIfAborted()
      const next = await this.#iterator.next()
      this.#signal?.throwIfAborted()
      if (next.done === true) {
        this.#ended = true
        return false
      }
      const chunk: unknown = next.value
      if (!(chunk instanceof Uint8Array)) {
        throw new InvalidOptionError(
          `the source yielded a ${typeof chunk} chunk; it must yield Uint8Array (do not set an ` +
            'encoding on a Node stream)'
        )
      }
      this.#chunk = chunk
      this.#position = 0
    }
    return true
  }

  /**
   * The next `length` bytes, fewer only where the source ends. A view into the source's chunk when one chunk holds
   * them all, else copied into `scratch` (≥ length bytes); valid until the next call either way.
   */
  async read(length: number, scratch: Uint8Array): Promise<Uint8Array> {
    if (length === 0 || !(await this.#fill())) return scratch.subarray(0, 0)
    if (this.#chunk.length - this.#position >= length) {
      const view = this.#chunk.subarray(this.#position, this.#position + length)
      this.#position += length
      this.consumed += length
      return view
    }
    let filled = 0
    while (filled < length && (await this.#fill())) {
      const n = Math.min(length - filled, this.#chunk.length - this.#position)
      scratch.set(this.#chunk.subarray(this.#position, this.#position + n), filled)
      this.#position += n
      filled += n
    }
    this.consumed += filled
    return scratch.subarray(0, filled)
  }

  /** Whether the source has no more bytes (waits for the next chunk to know). */
  async atEnd(): Promise<boolean> {
    return !(await this.#fill())
  }

  /** Stops reading early: tells the source (a web stream is cancelled, a Node stream destroyed). */
  async close(): Promise<void> {
    if (!this.#ended) {
      this.#ended = true
      await this.#iterator.return?.()
    }
  }
}
