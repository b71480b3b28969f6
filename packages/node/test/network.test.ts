import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { randomBytes } from 'node:crypto'
import { recoverMessageAddress } from 'viem'
import {
  ANNOUNCE_TOPIC,
  FETCH_MANIFEST_PROTOCOL,
  FETCH_SHARD_PROTOCOL,
  MAX_CONTROL_FRAME_BYTES,
  OFFER_PROTOCOL,
  RECEIPT_DOMAIN,
  STORE_MANIFEST_PROTOCOL,
  STORE_SHARD_PROTOCOL,
  WireReader,
  decodeAnnouncement,
  encodeFrame,
  encodeVarint,
  manifestCid,
  requestFetchManifest,
  requestFetchShard,
  requestFetchShardRange,
  requestOffer,
  requestStoreManifest,
  requestStoreShard,
  verifyAnnouncement,
  wireDigest
} from '@sherd/protocol'
import type { SignedAnnouncement } from '@sherd/protocol'

import { multiaddr } from '@multiformats/multiaddr'
import { removeDir } from '@sherd/test-support'
import type { ProviderNode, SherdHost } from '../src/index.js'
import { open, randomShard, startDialer, startNode } from './helpers.js'

let a: ProviderNode
let b: ProviderNode
let small: ProviderNode
let dialer: SherdHost

beforeAll(async () => {
  a = await startNode({ announceIntervalMs: 500 })
  b = await startNode({ announceIntervalMs: 500 })
  small = await startNode({ capacityBytes: 300_000 })
  dialer = await startDialer()
})

afterAll(async () => {
  await dialer?.stop()
  for (const n of [a, b, small]) {
    if (n === undefined) continue
    await n.stop()
    await removeDir(n.ready().dataDir)
  }
})

async function store(
  node: ProviderNode,
  bytes: Uint8Array,
  root: Uint8Array
): Promise<Awaited<ReturnType<typeof requestStoreShard>>> {
  return await requestStoreShard(
    await open(dialer, node, STORE_SHARD_PROTOCOL),
    { root, byteLength: bytes.byteLength },
    bytes
  )
}

async function fetchShard(node: ProviderNode, root: Uint8Array, offset?: number, length?: number): Promise<Uint8Array> {
  const req: { root: Uint8Array; offset?: number; length?: number } = { root }
  if (offset !== undefined) req.offset = offset
  if (length !== undefined) req.length = length
  const stream = await open(dialer, node, FETCH_SHARD_PROTOCOL)
  // A range cannot be checked against the root, so the protocol keeps it apart from the verified whole-shard fetch.
  return offset === undefined && length === undefined
    ? (await requestFetchShard(stream, req)).bytes
    : (await requestFetchShardRange(stream, req)).bytes
}

/** Sends raw bytes on a fresh stream and returns the first frame the provider answers with. */
async function rawExchange(
  node: ProviderNode,
  protocol: string,
  bytes: Uint8Array,
  closeWrite = true
): Promise<unknown> {
  const stream = await open(dialer, node, protocol)
  stream.send(bytes)
  if (closeWrite) await stream.close()
  const frame = await new WireReader(stream as unknown as AsyncIterable<Uint8Array>).readFrame(MAX_CONTROL_FRAME_BYTES)
  return frame
}

