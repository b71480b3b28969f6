import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createServer } from 'node:net'
import { createLibp2p } from 'libp2p'
import type { Libp2p } from 'libp2p'
import { webSockets } from '@libp2p/websockets'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { multiaddr } from '@multiformats/multiaddr'
import {
  FETCH_SHARD_PROTOCOL,
  MAX_ANNOUNCED_ADDRS,
  MAX_ANNOUNCEMENT_BYTES,
  MAX_MULTIADDR_CHARS,
  STORE_SHARD_PROTOCOL,
  decodeAnnouncement,
  encodeAnnouncement,
  requestFetchShard,
  requestStoreShard,
  signAnnouncement,
  YAMUX_INITIAL_STREAM_WINDOW_BYTES
} from '@sherd/protocol'
import { freePort, removeDir, tempDir } from '@sherd/test-support'
import { MAX_EARLY_STREAMS, announceable, MAX_READ_BUFFER_BYTES, YAMUX_MAX_STREAM_WINDOW_BYTES } from '../src/index.js'
import type { ProviderNode, SherdHost } from '../src/index.js'
import { randomShard, runToEnd, startDialer, startNode } from './helpers.js'

const SHARD_BYTES = 8 * 1024 * 1024

let node: ProviderNode
let tcpDialer: SherdHost
/** What a browser has: WebSockets only, no TCP. */
let wsClient: Libp2p
let wsPort: number

beforeAll(async () => {
  wsPort = await freePort()
  node = await startNode({ listen: ['/ip4/127.0.0.1/tcp/0', `/ip4/127.0.0.1/tcp/${wsPort}/ws`] })
  tcpDialer = await startDialer()
  wsClient = await createLibp2p({
    privateKey: await generateKeyPair('Ed25519'),
    addresses: { listen: [] },
    transports: [webSockets()],
    connectionEncrypters: [noise()],
    streamMuxers: [
      yamux({
        maxEarlyStreams: MAX_EARLY_STREAMS,
        // The initial window every Sherd peer must share (docs/protocol.md, "Connections"): on yamux's default
        // 256 KiB this host's first shard fetch is a receive-window error.
        streamOptions: {
          initialStreamWindowSize: YAMUX_INITIAL_STREAM_WINDOW_BYTES,
          maxReadBufferLength: MAX_READ_BUFFER_BYTES,
          maxStreamWindowSize: YAMUX_MAX_STREAM_WINDOW_BYTES
        }
      })
    ]
  })
})

afterAll(async () => {
  await wsClient?.stop()
  await tcpDialer?.stop()
  if (node !== undefined) {
    await node.stop()
    await removeDir(node.ready().dataDir)
  }
})

const wsAddr = (): string => {
  const addr = node.ready().multiaddrs.find((a) => a.includes('/ws/'))
  if (addr === undefined)
    throw new Error(`the provider announces no /ws address: ${node.ready().multiaddrs.join(', ')}`)
  return addr
}

