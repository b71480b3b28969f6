import { randomBytes } from 'node:crypto'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { parseShardCid } from '@sherd/protocol'
import type { ShardStore, ShardWriter } from '@sherd/node'
import { waitFor } from '@sherd/test-support'
import { createClient } from '../src/index.js'
import type { PutProgressEvent, SherdClient } from '../src/index.js'
import { collect, startNetwork } from './network-helpers.js'
import type { TestNetwork, TestProvider } from './network-helpers.js'

// 4 + 2 stripes carry 4 × 16 × 65,520 plaintext bytes; segments of two stripes and a bit make every edge cheap.
const K = 4
const M = 2
const STRIPE = 4 * 16 * 65_520
const SEGMENT = 2 * STRIPE + 1000

let net: TestNetwork
let client: SherdClient
const restore: Array<() => void> = []

function newClient(): SherdClient {
  return createClient({
    rpcUrl: net.anvil.url,
    contract: net.deployment.market,
    account: net.clientKey,
    bootstrap: net.bootstrap(),
    k: K,
    m: M,
    segmentSize: SEGMENT,
    periods: 4,
    waitForActivation: false,
    pollingIntervalMs: 50
  })
}

/** Wraps the writers a provider's store hands out (a real provider whose disk is slow, or which lies). */
function patchWriters(p: TestProvider, wrap: (writer: ShardWriter) => void): void {
  const store = p.node.store as ShardStore & { beginShard: ShardStore['beginShard'] }
  const original = store.beginShard
  store.beginShard = async (options, init) => {
    const writer = await original.call(store, options, init)
    wrap(writer)
    return writer
  }
  restore.push(() => {
    store.beginShard = original
  })
}

function slowWrites(p: TestProvider, ms: number): void {
  patchWriters(p, (writer) => {
    const write = writer.write.bind(writer)
    writer.write = async (bytes) => {
      await new Promise((resolve) => setTimeout(resolve, ms))
      await write(bytes)
    }
  })
}

// Polled every 50 ms (not waitFor's 100): a write slowed to 100 ms per chunk is in progress for a short time only.
const POLL_MS = 50

beforeAll(async () => {
  // Provider 0 is the cheapest, so every segment gives it a shard (the liar test relies on that).
  net = await startNetwork(8, (i) => (i === 0 ? '1' : '2'))
  client = newClient()
  await client.start()
}, 180_000)

afterEach(() => {
  for (const r of restore.splice(0)) r()
})

afterAll(async () => {
  await client?.stop()
  await net?.close()
})

