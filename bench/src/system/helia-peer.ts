/**
 * One Helia node of the system suite's peer comparison, in a process of its own (as each Sherd provider is):
 * `helia` with `@helia/unixfs`, bitswap as the only block broker, no routers beyond libp2p's own (no DHT, no
 * delegated HTTP routing, no gateways: nothing leaves 127.0.0.1), a disk blockstore (`blockstore-fs`) in the
 * directory it is given, and the libp2p stack of the Sherd hosts: TCP, noise, yamux with the same buffer limits
 * (`--role adder` takes the provider's, `--role reader` the client's) and the same 2 MiB initial stream window, identify.
 *
 * Speaks JSON lines: one request per line on stdin, one reply per line on stdout (`{ id, ok: true, ... }` or
 * `{ id, ok: false, error }`); the first line it prints is `{ multiaddr, peerId }` (the adder listens on
 * 127.0.0.1, a reader only dials). When stdin closes (the suite stopping it, or the suite's process gone) it stops
 * its node and removes its directory.
 *
 *   node bench/dist/system/helia-peer.js '{"role":"adder","dir":"/tmp/..."}'
 */
import { accountBuffersInHeapLimit } from '@sherd/protocol/heap-node'
import { createHash, randomBytes } from 'node:crypto'
import { rm } from 'node:fs/promises'
import { createInterface } from 'node:readline'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { withBitswap } from '@helia/bitswap'
import { withLibp2pLight } from '@helia/libp2p'
import { unixfs } from '@helia/unixfs'
import { identify } from '@libp2p/identify'
import { tcp } from '@libp2p/tcp'
import type { PeerId } from '@libp2p/interface'
import { multiaddr } from '@multiformats/multiaddr'
import { FsBlockstore } from 'blockstore-fs'
import { MemoryDatastore } from 'datastore-core'
import { createHeliaLight } from 'helia'
import { CID } from 'multiformats/cid'
import {
  MAX_EARLY_STREAMS as CLIENT_MAX_EARLY_STREAMS,
  MAX_READ_BUFFER_BYTES as CLIENT_MAX_READ_BUFFER_BYTES,
  MAX_STREAM_WINDOW_BYTES as CLIENT_MAX_STREAM_WINDOW_BYTES
} from '@sherd/client'
import {
  MAX_EARLY_STREAMS as NODE_MAX_EARLY_STREAMS,
  MAX_READ_BUFFER_BYTES as NODE_MAX_READ_BUFFER_BYTES,
  YAMUX_MAX_STREAM_WINDOW_BYTES as NODE_MAX_STREAM_WINDOW_BYTES
} from '@sherd/node'
import { YAMUX_INITIAL_STREAM_WINDOW_BYTES } from '@sherd/protocol'
import { incompressibleBytes } from '../incompressible.js'

export type HeliaRole = 'adder' | 'reader'

export interface HeliaPeerArgs {
  role: HeliaRole
  dir: string
}

/** Requests, by `op`. Every reply carries `cpuMs`: this process's CPU time (user + system) for the request. */
export type HeliaRequest =
  | { id: number; op: 'connect'; multiaddr: string; peerId: string }
  /** New content for the next `add`: `bytes` pseudo-random bytes under a fresh key; replies with their SHA-256. */
  | { id: number; op: 'prepare'; bytes: number }
  /** Adds the prepared content with unixfs; replies with its CID. */
  | { id: number; op: 'add' }
  /** Reads `cid` with unixfs (bitswap fetches what the blockstore lacks); replies with the byte count and SHA-256. */
  | { id: number; op: 'get'; cid: string }
  /** Deletes every block (Helia's garbage collection; nothing is pinned), so the next round starts empty. */
  | { id: number; op: 'clear' }
  /** This process's CPU time so far, to charge a serving node for what it did during others' requests. */
  | { id: number; op: 'cpu' }

export interface HeliaReply {
  id: number
  ok: boolean
  error?: string
  cpuMs: number
  sha256?: string
  bytes?: number
  cid?: string
  blocks?: number
  totalCpuMs?: number
}

const BITSWAP_PROTOCOL = '/ipfs/bitswap/1.2.0'
/** Time for a reader to connect to the adder and learn (identify) that it speaks bitswap. */
const CONNECT_TIMEOUT_MS = 30_000

function cpuMs(): number {
  const used = process.cpuUsage()
  return (used.user + used.system) / 1000
}

