/**
 * The far end of the raw-stream baseline, run as its own process (as a provider is): a libp2p host built by
 * @sherd/node's `createHost` (the provider's own transport, encryption, muxer and buffer limits) on 127.0.0.1
 * with two protocols: `sink` reads everything and answers with the byte count; `source` reads an 8-byte length
 * and sends that many bytes in 1 MiB writes. Prints its multiaddr as one JSON line on stdout, then serves until
 * stdin closes.
 */
import { accountBuffersInHeapLimit } from '@sherd/protocol/heap-node'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createHost, initDataDir } from '@sherd/node'
import type { Stream } from '@libp2p/interface'
import { sendBytes, SINK_PROTOCOL, SOURCE_PROTOCOL, WRITE_BYTES } from './raw-stream.js'

// The serving end runs V8 as sherd-node does (@sherd/protocol/heap-node); the reading end is the bench process.
accountBuffersInHeapLimit()

/** Largest transfer a peer accepts: bounds what the 8-byte length can ask for. */
const MAX_TRANSFER_BYTES = 2 ** 34

function u64(n: number): Uint8Array {
  const b = new Uint8Array(8)
  new DataView(b.buffer).setBigUint64(0, BigInt(n))
  return b
}

async function sink(stream: Stream): Promise<void> {
  let count = 0
  for await (const chunk of stream) count += chunk.byteLength
  stream.send(u64(count))
  await stream.close()
}

async function source(stream: Stream, block: Uint8Array): Promise<void> {
  const header: Uint8Array[] = []
  let have = 0
  for await (const chunk of stream) {
    header.push(chunk.subarray())
    have += chunk.byteLength
    if (have >= 8) break
  }
  const bytes = Buffer.concat(header)
  if (bytes.length < 8) {
    stream.abort(new Error('short length header'))
    return
  }
  const total = Number(bytes.readBigUInt64BE(0))
  if (total > MAX_TRANSFER_BYTES) {
    stream.abort(new Error(`refusing ${total} bytes`))
    return
  }
  await sendBytes(stream, total, block)
  await stream.close()
}

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'sherd-bench-peer-'))
  const { peerKey } = await initDataDir(dir)
  const host = await createHost({ privateKey: peerKey, listen: ['/ip4/127.0.0.1/tcp/0'] })
  const block = new Uint8Array(WRITE_BYTES).fill(0xa5)
  const fail = (stream: Stream) => (err: unknown) => {
    stream.abort(err instanceof Error ? err : new Error(String(err)))
  }
  await host.handle(SINK_PROTOCOL, (stream) => {
    sink(stream).catch(fail(stream))
  })
  await host.handle(SOURCE_PROTOCOL, (stream) => {
    source(stream, block).catch(fail(stream))
  })
  process.stdout.write(JSON.stringify({ multiaddr: host.getMultiaddrs()[0]!.toString() }) + '\n')
  process.stdin.resume()
  process.stdin.on('end', () => {
    void (async () => {
      try {
        await host.stop()
      } finally {
        await rm(dir, { recursive: true, force: true })
      }
      process.exit(0)
    })()
  })
}

await main()
