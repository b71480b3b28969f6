// The browser's hashing worker script (what the page starts from a Blob URL) checked in Node: the generated script
// runs on a worker thread behind a `self` of the Web Worker API, under the same pool the page uses. Chromium runs it
// for real in test/browser.test.ts; this catches a stale or broken script without a browser.
import { randomBytes } from 'node:crypto'
import { Worker } from 'node:worker_threads'
import { afterAll, describe, expect, it } from 'vitest'
import { merkleRoot } from '@sherd/proofs'
import { HASH_WORKER_SOURCE } from '../src/generated/hash-worker-source.js'
import { pooledHasher } from '../src/pipeline/hash-pool.js'
import type { HashThreadPort, HashThreadReply } from '../src/pipeline/hash-pool.js'
import { inlineHasher } from '../src/pipeline/hashing.js'
import type { MerkleHasher } from '../src/pipeline/hashing.js'

/** `self` as a dedicated Web Worker has it, over the thread's parentPort: message events carry `data`. */
const WEB_WORKER_SELF = `
const { parentPort } = require('node:worker_threads')
globalThis.self = {
  postMessage: (message, options) => parentPort.postMessage(message, options?.transfer ?? []),
  addEventListener: (type, listener) => parentPort.on(type, (data) => listener({ data }))
}
`

/** Starts the generated script on a thread; resolves with its port once it has said it is ready. */
async function startScript(): Promise<{ port: HashThreadPort; first: unknown }> {
  const worker = new Worker(WEB_WORKER_SELF + HASH_WORKER_SOURCE, { eval: true })
  const first = await new Promise<unknown>((resolve, reject) => {
    worker.once('message', resolve)
    worker.once('error', reject)
  })
  const port: HashThreadPort = {
    post: (message, transfer) => {
      worker.postMessage(message, transfer)
    },
    listen: (reply, fail) => {
      worker.on('message', (message: HashThreadReply) => {
        reply(message)
      })
      worker.on('error', fail)
    },
    terminate: async () => {
      await worker.terminate()
    }
  }
  return { port, first }
}

const hashers: MerkleHasher[] = []
afterAll(async () => {
  await Promise.all(hashers.map(async (h) => await h.close()))
})

describe('the browser hashing worker script', () => {
  it('says it is ready, then gives the roots of the inline hasher for builders and whole shards', async () => {
    const started = await Promise.all([startScript(), startScript()])
    for (const { first } of started) expect(first).toEqual({ ready: true })
    const pool = pooledHasher(started.map((s) => s.port))
    hashers.push(pool)
    expect(pool.threads).toBe(2)
    const inline = inlineHasher()
    for (const size of [0, 1, 64, 65_535, 65_536, 65_537, 3 * 2 ** 20 + 1]) {
      const data = new Uint8Array(randomBytes(size))
      const [a, b] = [pool.builder(), inline.builder()]
      for (let at = 0; at < size; at += 400_000) {
        await Promise.all([a.append(data.subarray(at, at + 400_000)), b.append(data.subarray(at, at + 400_000))])
      }
      const [ra, rb] = await Promise.all([a.finish(), b.finish()])
      expect(Buffer.from(ra).equals(rb), `size ${size}`).toBe(true)
      expect(Buffer.from(await pool.root(data)).equals(merkleRoot(data)), `size ${size}`).toBe(true)
    }
  })

  it('a wide stripe waits for room piece by piece on one worker and keeps the roots', async () => {
    const { port } = await startScript()
    const pool = pooledHasher([port])
    hashers.push(pool)
    const pieces = Array.from({ length: 2 }, () =>
      Array.from({ length: 30 }, () => new Uint8Array(randomBytes(2 ** 20)))
    )
    const builders = Array.from({ length: 30 }, () => pool.builder())
    for (const stripe of pieces)
      await Promise.all(
        builders.map(async (b, i) => {
          await b.append(stripe[i]!)
        })
      )
    const roots = await Promise.all(builders.map(async (b) => await b.finish()))
    roots.forEach((root, i) => {
      expect(Buffer.from(root).equals(merkleRoot(Buffer.concat(pieces.map((s) => s[i]!))))).toBe(true)
    })
  })

  it('a pool of no threads is refused', () => {
    expect(() => pooledHasher([])).toThrow(RangeError)
  })
})