describe('a provider listening on TCP and WebSockets', () => {
  it('lists both addresses in its ready line and its signed announcement', () => {
    const addrs = node.ready().multiaddrs
    expect(addrs.some((a) => /^\/ip4\/127\.0\.0\.1\/tcp\/\d+\/p2p\//.test(a))).toBe(true)
    expect(wsAddr()).toBe(`/ip4/127.0.0.1/tcp/${wsPort}/ws/p2p/${node.peerId}`)
    const announced = decodeAnnouncement(
      encodeAnnouncement(signAnnouncement(node.announcer.payload(), ('0x' + '11'.repeat(32)) as `0x${string}`))
    )
    expect(announced.announcement.addrs).toEqual(expect.arrayContaining([wsAddr()]))
  })

  it('serves a shard stored over TCP to a client that has only WebSockets, byte for byte', async () => {
    const { bytes, root } = randomShard(SHARD_BYTES)
    await requestStoreShard(
      await tcpDialer.dialProtocol(multiaddr(node.ready().multiaddrs[0]!), STORE_SHARD_PROTOCOL),
      { root, byteLength: bytes.byteLength },
      bytes
    )
    const started = performance.now()
    const fetched = await requestFetchShard(await wsClient.dialProtocol(multiaddr(wsAddr()), FETCH_SHARD_PROTOCOL), {
      root
    })
    const ms = performance.now() - started
    expect(Buffer.from(fetched.bytes).equals(Buffer.from(bytes))).toBe(true)
    expect(wsClient.getConnections(node.libp2p.peerId).map((c) => c.remoteAddr.toString())).toEqual([wsAddr()])
    console.log(
      `fetched ${SHARD_BYTES / 2 ** 20} MiB over WebSockets in ${ms.toFixed(0)} ms (${(SHARD_BYTES / 2 ** 20 / (ms / 1000)).toFixed(0)} MiB/s)`
    )
  })

  it('stores over WebSockets too: the same wire protocols on both transports', async () => {
    const { bytes, root } = randomShard(100_000)
    const receipt = await requestStoreShard(
      await wsClient.dialProtocol(multiaddr(wsAddr()), STORE_SHARD_PROTOCOL),
      { root, byteLength: bytes.byteLength },
      bytes
    )
    expect(receipt.receipt.byteLength).toBe(bytes.byteLength)
    const back = await requestFetchShard(
      await tcpDialer.dialProtocol(multiaddr(node.ready().multiaddrs[0]!), FETCH_SHARD_PROTOCOL),
      { root }
    )
    expect(Buffer.from(back.bytes).equals(Buffer.from(bytes))).toBe(true)
  })
})

describe('announcement bounds with more addresses', () => {
  it('the largest announcement allowed (every address as long as allowed) still fits MAX_ANNOUNCEMENT_BYTES', () => {
    const payload = node.announcer.payload()
    const longest = (i: number): string => {
      const head = `/dns4/provider-${i}.`
      const tail = `/tcp/443/wss/p2p/${node.peerId}`
      return head + 'x'.repeat(MAX_MULTIADDR_CHARS - head.length - tail.length - 4) + '.org' + tail
    }
    const addrs = Array.from({ length: MAX_ANNOUNCED_ADDRS }, (_, i) => longest(i))
    expect(addrs.every((a) => a.length === MAX_MULTIADDR_CHARS)).toBe(true)
    const bytes = encodeAnnouncement(signAnnouncement({ ...payload, addrs }, ('0x' + '22'.repeat(32)) as `0x${string}`))
    expect(bytes.byteLength).toBeLessThanOrEqual(MAX_ANNOUNCEMENT_BYTES)
    expect(decodeAnnouncement(bytes).announcement.addrs).toHaveLength(MAX_ANNOUNCED_ADDRS)
  })

  it('a host with more addresses than an announcement holds keeps its WebSocket ones in it', () => {
    const tcpAddrs = Array.from({ length: 14 }, (_, i) => `/ip4/10.0.0.${i}/tcp/4001/p2p/${node.peerId}`)
    const wsAddrs = Array.from({ length: 14 }, (_, i) => `/ip4/10.0.0.${i}/tcp/4002/ws/p2p/${node.peerId}`)
    const picked = announceable([...tcpAddrs, ...wsAddrs])
    expect(picked).toHaveLength(MAX_ANNOUNCED_ADDRS)
    expect(picked.filter((a) => a.includes('/ws/'))).toEqual(wsAddrs.slice(0, MAX_ANNOUNCED_ADDRS / 2))
    expect(picked.filter((a) => !a.includes('/ws/'))).toEqual(tcpAddrs.slice(0, MAX_ANNOUNCED_ADDRS / 2))
    expect(announceable(tcpAddrs.slice(0, 3))).toEqual(tcpAddrs.slice(0, 3))
  })
})

describe('sherd-node --listen-ws and --announce', () => {
  it('init writes them to config.json and refuses a wss listener with what to do instead', async () => {
    const dir = await tempDir()
    try {
      const ok = await runToEnd([
        'init',
        '--data-dir',
        dir,
        '--listen-ws',
        '/ip4/0.0.0.0/tcp/4002/ws',
        '--announce',
        '/dns4/node.example.org/tcp/443/wss',
        '--announce',
        '/dns4/node.example.org/tcp/4001'
      ])
      expect(ok.code, ok.stderr).toBe(0)
      const { readFileConfig } = await import('../src/index.js')
      const config = await readFileConfig(dir)
      expect(config.listenWs).toEqual(['/ip4/0.0.0.0/tcp/4002/ws'])
      expect(config.announce).toEqual(['/dns4/node.example.org/tcp/443/wss', '/dns4/node.example.org/tcp/4001'])
      const refused = await runToEnd(['init', '--data-dir', dir, '--force', '--listen-ws', '/ip4/0.0.0.0/tcp/443/wss'])
      expect(refused.code).toBe(1)
      expect(refused.stderr).toMatch(/plain WebSockets.*TLS/)
      expect(refused.stderr).not.toMatch(/\n\s+at /)
      expect((await readFileConfig(dir)).listenWs).toEqual(['/ip4/0.0.0.0/tcp/4002/ws'])
    } finally {
      await removeDir(dir)
    }
  })

  it('start on a WebSocket port in use is one line naming the address and --listen-ws', async () => {
    const dir = await tempDir()
    const port = await freePort()
    const squatter = createServer()
    await new Promise<void>((resolve) => squatter.listen(port, '127.0.0.1', resolve))
    try {
      expect(
        (
          await runToEnd([
            'init',
            '--data-dir',
            dir,
            '--http-port',
            '0',
            '--listen-ws',
            `/ip4/127.0.0.1/tcp/${port}/ws`
          ])
        ).code
      ).toBe(0)
      const started = await runToEnd(['start', '--data-dir', dir])
      expect(started.code).toBe(1)
      expect(started.stderr.trim()).toBe(
        `sherd-node: AddressInUseError: the libp2p listen address /ip4/127.0.0.1/tcp/${port}/ws is already in use: ` +
          'stop the process using it (another sherd-node?), or pick another port with --listen-ws (or "listenWs" in config.json)'
      )
    } finally {
      await new Promise((resolve) => squatter.close(resolve))
      await removeDir(dir)
    }
  })

  it('start announces the --announce addresses instead of the listen ones', async () => {
    const announced = await startNode({ announce: ['/dns4/node.example.org/tcp/443/wss'] })
    try {
      expect(announced.announcer.payload().addrs).toEqual([
        `/dns4/node.example.org/tcp/443/wss/p2p/${announced.peerId}`
      ])
    } finally {
      await announced.stop()
      await removeDir(announced.ready().dataDir)
    }
  })
})
