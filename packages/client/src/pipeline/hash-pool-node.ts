import { Worker } from 'node:worker_threads'
import { pooledHasher } from './hash-pool.js'
import type { HashThreadPort, HashThreadReply } from './hash-pool.js'
import type { MerkleHasher } from './hashing.js'

/** Loaded from src/ (vitest) the worker is the .ts file, which Node 24 runs with types stripped. */
const workerUrl = new URL(import.meta.url.endsWith('.ts') ? './hash-worker.ts' : './hash-worker.js', import.meta.url)

/** A worker thread running hash-worker.ts; idle, it does not keep the process alive. */
function threadPort(): HashThreadPort {
  const worker = new Worker(workerUrl)
  worker.unref()
  return {
    post: (message, transfer) => {
      worker.postMessage(message, transfer)
    },
    listen: (reply, fail) => {
      worker.on('message', (message: HashThreadReply) => {
        reply(message)
      })
      worker.on('error', fail)
      worker.on('exit', (code) => {
        fail(new Error(`a hashing thread exited (code ${code})`))
      })
    },
    // A thread with work queued keeps the process alive (an await on it must not end the process); an idle one not.
    busy: (busy) => {
      if (busy) worker.ref()
      else worker.unref()
    },
    terminate: async () => {
      await worker.terminate()
    }
  }
}

/**
 * Merkle hashing on `threads` Node worker threads (the pool itself is hash-pool.ts, shared with the browser's Web
 * Workers). Same roots as `inlineHasher` (tested).
 */
export function workerHasher(options: { threads: number }): MerkleHasher {
  return pooledHasher(Array.from({ length: Math.max(1, options.threads) }, () => threadPort()))
}
