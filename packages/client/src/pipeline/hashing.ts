import { MerkleRootBuilder, merkleRoot } from '@sherd/proofs'
import { platformHasher } from '#platform'

/**
 * The Merkle root of one shard, fed stripe by stripe. `append` takes its own copy (or hashes) before it returns,
 * so the caller may reuse `bytes` at once; its promise is backpressure: await it before producing much more.
 */
export interface ShardRootBuilder {
  append: (bytes: Uint8Array) => Promise<void>
  /** The root over everything appended; the builder is spent afterwards. */
  finish: () => Promise<Uint8Array>
}

/**
 * Where the pipeline's Merkle hashing runs: on the calling thread (`inlineHasher`), on Node worker threads
 * (`workerHasher` in hash-pool-node.ts), or on Web Workers (`webWorkerHasher` in hash-pool-browser.ts), both the
 * pool of hash-pool.ts speaking the messages of docs/data-path.md. Every
 * implementation gives the bytes `merkleRoot` gives. No Node built-ins here, so a browser build can implement it.
 */
export interface MerkleHasher {
  /** Threads hashing in parallel (1 for the inline hasher). */
  readonly threads: number
  /** A builder for one shard; builders of different shards may run in parallel. */
  builder: () => ShardRootBuilder
  /** The root of a whole shard; the caller must not change `bytes` until the promise settles. */
  root: (bytes: Uint8Array) => Promise<Uint8Array>
  /** Stops the threads (pending work is rejected); the inline hasher has none. */
  close: () => Promise<void>
}

/** Hashing on the calling thread: the fallback, and the reference the worker pool is tested against. */
export function inlineHasher(): MerkleHasher {
  return {
    threads: 1,
    builder() {
      const builder = new MerkleRootBuilder()
      return {
        append: async (bytes) => {
          builder.append(bytes)
        },
        finish: async () => builder.finish()
      }
    },
    root: async (bytes) => merkleRoot(bytes),
    close: async () => {}
  }
}

let shared: Promise<MerkleHasher> | undefined

/**
 * The hasher the pipeline uses when given none: `#platform` picks it (in Node a pool of one thread
 * per core besides the calling one, at most 3, on a machine with more than one core, else inline; in a browser
 * Web Workers, inline where they cannot start). Created once; its idle threads do not keep a process alive.
 */
export async function defaultHasher(): Promise<MerkleHasher> {
  shared ??= platformHasher()
  return await shared
}
