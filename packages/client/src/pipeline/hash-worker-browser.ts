// A Web Worker of the browser's hashing pool (hash-pool-browser.ts): the messages and answers of hash-worker.ts,
// the Node thread, on `self` instead of `parentPort`. It is not imported by the SDK: `npm run build:assets`
// (scripts/build-worker.mjs) bundles it with @sherd/proofs into one classic script, inlined as a string in
// src/generated/hash-worker-source.ts, which the pool starts from a Blob URL, so an app's bundler never sees it.
import { MerkleRootBuilder } from '@sherd/proofs'

type Request = { op: 'append'; builder: number; bytes: Uint8Array } | { op: 'finish'; builder: number; request: number }

const builders = new Map<number, MerkleRootBuilder>()
/** A builder whose append failed answers its finish with that failure. */
const failures = new Map<number, string>()

function answer(message: object, transfer: ArrayBuffer[] = []): void {
  self.postMessage(message, { transfer })
}

self.addEventListener('message', (event: MessageEvent<Request>) => {
  const message = event.data
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
      answer({ ack, spare: message.bytes }, [message.bytes.buffer as ArrayBuffer])
    } else {
      const failure = failures.get(message.builder)
      failures.delete(message.builder)
      const builder = builders.get(message.builder) ?? new MerkleRootBuilder()
      builders.delete(message.builder)
      if (failure !== undefined) answer({ request: message.request, error: failure })
      else answer({ request: message.request, root: builder.finish() })
    }
  } catch (err) {
    if (message.op === 'append') {
      failures.set(message.builder, (err as Error).message)
      answer({ ack })
    } else {
      answer({ request: message.request, error: (err as Error).message })
    }
  }
})

// The pool waits for this before it hands out work. A builder made here compiles the WASM kernel, so a worker that
// cannot (a policy refusing WebAssembly) says so now; one the page's Content-Security-Policy refuses never runs at
// all. Either way the pool falls back to hashing inline.
try {
  void new MerkleRootBuilder()
  answer({ ready: true })
} catch (err) {
  answer({ ready: false, error: (err as Error).message })
}