describe('streaming put', () => {
  it('round-trips files at the edges (0, 1, stripe ± 1, segment ± 1 bytes) and stores every shard under its root', async () => {
    for (const size of [0, 1, STRIPE - 1, STRIPE + 1, SEGMENT - 1, SEGMENT + 1]) {
      const data = randomBytes(size)
      const put = await client.put(data, { streaming: true })
      expect(put.manifest.segments).toHaveLength(Math.ceil(size / SEGMENT))
      for (const seg of put.manifest.segments) {
        expect(new Set(seg.shards.map((s) => s.provider)).size).toBe(K + M)
        for (const s of seg.shards) {
          expect(await net.byPeerId(s.provider!).node.store.has(parseShardCid(s.commitment).root)).toBe(true)
        }
      }
      const back = await collect(client.get(put.link))
      expect(back.equals(data), `${size} bytes`).toBe(true)
    }
  }, 300_000)

  it('refuses a provider whose receipt names another root, and keeps the put going on the spare shard', async () => {
    const liar = net.providers[0]!
    patchWriters(liar, (writer) => {
      const commit = writer.commit.bind(writer)
      writer.commit = async () => {
        const info = await commit()
        const root = Uint8Array.from(info.root)
        root[0] = root[0]! ^ 0xff
        return { ...info, root }
      }
    })
    const events: PutProgressEvent[] = []
    const data = randomBytes(STRIPE + 5)
    const put = await client.put(data, { streaming: true, spareShards: 1, onProgress: (e) => events.push(e) })
    expect(put.manifest.m).toBe(M + 1)
    const holders = put.manifest.segments[0]!.shards.map((s) => s.provider).filter((p) => p !== undefined)
    expect(holders).toHaveLength(K + M)
    expect(holders).not.toContain(liar.node.peerId)
    expect(events).toContainEqual(
      expect.objectContaining({
        type: 'put:shard-failed',
        provider: liar.node.peerId,
        error: expect.stringContaining('signed a receipt for root')
      })
    )
    expect(client.scores.record(liar.node.peerId).corrupt).toBeGreaterThan(0)
    expect((await collect(client.get(put.link))).equals(data)).toBe(true)
  }, 120_000)

  it("cancels a slow provider's upload once k + m others finished; the provider deletes what it had", async () => {
    // The slow provider is whichever first begins a shard of this put, so the placement chose it whatever the
    // ranking (the liar test above scores provider 0 down; announcement freshness varies under load). It is slow
    // to accept (a disk slow to reserve the shard) and then to write: a provider that accepted at once would pull
    // its whole small shard into the 2 MiB stream window and look as if it kept up, while the straggler check
    // watches what the client still holds queued for each upload.
    let slow: TestProvider | undefined
    for (const p of net.providers) {
      const store = p.node.store as ShardStore & { beginShard: ShardStore['beginShard'] }
      const original = store.beginShard
      store.beginShard = async (options, init) => {
        const writer = await original.call(store, options, init)
        slow ??= p
        if (slow !== p) return writer
        await new Promise((resolve) => setTimeout(resolve, 5000))
        const write = writer.write.bind(writer)
        writer.write = async (bytes) => {
          await new Promise((resolve) => setTimeout(resolve, 250))
          await write(bytes)
        }
        return writer
      }
      restore.push(() => {
        store.beginShard = original
      })
    }
    const shardsBefore = net.providers.map((p) => p.node.store.shards)
    const events: PutProgressEvent[] = []
    const data = randomBytes(SEGMENT)
    const put = await client.put(data, { streaming: true, spareShards: 1, onProgress: (e) => events.push(e) })
    if (slow === undefined) throw new Error('no provider began a shard')
    const slowProvider = slow
    const cancelled = events.filter((e) => e.type === 'put:upload-cancelled')
    expect(cancelled).toContainEqual(expect.objectContaining({ segmentIndex: 0, provider: slowProvider.node.peerId }))
    const holders = put.manifest.segments[0]!.shards.map((s) => s.provider).filter((p) => p !== undefined)
    expect(holders).toHaveLength(K + M)
    expect(holders).not.toContain(slowProvider.node.peerId)
    // The cancelled upload reset the stream: the provider dropped its reservation and whatever it had written.
    await waitFor(
      'the slow provider has dropped its partial write',
      () => slowProvider.node.store.pendingBytes === 0,
      60_000,
      POLL_MS
    )
    expect(slowProvider.node.store.shards).toBe(shardsBefore[net.providers.indexOf(slowProvider)])
    const slowShard = (
      cancelled.find((e) => e.type === 'put:upload-cancelled' && e.provider === slowProvider.node.peerId) as {
        shardIndex: number
      }
    ).shardIndex
    expect(
      await slowProvider.node.store.has(parseShardCid(put.manifest.segments[0]!.shards[slowShard]!.commitment).root)
    ).toBe(false)
    expect((await collect(client.get(put.link))).equals(data)).toBe(true)
  }, 120_000)

  it('an upload interrupted mid-stream leaves no shard and no reservation on any provider', async () => {
    for (const p of net.providers) slowWrites(p, 100)
    const before = net.providers.map((p) => p.node.store.shards)
    const controller = new AbortController()
    const put = client.put(randomBytes(SEGMENT), { streaming: true, signal: controller.signal })
    put.catch(() => {})
    // Bytes are arriving (a provider has reserved a shard and received part of it): cut the put off there.
    await waitFor(
      'a provider is receiving a shard',
      () => net.providers.some((p) => p.node.store.pendingBytes > 0),
      60_000,
      POLL_MS
    )
    await new Promise((resolve) => setTimeout(resolve, 300))
    controller.abort(new Error('stopped by the test'))
    await expect(put).rejects.toThrow('stopped by the test')
    await waitFor(
      'every provider has dropped its partial writes',
      () => net.providers.every((p) => p.node.store.pendingBytes === 0),
      60_000,
      POLL_MS
    )
    expect(net.providers.map((p) => p.node.store.shards)).toEqual(before)
  }, 120_000)
})
