import { Worker } from 'node:worker_threads'
import type { MerkleHasher, ShardRootBuilder } from './hashing.js'

/**
 * Bytes queued to one thread before `append` makes its caller wait, checked before a piece is posted: a whole 4 + 2
 * stripe (6 MiB) fits, so the thread never starves, while a 30-shard stripe waits piece by piece instead of posting
 * 30 MiB of copies at once (each queued piece is a copy on both threads until it is hashed).
 */
const MAX_QUEUED_BYTES = 6 * 2 ** 20

interface Reply {
  request?: number
  root?: Uint8Array
  error?: string
  ack?: number
  spare?: Uint8Array
}

/** Pieces a whole shard is cut into for `root`: the stripe width, so they match the encoder's returned buffers. */
const ROOT_PIECE_BYTES = 2 ** 20

/** Returned piece buffers kept for reuse, per thread: the queue's worth of 1 MiB pieces, so steady state allocates nothing. */
const MAX_SPARE_BUFFERS = 6

/** Loaded from src/ (vitest) the worker is the .ts file, which Node 24 runs with types stripped. */
const workerUrl = new URL(import.meta.url.endsWith('.ts') ? './hash-worker.ts' : './hash-worker.js', import.meta.url)

/** A thread and what is queued on it. */
class Thread {
  readonly worker: Worker
  queued = 0
  readonly #replies = new Map<number, { resolve: (root: Uint8Array) => void; reject: (err: Error) => void }>()
  readonly #drained: Array<() => void> = []
  readonly #spares: Uint8Array[] = []
  #failure: Error | undefined

  constructor() {
    this.worker = new Worker(workerUrl)
    this.worker.unref()
    this.worker.on('message', (reply: Reply) => this.#onReply(reply))
    this.worker.on('error', (err) => this.#fail(err))
    this.worker.on('exit', (code) => this.#fail(new Error(`a hashing thread exited (code ${code})`)))
  }

  #onReply(reply: Reply): void {
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
    this.#keepAliveWhileBusy()
  }

  #fail(err: Error): void {
    this.#failure ??= err
    for (const waiter of this.#replies.values()) waiter.reject(err)
    this.#replies.clear()
    for (const wake of this.#drained.splice(0)) wake()
  }

  /** A thread with work queued keeps the process alive (an await on it must not end the process); an idle one not. */
  #keepAliveWhileBusy(): void {
    if (this.queued > 0 || this.#replies.size > 0) this.worker.ref()
    else this.worker.unref()
  }

  #post(message: object, bytes: Uint8Array | undefined): void {
    if (bytes === undefined) {
      this.worker.postMessage(message)
    } else {
      // A private copy is transferred (moved, not cloned again); the caller's buffer is free once this returns.
      // A private copy, in a returned buffer of the same size if there is one. (Not Buffer#slice: that shares, and
      // transferring it would detach, Node's buffer pool.)
      const spare = this.#spares.findIndex((b) => b.length === bytes.length)
      const copy = spare >= 0 ? this.#spares.splice(spare, 1)[0]! : new Uint8Array(bytes.length)
      copy.set(bytes)
      this.queued += copy.length
      this.worker.postMessage({ ...message, bytes: copy }, [copy.buffer as ArrayBuffer])
    }
    this.#keepAliveWhileBusy()
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
 * Merkle hashing on `threads` worker threads: each shard's builder lives on one thread (its pieces stay in
 * order), shards are spread round robin, whole-shard roots go to the least busy thread. Same roots as
 * `inlineHasher` (tested).
 */
export function workerHasher(options: { threads: number }): MerkleHasher {
  const threads = Array.from({ length: Math.max(1, options.threads) }, () => new Thread())
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
      await Promise.all(threads.map(async (thread) => await thread.worker.terminate()))
    }
  }
}
