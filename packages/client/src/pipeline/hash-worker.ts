// A hashing thread of workerHasher (hash-pool-node.ts). Self-contained on purpose: Node runs this file as it is
// (TypeScript with types stripped) when the pool is loaded from src/ under vitest, and as dist/…/hash-worker.js
// otherwise. The messages are the ones a Web Worker would answer (docs/data-path.md, "Hashing threads").
import { parentPort } from 'node:worker_threads'
import { MerkleRootBuilder } from '@sherd/proofs'

type Request = { op: 'append'; builder: number; bytes: Uint8Array } | { op: 'finish'; builder: number; request: number }

const builders = new Map<number, MerkleRootBuilder>()
/** A builder whose append failed answers its finish with that failure. */
const failures = new Map<number, string>()
const port = parentPort
if (port === null) throw new Error('hash-worker.js runs as a worker thread of workerHasher, not on its own')

port.on('message', (message: Request) => {
  // Every byte sent is acknowledged, failed or not: the pool counts queued bytes for backpressure.
  const ack = 'bytes' in message ? message.bytes.length : undefined
  try {
    if (message.op === 'append') {
      let builder = builders.get(message.builder)
      if (builder === undefined) {
        builder = new MerkleRootBuilder()
        builders.set(message.builder, builder)
      }
      builder.append(message.bytes)
      // The buffer goes back to the pool for its next piece: no allocation per piece on either side.
      port.postMessage({ ack, spare: message.bytes }, [message.bytes.buffer as ArrayBuffer])
    } else {
      const failure = failures.get(message.builder)
      failures.delete(message.builder)
      const builder = builders.get(message.builder) ?? new MerkleRootBuilder()
      builders.delete(message.builder)
      if (failure !== undefined) port.postMessage({ request: message.request, error: failure })
      else port.postMessage({ request: message.request, root: builder.finish() })
    }
  } catch (err) {
    if (message.op === 'append') {
      failures.set(message.builder, (err as Error).message)
      port.postMessage({ ack })
    } else {
      port.postMessage({ request: message.request, error: (err as Error).message })
    }
  }
})