describe('two providers and a client-side dialer over TCP', () => {
  it('stores and fetches whole shards and byte ranges on each provider, with receipts signed by the chain key', async () => {
    for (const node of [a, b]) {
      const { bytes, root } = randomShard(5 * 1024 * 1024 + 777)
      const signed = await store(node, bytes, root)
      expect(signed.receipt.provider).toBe(node.chainAddress)
      expect(signed.receipt.peerId).toBe(node.peerId)
      // The receipt is an ordinary EIP-191 signature: viem recovers the same address.
      const digest = wireDigest(RECEIPT_DOMAIN, signed.receipt)
      expect(
        (
          await recoverMessageAddress({
            message: { raw: digest },
            signature: `0x${Buffer.from(signed.signature).toString('hex')}`
          })
        ).toLowerCase()
      ).toBe(node.chainAddress)
      expect(Buffer.from(await fetchShard(node, root))).toEqual(Buffer.from(bytes))
      expect(Buffer.from(await fetchShard(node, root, 70_000, 1_000_000))).toEqual(
        Buffer.from(bytes.subarray(70_000, 1_070_000))
      )
      expect(Buffer.from(await fetchShard(node, root, bytes.byteLength - 5))).toEqual(
        Buffer.from(bytes.subarray(bytes.byteLength - 5))
      )
    }
    await expect(fetchShard(a, randomShard(64).root)).rejects.toMatchObject({
      name: 'RemoteError',
      remoteName: 'NotFoundError'
    })
  })

  it('stores several shards in parallel on one connection', async () => {
    const shards = Array.from({ length: 12 }, () => randomShard(300_000))
    await Promise.all(shards.map(async (s) => await store(b, s.bytes, s.root)))
    for (const s of shards) expect(Buffer.from(await fetchShard(b, s.root))).toEqual(Buffer.from(s.bytes))
  })

  it('refuses bytes that do not match the declared root and keeps nothing', async () => {
    const before = a.store.usedBytes
    const { bytes } = randomShard(400_000)
    const liar = randomShard(400_000)
    await expect(store(a, bytes, liar.root)).rejects.toMatchObject({ remoteName: 'CommitmentMismatchError' })
    expect(await a.store.has(liar.root)).toBe(false)
    expect(a.store.usedBytes).toBe(before)
    expect(a.store.pendingBytes).toBe(0)
    await expect(fetchShard(a, liar.root)).rejects.toMatchObject({ remoteName: 'NotFoundError' })
  })

  it('refuses a shard past capacity before any byte is sent, and releases space of failed stores', async () => {
    const first = randomShard(200_000)
    await store(small, first.bytes, first.root)
    const second = randomShard(200_000)
    await expect(store(small, second.bytes, second.root)).rejects.toMatchObject({ remoteName: 'CapacityExceededError' })
    const fits = randomShard(100_000)
    await expect(store(small, fits.bytes, randomShard(100_000).root)).rejects.toMatchObject({
      remoteName: 'CommitmentMismatchError'
    })
    await store(small, fits.bytes, fits.root)
    expect(small.store.freeBytes).toBe(0)
  })

  it('stores and fetches manifests by CID, refusing bytes that do not hash to it', async () => {
    const sealed = new Uint8Array(randomBytes(10_000))
    const cid = manifestCid(sealed)
    const signed = await requestStoreManifest(await open(dialer, a, STORE_MANIFEST_PROTOCOL), cid.bytes, sealed)
    expect(signed.receipt.kind).toBe('manifest')
    expect(Buffer.from(await requestFetchManifest(await open(dialer, a, FETCH_MANIFEST_PROTOCOL), cid.bytes))).toEqual(
      Buffer.from(sealed)
    )
    const other = manifestCid(new Uint8Array(randomBytes(10)))
    await expect(
      requestStoreManifest(await open(dialer, a, STORE_MANIFEST_PROTOCOL), other.bytes, sealed)
    ).rejects.toMatchObject({ remoteName: 'CommitmentMismatchError' })
    await expect(
      requestFetchManifest(await open(dialer, a, FETCH_MANIFEST_PROTOCOL), other.bytes)
    ).rejects.toMatchObject({ remoteName: 'NotFoundError' })
  })

  it('answers offer requests with NotWiredError until the chain layer provides a signer', async () => {
    const { root } = randomShard(1000)
    await expect(
      requestOffer(await open(dialer, a, OFFER_PROTOCOL), {
        root,
        byteLength: 1000,
        periods: 1,
        client: `0x${'00'.repeat(20)}`
      })
    ).rejects.toMatchObject({ remoteName: 'NotWiredError' })
  })

  it('bounds the bytes of shards no deal claims: an upload over the bound is refused before its bytes, the rest stay', async () => {
    const bounded = await startNode({ unclaimedMaxBytes: 250_000 })
    try {
      const first = randomShard(200_000)
      await store(bounded, first.bytes, first.root)
      const second = randomShard(100_000)
      await expect(store(bounded, second.bytes, second.root)).rejects.toMatchObject({
        remoteName: 'UnclaimedBytesExceededError'
      })
      expect(await bounded.store.has(second.root)).toBe(false)
      // A failed upload gives its share back: one that fits after it is taken.
      const fits = randomShard(50_000)
      await expect(store(bounded, fits.bytes, randomShard(50_000).root)).rejects.toMatchObject({
        remoteName: 'CommitmentMismatchError'
      })
      await store(bounded, fits.bytes, fits.root)
      expect(bounded.unclaimed.bytes).toBe(250_000)
      expect(bounded.status().store).toMatchObject({ unclaimedBytes: 250_000, unclaimedMaxBytes: 250_000 })
      // Storing a shard already here is refused as already stored, not as over the bound.
      await expect(store(bounded, first.bytes, first.root)).rejects.toMatchObject({ remoteName: 'AlreadyStoredError' })
    } finally {
      await bounded.stop()
      await removeDir(bounded.ready().dataDir)
    }
  })

  it('answers malformed, oversized and truncated requests with an error frame and keeps serving', async () => {
    const cases: Array<[string, Uint8Array, string]> = [
      [STORE_SHARD_PROTOCOL, new Uint8Array(randomBytes(64)), ''],
      [STORE_SHARD_PROTOCOL, encodeVarint(2 ** 31), 'MessageTooLargeError'],
      [FETCH_SHARD_PROTOCOL, encodeVarint(MAX_CONTROL_FRAME_BYTES + 1), 'MessageTooLargeError'],
      [STORE_SHARD_PROTOCOL, encodeFrame({ root: new Uint8Array(32), byteLength: 2 ** 40 }), 'MessageTooLargeError'],
      [STORE_SHARD_PROTOCOL, encodeFrame({ root: new Uint8Array(31), byteLength: 10 }), 'MalformedMessageError'],
      [
        STORE_SHARD_PROTOCOL,
        encodeFrame({ root: new Uint8Array(32), byteLength: 10 }).subarray(0, 12),
        'TruncatedMessageError'
      ],
      [FETCH_SHARD_PROTOCOL, Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0xff, 0xff), 'MalformedMessageError'],
      [FETCH_SHARD_PROTOCOL, Uint8Array.of(4, 0xff, 0xfe, 0xfd, 0xfc), 'MalformedMessageError'],
      [STORE_MANIFEST_PROTOCOL, encodeFrame({ cid: new Uint8Array(200), byteLength: 1 }), 'MalformedMessageError'],
      [STORE_MANIFEST_PROTOCOL, encodeFrame({ cid: new Uint8Array(20), byteLength: 2 ** 30 }), 'MessageTooLargeError'],
      [FETCH_MANIFEST_PROTOCOL, encodeFrame({ cid: Uint8Array.of(1, 2, 3) }), 'InvalidCidError'],
      [OFFER_PROTOCOL, encodeFrame('hello'), 'MalformedMessageError']
    ]
    for (const [protocol, bytes, name] of cases) {
      const frame = (await rawExchange(a, protocol, bytes)) as { status: string; name: string }
      expect(frame.status).toBe('error')
      if (name !== '') expect(frame.name).toBe(name)
    }
    // A store whose bytes stop short of the declared length: error frame, nothing kept.
    const { bytes, root } = randomShard(500_000)
    const stream = await open(dialer, a, STORE_SHARD_PROTOCOL)
    const reader = new WireReader(stream as unknown as AsyncIterable<Uint8Array>)
    stream.send(encodeFrame({ root, byteLength: bytes.byteLength }))
    expect(await reader.readFrame(MAX_CONTROL_FRAME_BYTES)).toEqual({ status: 'accept' })
    stream.send(bytes.subarray(0, 200_000))
    await stream.close()
    expect(await reader.readFrame(MAX_CONTROL_FRAME_BYTES)).toMatchObject({
      status: 'error',
      name: 'TruncatedMessageError'
    })
    expect(await a.store.has(root)).toBe(false)
    expect(a.store.pendingBytes).toBe(0)
    // Still serving.
    const s = randomShard(1000)
    await store(a, s.bytes, s.root)
    expect(Buffer.from(await fetchShard(a, s.root))).toEqual(Buffer.from(s.bytes))
    const res = await fetch(`${a.ready().httpUrl}/health`)
    expect(res.status).toBe(200)
  })

  it('delivers the error frame to a client that keeps sending after a refused header', async () => {
    const stream = await open(dialer, a, STORE_SHARD_PROTOCOL)
    const reader = new WireReader(stream as unknown as AsyncIterable<Uint8Array>)
    stream.send(encodeFrame({ root: new Uint8Array(31), byteLength: 10 }))
    stream.send(randomShard(1_000_000).bytes)
    expect(await reader.readFrame(MAX_CONTROL_FRAME_BYTES)).toMatchObject({
      status: 'error',
      name: 'MalformedMessageError'
    })
  })

  it('serves /status and /metrics', async () => {
    const status = (await (await fetch(`${a.ready().httpUrl}/status`)).json()) as {
      peerId: string
      store: { shards: number; usedBytes: number }
    }
    expect(status.peerId).toBe(a.peerId)
    expect(status.store.shards).toBe(a.store.shards)
    expect(status.store.usedBytes).toBe(a.store.usedBytes)
    const metrics = await (await fetch(`${a.ready().httpUrl}/metrics`)).text()
    expect(metrics).toMatch(/sherd_shards_stored_total [1-9]/)
    expect(metrics).toMatch(/sherd_requests_total\{protocol="store-shard",outcome="CommitmentMismatchError"\} [1-9]/)
  })
})