async function main(): Promise<void> {
  const args = JSON.parse(process.argv[2] ?? '{}') as HeliaPeerArgs
  if (args.role !== 'adder' && args.role !== 'reader')
    throw new Error(`role must be adder or reader, not ${String(args.role)}`)
  // V8 as the Sherd process on the same side runs it (@sherd/protocol/heap-node): the adder serves as sherd-node
  // does, a reader reads as the `sherd` client does.
  accountBuffersInHeapLimit({ byDefault: args.role === 'adder' })
  // The same limits as the Sherd host on the same side: a provider serves, a client reads.
  const limits =
    args.role === 'adder'
      ? {
          maxEarlyStreams: NODE_MAX_EARLY_STREAMS,
          maxReadBufferLength: NODE_MAX_READ_BUFFER_BYTES,
          maxStreamWindowSize: NODE_MAX_STREAM_WINDOW_BYTES
        }
      : {
          maxEarlyStreams: CLIENT_MAX_EARLY_STREAMS,
          maxReadBufferLength: CLIENT_MAX_READ_BUFFER_BYTES,
          maxStreamWindowSize: CLIENT_MAX_STREAM_WINDOW_BYTES
        }
  const blockstore = new FsBlockstore(args.dir)
  const helia = withBitswap(
    withLibp2pLight(createHeliaLight({ blockstore, datastore: new MemoryDatastore() }), {
      addresses: { listen: args.role === 'adder' ? ['/ip4/127.0.0.1/tcp/0'] : [] },
      transports: [tcp()],
      connectionEncrypters: [noise()],
      streamMuxers: [
        yamux({
          maxEarlyStreams: limits.maxEarlyStreams,
          streamOptions: {
            initialStreamWindowSize: YAMUX_INITIAL_STREAM_WINDOW_BYTES,
            maxReadBufferLength: limits.maxReadBufferLength,
            maxStreamWindowSize: limits.maxStreamWindowSize
          }
        })
      ],
      services: { identify: identify() }
    })
  )
  await helia.start()
  const fs = unixfs(helia)
  let prepared: { bytes: number; key: Uint8Array } | undefined

  const connect = async (address: string, peerIdText: string): Promise<void> => {
    const speaksBitswap = async (peer: PeerId): Promise<boolean> => {
      try {
        return (await helia.libp2p.peerStore.get(peer)).protocols.includes(BITSWAP_PROTOCOL)
      } catch {
        return false
      }
    }
    const connection = await helia.libp2p.dial(multiaddr(address))
    const peer = connection.remotePeer
    if (peer.toString() !== peerIdText)
      throw new Error(`dialled ${address} and reached ${peer.toString()}, not ${peerIdText}`)
    // Bitswap sends a want list only to peers identify has shown to speak it.
    const deadline = Date.now() + CONNECT_TIMEOUT_MS
    while (!(await speaksBitswap(peer))) {
      if (Date.now() > deadline)
        throw new Error(`${peerIdText} did not identify as a bitswap peer within ${CONNECT_TIMEOUT_MS} ms`)
      await new Promise<void>((resolve) => {
        const done = (): void => {
          clearTimeout(timer)
          helia.libp2p.removeEventListener('peer:identify', done)
          resolve()
        }
        const timer = setTimeout(done, 200)
        helia.libp2p.addEventListener('peer:identify', done)
      })
    }
  }

  const handle = async (request: HeliaRequest): Promise<Omit<HeliaReply, 'id' | 'ok' | 'cpuMs'>> => {
    switch (request.op) {
      case 'connect':
        await connect(request.multiaddr, request.peerId)
        return {}
      case 'prepare': {
        if (!Number.isSafeInteger(request.bytes) || request.bytes < 0)
          throw new Error(`prepare needs a byte count, not ${String(request.bytes)}`)
        prepared = { bytes: request.bytes, key: randomBytes(16) }
        const hash = createHash('sha256')
        for await (const _ of incompressibleBytes(prepared.bytes, hash, prepared.key)) {
          /* hashing is the point */
        }
        return { sha256: hash.digest('hex'), bytes: prepared.bytes }
      }
      case 'add': {
        if (prepared === undefined) throw new Error('add before prepare: nothing to add')
        const cid = await fs.addByteStream(incompressibleBytes(prepared.bytes, undefined, prepared.key))
        return { cid: cid.toString() }
      }
      case 'get': {
        const hash = createHash('sha256')
        let bytes = 0
        for await (const chunk of fs.cat(CID.parse(request.cid))) {
          hash.update(chunk)
          bytes += chunk.byteLength
        }
        return { sha256: hash.digest('hex'), bytes }
      }
      case 'clear': {
        await helia.gc()
        let blocks = 0
        for await (const _ of blockstore.getAll()) blocks++
        return { blocks }
      }
      case 'cpu':
        return { totalCpuMs: cpuMs() }
      default:
        throw new Error(`unknown op ${String((request as { op?: unknown }).op)}`)
    }
  }

  const reply = (r: HeliaReply): void => {
    process.stdout.write(JSON.stringify(r) + '\n')
  }
  const address = helia.libp2p.getMultiaddrs()[0]?.toString() ?? ''
  process.stdout.write(JSON.stringify({ multiaddr: address, peerId: helia.libp2p.peerId.toString() }) + '\n')

  // One request at a time, in order: the parent awaits each reply, and a node's CPU time is then its request's.
  let queue = Promise.resolve()
  const lines = createInterface({ input: process.stdin })
  lines.on('line', (line) => {
    queue = queue.then(async () => {
      let request: HeliaRequest
      try {
        request = JSON.parse(line) as HeliaRequest
      } catch {
        reply({ id: -1, ok: false, error: `not JSON: ${line.slice(0, 80)}`, cpuMs: 0 })
        return
      }
      const before = cpuMs()
      try {
        const result = await handle(request)
        reply({ id: request.id, ok: true, ...result, cpuMs: cpuMs() - before })
      } catch (err) {
        reply({
          id: request.id,
          ok: false,
          error: err instanceof Error ? `${err.name}: ${err.message}` : String(err),
          cpuMs: cpuMs() - before
        })
      }
    })
  })
  lines.on('close', () => {
    void queue.then(async () => {
      try {
        await helia.stop()
      } finally {
        await rm(args.dir, { recursive: true, force: true })
      }
      process.exit(0)
    })
  })
}

main().catch((err: unknown) => {
  process.stderr.write(`helia peer: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`)
  process.exit(1)
})
