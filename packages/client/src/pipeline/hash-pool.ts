import type { MerkleHasher, ShardRootBuilder } from './hashing.js'

// The hashing pool shared by Node worker threads (hash-pool-node.ts) and Web Workers (hash-pool-browser.ts): the
// queue bound, buffer reuse and builder placement live here once, so both engines behave alike. No Node built-ins.

/**
 * Bytes queued to one thread before `append` makes its caller wait, checked before a piece is posted: a whole 4 + 2
 * stripe (6 MiB) fits, so the thread never starves, while a 30-shard stripe waits piece by piece instead of posting
 * 30 MiB of copies at once (each queued piece is a copy on both threads until it is hashed).
 */
const MAX_QUEUED_BYTES = 6 * 2 ** 20

/** Pieces a whole shard is cut into for `root`: the stripe width, so they match the encoder's returned buffers. */
const ROOT_PIECE_BYTES = 2 ** 20

/** Returned piece buffers kept for reuse, per thread: the queue's worth of 1 MiB pieces, so steady state allocates nothing. */
const MAX_SPARE_BUFFERS = 6

/** What a hashing thread answers (hash-worker.ts, hash-worker-browser.ts; docs/data-path.md, "Hashing threads"). */
export interface HashThreadReply {
  request?: number
  root?: Uint8Array
  error?: string
  ack?: number
  spare?: Uint8Array
}

/** One hashing thread as the pool sees it: a Node worker thread or a Web Worker running the same messages. */
export interface HashThreadPort {
  /** Posts a message, moving the buffers in `transfer` to the thread. */
  post: (message: object, transfer: ArrayBuffer[]) => void
  /** Called once by the pool: `reply` for each message from the thread, `fail` when the thread can no longer answer. */
  listen: (reply: (message: HashThreadReply) => void, fail: (err: Error) => void) => void
  /** Told whether work is queued (a Node thread keeps its process alive only then); engines without the notion omit it. */
  busy?: (busy: boolean) => void
  terminate: () => Promise<void>
}

/** A thread and what is queued on it. */
class Thread {
  readonly port: HashThreadPort
  queued = 0
  readonly #replies = new Map<number, { resolve: (root: Uint8Array) => void; reject: (err: Error) => void }>()
  readonly #drained: Array<() => void> = []
  readonly #spares: Uint8Array[] = []
  #failure: Error | undefined

  constructor(port: HashThreadPort) {
    this.port = port
    port.listen(
      (reply) => this.#onReply(reply),
      (err) => this.#fail(err)
    )
  }

  #onReply(reply: HashThreadReply): void {
    if (reply.spare !== undefined && this.#spares.length < MAX_SPARE_BUFFERS) this.#spares.push(reply.spare)
    if (reply.ack !== undefined) {
      this.queued -= reply.ack
      // Wake waiters in order while their pieces (at most 1 MiB each, the stripe width) would fit.
      let room = MAX_QUEUED_BYTES - this.queued
      while (room > 0 && this.#drained.length > 0) {
        this.#drained.shift()!()
        room -= ROOT_PIECE_BYTES
      }
    }
    if (reply.request !== undefined) {
      const waiter = this.#replies.get(reply.request)
      this.#replies.delete(reply.request)
      if (reply.error !== undefined) waiter?.reject(new Error(`hashing thread: ${reply.error}`))
      else waiter?.resolve(new Uint8Array(reply.root!))
    }
    this.#reportBusy()
  }

  #fail(err: Error): void {
    this.#failure ??= err
    for (const waiter of this.#replies.values()) waiter.reject(err)
    this.#replies.clear()
    for (const wake of this.#drained.splice(0)) wake()
  }

  #reportBusy(): void {
    this.port.busy?.(this.queued > 0 || this.#replies.size > 0)
  }

  #post(message: object, bytes: Uint8Array | undefined): void {
    if (bytes === undefined) {
      this.port.post(message, [])
    } else {
      // A private copy is transferred (moved, not cloned again); the caller's buffer is free once this returns.
      // A private copy, in a returned buffer of the same size if there is one. (Not Buffer#slice: that shares, and
      // transferring it would detach, Node's buffer pool.)
      const spare = this.#spares.findIndex((b) => b.length === bytes.length)
      const copy = spare >= 0 ? this.#spares.splice(spare, 1)[0]! : new Uint8Array(bytes.length)
      copy.set(bytes)
      this.queued += copy.length
      this.port.post({ ...message, bytes: copy }, [copy.buffer as ArrayBuffer])
    }
    this.#reportBusy()
  }

  async send(message: object, bytes: Uint8Array): Promise<void> {
    if (this.#failure !== undefined) throw this.#failure
    // Wait for room first (FIFO, so one builder's pieces keep their order); a piece larger than the bound goes alone.
    if (this.queued > 0 && (this.queued + bytes.length > MAX_QUEUED_BYTES || this.#drained.length > 0)) {
      await new Promise<void>((resolve) => this.#drained.push(resolve))
      if (this.#failure !== undefined) throw this.#failure
    }
    this.#post(message, bytes)
  }

  async ask(request: number, message: object, bytes?: Uint8Array): Promise<Uint8Array> {
    if (this.#failure !== undefined) throw this.#failure
    const reply = new Promise<Uint8Array>((resolve, reject) => this.#replies.set(request, { resolve, reject }))
    this.#post(message, bytes)
    return await reply
  }
}

/**
 * Merkle hashing on the threads behind `ports`: each shard's builder lives on one thread (its pieces stay in
 * order), shards are spread round robin, whole-shard roots go to the least busy thread. Same roots as
 * `inlineHasher` (tested, in Node and in Chromium).
 */
export function pooledHasher(ports: HashThreadPort[]): MerkleHasher {
  if (ports.length === 0) throw new RangeError('pooledHasher needs at least one thread')
  const threads = ports.map((port) => new Thread(port))
  let nextBuilder = 0
  let nextRequest = 0
  return {
    threads: threads.length,
    builder(): ShardRootBuilder {
      const id = nextBuilder++
      const thread = threads[id % threads.length]!
      return {
        append: async (bytes) => {
          await thread.send({ op: 'append', builder: id }, bytes)
        },
        finish: async () => {
          const request = nextRequest++
          return await thread.ask(request, { op: 'finish', builder: id, request })
        }
      }
    },
    async root(bytes) {
      // Sent as 1 MiB pieces to a builder on the least busy thread: the pieces reuse returned buffers and the queue
      // bound holds, where one shard-sized copy per call would pile up as garbage on both sides.
      const thread = threads.reduce((a, b) => (b.queued < a.queued ? b : a))
      const id = nextBuilder++
      for (let at = 0; at < bytes.length; at += ROOT_PIECE_BYTES) {
        await thread.send(
          { op: 'append', builder: id },
          bytes.subarray(at, Math.min(bytes.length, at + ROOT_PIECE_BYTES))
        )
      }
      const request = nextRequest++
      return await thread.ask(request, { op: 'finish', builder: id, request })
    },
    async close() {
      await Promise.all(threads.map(async (thread) => await thread.port.terminate()))
    }
  }
}