describe('announcements', () => {
  it('are received over gossipsub from both providers and their signatures check', async () => {
    const received = new Map<string, SignedAnnouncement>()
    const listener = (
      evt: CustomEvent<{ topic: string; data: Uint8Array; type: string; from?: { toString: () => string } }>
    ): void => {
      const msg = evt.detail
      if (msg.topic !== ANNOUNCE_TOPIC || msg.type !== 'signed' || msg.from === undefined) return
      const signed = decodeAnnouncement(msg.data)
      verifyAnnouncement(signed, { fromPeerId: msg.from.toString() })
      received.set(signed.announcement.peerId, signed)
    }
    dialer.services.pubsub.addEventListener('message', listener as never)
    dialer.services.pubsub.subscribe(ANNOUNCE_TOPIC)
    await a.libp2p.dial(multiaddr(b.libp2p.getMultiaddrs()[0]!.toString()))
    for (const n of [a, b]) await dialer.dial(multiaddr(n.libp2p.getMultiaddrs()[0]!.toString()))
    const deadline = Date.now() + 20_000
    while ((!received.has(a.peerId) || !received.has(b.peerId)) && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 100))
    dialer.services.pubsub.removeEventListener('message', listener as never)
    const fromA = received.get(a.peerId)
    expect(fromA?.announcement.chainAddress).toBe(a.chainAddress)
    expect(fromA?.announcement.freeBytes).toBeLessThanOrEqual(fromA?.announcement.capacityBytes ?? 0)
    expect(fromA?.announcement.addrs[0]).toMatch(/^\/ip4\/127\.0\.0\.1\/tcp\//)
    expect(received.get(b.peerId)?.announcement.chainAddress).toBe(b.chainAddress)
  })
})

