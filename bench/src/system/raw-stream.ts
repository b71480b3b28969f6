/**
 * The system suite's network baseline: the raw throughput of one libp2p stream between a host configured like
 * the client's (`createClientHost`) in this process and one configured like a provider's (`createHost`, in a
 * child process: stream-peer.ts) on 127.0.0.1. No framing, hashing, storage or chain: just bytes, 1 MiB per
 * write, both directions (upload = put's direction, download = get's).
 */
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { multiaddr } from '@multiformats/multiaddr'
import { createClientHost } from '@sherd/client'
import type { ClientHost } from '@sherd/client'
import type { Stream } from '@libp2p/interface'
import { sendBytes as sendWithBackpressure } from '@sherd/protocol'
import type { ByteStream } from '@sherd/protocol'

export const SINK_PROTOCOL = '/sherd-bench/sink/1.0.0'
export const SOURCE_PROTOCOL = '/sherd-bench/source/1.0.0'
/** The write size of the provider's fetch path (FETCH_WRITE_BYTES) and of the client's uploads. */
export const WRITE_BYTES = 2 ** 20
/** Time allowed for the peer process to start and print its address. */
const PEER_START_TIMEOUT_MS = 30_000

/**
 * Sends `total` bytes of `block` (repeated) with the same backpressure as the provider's and the client's
 * transfers (@sherd/protocol's sendBytes), so the baseline moves bytes the way the network does.
 */
export async function sendBytes(stream: Stream, total: number, block: Uint8Array): Promise<void> {
  for (let sent = 0; sent < total; ) {
    const n = Math.min(block.length, total - sent)
    await sendWithBackpressure(stream as unknown as ByteStream, n === block.length ? block : block.subarray(0, n))
    sent += n
  }
}

export interface RawStreamPair {
  /** Sends `bytes` to the peer; resolves when the peer has counted them all. */
  upload: (bytes: number) => Promise<void>
  /** Asks the peer for `bytes`; resolves when all have arrived. */
  download: (bytes: number) => Promise<void>
  stop: () => Promise<void>
}

async function readAll(stream: Stream): Promise<Uint8Array[]> {
  const chunks: Uint8Array[] = []
  for await (const chunk of stream) chunks.push(chunk.subarray())
  return chunks
}

/** Starts the peer process and a client-configured host connected to it. */
export async function startRawStreamPair(): Promise<RawStreamPair> {
  const script = fileURLToPath(new URL('./stream-peer.js', import.meta.url))
  const child: ChildProcess = spawn(process.execPath, [script], { stdio: ['pipe', 'pipe', 'inherit'] })
  let host: ClientHost | undefined
  const stop = async (): Promise<void> => {
    await host?.stop()
    if (child.exitCode === null && child.signalCode === null) {
      const exited = once(child, 'exit')
      child.stdin?.end()
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000)
      await exited
      clearTimeout(timer)
    }
  }
  try {
    const lines = createInterface({ input: child.stdout! })
    const first = await Promise.race([
      once(lines, 'line').then(([line]) => line as string),
      once(child, 'exit').then(([code]) => {
        throw new Error(`stream peer exited with ${String(code)} before listening`)
      }),
      new Promise<never>((_, reject) =>
        setTimeout(() => reject(new Error('stream peer did not start in time')), PEER_START_TIMEOUT_MS).unref()
      )
    ])
    const address = multiaddr((JSON.parse(first) as { multiaddr: string }).multiaddr)
    host = await createClientHost()
    await host.start()
    const h = host
    await h.dial(address)
    const block = new Uint8Array(WRITE_BYTES).fill(0x5a)
    return {
      async upload(bytes) {
        const stream = await h.dialProtocol(address, SINK_PROTOCOL)
        const reply = readAll(stream)
        await sendBytes(stream, bytes, block)
        await stream.close()
        const counted = Buffer.concat(await reply)
        if (counted.length !== 8 || Number(counted.readBigUInt64BE(0)) !== bytes)
          throw new Error(`the peer counted ${counted.toString('hex')} of ${bytes} bytes`)
      },
      async download(bytes) {
        const stream = await h.dialProtocol(address, SOURCE_PROTOCOL)
        const header = new Uint8Array(8)
        new DataView(header.buffer).setBigUint64(0, BigInt(bytes))
        let received = 0
        const reading = (async () => {
          for await (const chunk of stream) received += chunk.byteLength
        })()
        stream.send(header)
        await stream.close()
        await reading
        if (received !== bytes) throw new Error(`received ${received} of ${bytes} bytes`)
      },
      stop
    }
  } catch (err) {
    await stop()
    throw err
  }
}
