import { HASH_WORKER_SOURCE } from '../generated/hash-worker-source.js'
import { pooledHasher } from './hash-pool.js'
import type { HashThreadPort, HashThreadReply } from './hash-pool.js'
import type { MerkleHasher } from './hashing.js'

/**
 * How long a worker may take to load and say it is ready before the pool gives up on workers. Generous, for a busy
 * machine: a refused or broken worker fails at once (an exception or an error event), so only a hung one waits.
 */
const READY_TIMEOUT_MS = 30_000

/** Why a page hashes on its own thread: no Worker, or workers that would not start (docs/browser.md). */
export class HashWorkersUnavailableError extends Error {
  override name = 'HashWorkersUnavailableError'
}

/** Resolves once `worker` has loaded and compiled its kernel; rejects if it cannot, fails to load or stays silent. */
async function started(worker: Worker): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const done = (err?: Error): void => {
      clearTimeout(timer)
      worker.removeEventListener('message', onMessage)
      worker.removeEventListener('error', onError)
      if (err === undefined) resolve()
      else reject(err)
    }
    const onMessage = (event: MessageEvent<{ ready?: boolean; error?: string }>): void => {
      if (event.data.ready === true) done()
      else if (event.data.ready === false)
        done(new HashWorkersUnavailableError(`a hashing worker cannot hash: ${event.data.error ?? 'no reason given'}`))
    }
    const onError = (event: ErrorEvent): void => {
      event.preventDefault()
      done(
        new HashWorkersUnavailableError(
          `a hashing worker did not start (${event.message || 'refused or failed to load'}): ` +
            "if the page sets a Content-Security-Policy, allow workers from blob: (worker-src 'self' blob:)"
        )
      )
    }
    const timer = setTimeout(() => {
      done(new HashWorkersUnavailableError(`a hashing worker did not start within ${READY_TIMEOUT_MS / 1000} s`))
    }, READY_TIMEOUT_MS)
    worker.addEventListener('message', onMessage)
    worker.addEventListener('error', onError)
  })
}

function workerPort(worker: Worker): HashThreadPort {
  return {
    post: (message, transfer) => {
      worker.postMessage(message, transfer)
    },
    listen: (reply, fail) => {
      worker.addEventListener('message', (event: MessageEvent<HashThreadReply>) => {
        reply(event.data)
      })
      worker.addEventListener('error', (event) => {
        event.preventDefault()
        fail(new Error(`a hashing worker failed: ${event.message}`))
      })
      worker.addEventListener('messageerror', () => {
        fail(new Error('a hashing worker sent a message this page could not read'))
      })
    },
    terminate: async () => {
      worker.terminate()
    }
  }
}

/**
 * Merkle hashing on `threads` Web Workers (the pool of hash-pool.ts, as Node's worker threads), started from a Blob
 * URL of the inlined worker script, so no bundler has to emit or serve a worker file. Resolves once every worker
 * has loaded; rejects with `HashWorkersUnavailableError` where there is no `Worker` or a worker will not start
 * (a Content-Security-Policy without `blob:` for workers), and then no worker is left running.
 */
export async function webWorkerHasher(options: { threads: number }): Promise<MerkleHasher> {
  if (typeof Worker === 'undefined' || typeof Blob === 'undefined' || typeof URL.createObjectURL !== 'function') {
    throw new HashWorkersUnavailableError('this engine has no Web Worker')
  }
  const url = URL.createObjectURL(new Blob([HASH_WORKER_SOURCE], { type: 'text/javascript' }))
  const workers: Worker[] = []
  try {
    for (let i = 0; i < Math.max(1, options.threads); i++) workers.push(new Worker(url, { name: `sherd-hash-${i}` }))
    await Promise.all(workers.map(started))
  } catch (err) {
    for (const worker of workers) worker.terminate()
    throw err instanceof HashWorkersUnavailableError
      ? err
      : new HashWorkersUnavailableError(
          `a hashing worker did not start (${(err as Error).message}): if the page sets a Content-Security-Policy, ` +
            "allow workers from blob: (worker-src 'self' blob:)"
        )
  } finally {
    // Revoked only once every worker has loaded from it (or failed): the URL is needed until then.
    URL.revokeObjectURL(url)
  }
  return pooledHasher(workers.map(workerPort))
}