describe('restart', () => {
  it('keeps identity, shards and manifests', async () => {
    const node = await startNode()
    const dataDir = node.ready().dataDir
    const { bytes, root } = randomShard(2 * 1024 * 1024 + 3)
    await store(node, bytes, root)
    const sealed = new Uint8Array(randomBytes(500))
    const cid = manifestCid(sealed)
    await requestStoreManifest(await open(dialer, node, STORE_MANIFEST_PROTOCOL), cid.bytes, sealed)
    const { peerId, chainAddress } = node
    const used = node.store.usedBytes
    await node.stop()
    const again = await startNode({ dataDir })
    try {
      expect(again.peerId).toBe(peerId)
      expect(again.chainAddress).toBe(chainAddress)
      expect(again.store.usedBytes).toBe(used)
      expect(Buffer.from(await fetchShard(again, root))).toEqual(Buffer.from(bytes))
      expect(
        Buffer.from(await requestFetchManifest(await open(dialer, again, FETCH_MANIFEST_PROTOCOL), cid.bytes))
      ).toEqual(Buffer.from(sealed))
    } finally {
      await again.stop()
      await removeDir(dataDir)
    }
  })
})

describe('graceful stop', () => {
  it('aborts a store still running after the grace period, keeps nothing of it, and closes LevelDB', async () => {
    const node = await startNode({ stopGraceMs: 200 })
    const dataDir = node.ready().dataDir
    const { bytes, root } = randomShard(4 * 1024 * 1024)
    const stream = await open(dialer, node, STORE_SHARD_PROTOCOL)
    const reader = new WireReader(stream as unknown as AsyncIterable<Uint8Array>)
    stream.send(encodeFrame({ root, byteLength: bytes.byteLength }))
    expect(await reader.readFrame(MAX_CONTROL_FRAME_BYTES)).toEqual({ status: 'accept' })
    stream.send(bytes.subarray(0, 2 * 1024 * 1024))
    while (node.service.activeTransfers === 0) await new Promise((resolve) => setTimeout(resolve, 20))
    const stopped = Date.now()
    await node.stop()
    expect(Date.now() - stopped).toBeLessThan(5_000)
    await expect(reader.readFrame(MAX_CONTROL_FRAME_BYTES)).rejects.toThrow()
    const again = await startNode({ dataDir })
    try {
      expect(await again.store.has(root)).toBe(false)
      expect(again.store.usedBytes).toBe(0)
    } finally {
      await again.stop()
      await removeDir(dataDir)
    }
  })
})
