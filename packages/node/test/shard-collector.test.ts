// The shard collector on a real LevelDB store and proof-set ledger (driven directly: the ledger is the collector's
// only view of deals, and the prover's `synced` event its only trigger besides the clock), the read/delete races on
// the store and over a libp2p stream, and then on anvil with the wired node: a deal that ends frees its shard.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { join } from 'node:path'
import type { Hex } from 'viem'
import { claimProofSetDeals, getProofSetDeal, getProofSetPeriodStatus, openProofSetDeals } from '@sherd/contracts'
import {
  FETCH_SHARD_PROTOCOL,
  OFFER_PROTOCOL,
  STORE_SHARD_PROTOCOL,
  encodeFrame,
  offerFromWire,
  requestFetchShard,
  requestOffer,
  requestStoreShard,
  sendBytes,
  streamSource
} from '@sherd/protocol'
import type { ByteStream } from '@sherd/protocol'
import {
  FETCH_WRITE_BYTES,
  GC_GRACE_MS,
  NodeMetrics,
  OFFER_TTL_SECONDS,
  ProofSetLedger,
  ShardCollector,
  ShardStore,
  initDataDir
} from '../src/index.js'
import { anvilKey, removeDir, tempDir, TOKEN, waitFor } from '@sherd/test-support'
import type { ProofSetLedgerDb, ProofSetLedgerDeal, ProviderNode, SherdHost } from '../src/index.js'
import { open, randomShard, startDialer, startNode } from './helpers.js'
import { startPsChain } from './proof-set-helpers.js'
import type { PsChain } from './proof-set-helpers.js'

const CAPACITY = 32 * 1024 * 1024
const HOUR_MS = 3_600_000

const dirs: string[] = []
const stoppers: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const stop of stoppers.splice(0).reverse()) await stop().catch(() => {})
  for (const d of dirs.splice(0)) await removeDir(d)
})

/** A store, a proof-set ledger on its sublevel, a sync source and a collector with a clock the test moves. */
async function setup(init: { graceMs?: number } = {}): Promise<{
  store: ShardStore
  ledger: ProofSetLedger
  scans: EventTarget
  collector: ShardCollector
  metrics: NodeMetrics
  clock: { ms: number }
  path: string
}> {
  const dir = await tempDir()
  dirs.push(dir)
  const path = join(dir, 'store')
  const store = new ShardStore({ path, capacityBytes: CAPACITY })
  await store.start()
  const ledger = new ProofSetLedger(store.sublevel('proof-set') as unknown as ProofSetLedgerDb)
  await ledger.start({ market: `0x${'11'.repeat(20)}`, provider: `0x${'22'.repeat(20)}` })
  const scans = new EventTarget()
  const metrics = new NodeMetrics()
  // The test's clock runs with real time (stored times come from it), set ahead or back by assigning `ms`.
  let offset = 0
  const clock = {
    get ms(): number {
      return Date.now() + offset
    },
    set ms(v: number) {
      offset = v - Date.now()
    }
  }
  // A long interval: passes run when the test syncs or calls run().
  const collector = new ShardCollector(
    { store, ledger, metrics, scans },
    { intervalMs: HOUR_MS, now: () => clock.ms, ...init }
  )
  await collector.start()
  stoppers.push(async () => {
    await collector.stop()
    await store.stop()
  })
  return { store, ledger, scans, collector, metrics, clock, path }
}

async function put(store: ShardStore, bytes: Uint8Array, root: Uint8Array): Promise<void> {
  const w = await store.beginShard({ root, byteLength: bytes.byteLength })
  for (let o = 0; o < bytes.byteLength; o += 100_000) await w.write(bytes.subarray(o, o + 100_000))
  await w.commit()
}

const rootHex = (root: Uint8Array): Hex => `0x${Buffer.from(root).toString('hex')}`
let nextDeal = 1n
let nextBlock = 1n
const blockHash = (n: bigint): Hex => `0x${n.toString(16).padStart(64, '0')}`

async function commit(
  ledger: ProofSetLedger,
  change: (tx: ReturnType<ProofSetLedger['begin']>) => void
): Promise<void> {
  const tx = ledger.begin()
  change(tx)
  const block = nextBlock++
  await tx.commit(block, blockHash(block))
}

/** A live deal on `root`, as the ledger folds a DealOpened. */
async function addDeal(ledger: ProofSetLedger, root: Uint8Array, size: number): Promise<string> {
  const id = (nextDeal++).toString()
  const deal: ProofSetLedgerDeal = {
    id,
    root: rootHex(root),
    size: String(size),
    leafCount: String(Math.ceil(size / 64)),
    rangeStart: '0',
    weight: String(1 << 22),
    client: `0x${'33'.repeat(20)}`,
    pricePerPeriod: '1',
    startPeriod: '1',
    endPeriod: '5',
    voidFrom: '5',
    paidFrom: '1',
    state: 'live',
    settled: false,
    openedBlock: '1'
  }
  await commit(ledger, (tx) => {
    tx.put(deal)
  })
  return id
}

/**
 * Moves a deal on: `ended`/`failed`/`faulted` and still on the books (its last challenges may still come), or
 * `settled` (DealSettled: off the books, nothing can land on it any more).
 */
async function setState(
  ledger: ProofSetLedger,
  id: string,
  state: 'live' | 'ended' | 'failed' | 'faulted',
  settled = false
): Promise<void> {
  await commit(ledger, (tx) => {
    const d = tx.deal(id)!
    d.state = state
    d.settled = settled
  })
}

/** What the prover does after folding events; resolves once the pass it triggers has run. */
async function scanned(scans: EventTarget, collector: ShardCollector): Promise<void> {
  scans.dispatchEvent(new Event('synced'))
  await collector.run()
}

async function readAll(store: ShardStore, root: Uint8Array, length: number): Promise<Uint8Array> {
  const parts: Uint8Array[] = []
  for await (const p of store.readRange(root, 0, length)) parts.push(Uint8Array.from(p))
  return Buffer.concat(parts)
}

describe('shard collector (store + ledger)', () => {
  it('deletes a shard once its only deal is off the books (ended or failed, every challenge answered), and its bytes become free capacity, exactly', async () => {
    const { store, ledger, scans, collector, metrics, path } = await setup()
    const ended = randomShard(300_000)
    const failed = randomShard(200_000)
    const other = randomShard(150_000)
    for (const s of [ended, failed, other]) await put(store, s.bytes, s.root)
    const a = await addDeal(ledger, ended.root, 300_000)
    const b = await addDeal(ledger, failed.root, 200_000)
    await addDeal(ledger, other.root, 150_000)
    await scanned(scans, collector)
    expect(store.shards).toBe(3)
    // Term over or failed, but challenges of earlier periods may still land on them: kept.
    await setState(ledger, a, 'ended')
    await setState(ledger, b, 'failed')
    await scanned(scans, collector)
    expect(store.shards).toBe(3)

    await setState(ledger, a, 'ended', true)
    await setState(ledger, b, 'failed', true)
    const freeBefore = store.freeBytes
    await scanned(scans, collector)
    expect(await store.has(ended.root)).toBe(false)
    expect(await store.has(failed.root)).toBe(false)
    expect(await store.has(other.root)).toBe(true)
    expect(store.shards).toBe(1)
    expect(store.usedBytes).toBe(150_000)
    expect(store.freeBytes).toBe(freeBefore + 500_000)
    expect(collector.status).toMatchObject({ shardsDeleted: 2, bytesFreed: 500_000 })
    expect(await metrics.registry.getSingleMetricAsString('sherd_gc_bytes_freed_total')).toMatch(/ 500000$/m)
    await expect(readAll(store, ended.root, 300_000)).rejects.toMatchObject({ name: 'NotFoundError' })

    // The freed space is usable, and a restart counts the same bytes (the chunks are gone, not just the metadata).
    const big = randomShard(CAPACITY - 150_000)
    await put(store, big.bytes, big.root)
    expect(store.freeBytes).toBe(0)
    await store.deleteShard(big.root)
    await collector.stop()
    await store.stop()
    const again = new ShardStore({ path, capacityBytes: CAPACITY })
    await again.start()
    stoppers.push(async () => {
      await again.stop()
    })
    expect(again.usedBytes).toBe(150_000)
    expect(again.shards).toBe(1)
    expect(await readAll(again, other.root, 150_000)).toEqual(Buffer.from(other.bytes))
  })

  it('keeps a root while any deal on it is on the books (identical shards share a root)', async () => {
    const { store, ledger, scans, collector } = await setup()
    const shared = randomShard(100_000)
    await put(store, shared.bytes, shared.root)
    const first = await addDeal(ledger, shared.root, 100_000)
    const second = await addDeal(ledger, shared.root, 100_000)
    await setState(ledger, first, 'ended', true)
    await scanned(scans, collector)
    await collector.run()
    expect(await store.has(shared.root)).toBe(true) // the second deal is live
    await setState(ledger, second, 'faulted')
    await collector.run()
    expect(await store.has(shared.root)).toBe(true)
    await setState(ledger, second, 'faulted', true)
    await scanned(scans, collector)
    expect(await store.has(shared.root)).toBe(false)
  })

  it('keeps a shard no deal names within the grace period and deletes it after', async () => {
    const { store, scans, collector, clock } = await setup()
    const unowned = randomShard(70_000)
    await put(store, unowned.bytes, unowned.root)
    clock.ms = Date.now() + GC_GRACE_MS - 60_000
    await scanned(scans, collector)
    expect((await collector.run()).kept).toBe(1)
    expect(await store.has(unowned.root)).toBe(true)
    clock.ms = Date.now() + GC_GRACE_MS + 1
    const result = await collector.run()
    expect(result).toMatchObject({ ran: true, deleted: 1, freedBytes: 70_000 })
    expect(store.usedBytes).toBe(0)
  })

  it('keeps a shard a client was told is already here for the grace period, even if its old deal is over', async () => {
    const { store, ledger, scans, collector, clock } = await setup()
    const s = randomShard(50_000)
    await put(store, s.bytes, s.root)
    const old = await addDeal(ledger, s.root, 50_000)
    // A new client uploads the same shard (e.g. all-zero padding): refused as already stored, its deal comes later.
    await expect(put(store, s.bytes, s.root)).rejects.toMatchObject({ name: 'AlreadyStoredError' })
    await setState(ledger, old, 'ended', true)
    await scanned(scans, collector)
    expect(await store.has(s.root)).toBe(true)
    clock.ms = Date.now() + GC_GRACE_MS + 1
    await collector.run()
    expect(await store.has(s.root)).toBe(false)

    // Uploaded again after its deals were over: a new deal is coming, so the grace period applies.
    clock.ms = Date.now()
    await put(store, s.bytes, s.root)
    await collector.run()
    expect(await store.has(s.root)).toBe(true)
  })

  it('deletes nothing until the prover has scanned, nor on a ledger gone stale', async () => {
    const { store, ledger, scans, collector, clock } = await setup()
    const s = randomShard(10_000)
    await put(store, s.bytes, s.root)
    const id = await addDeal(ledger, s.root, 10_000)
    await setState(ledger, id, 'ended', true)
    clock.ms = Date.now() + 10 * GC_GRACE_MS
    expect(await collector.run()).toMatchObject({ ran: false })
    expect(collector.status.waiting).toMatch(/first scan/)
    expect(await store.has(s.root)).toBe(true)
    await scanned(scans, collector)
    expect(await store.has(s.root)).toBe(false)
    expect(collector.status.waiting).toBeUndefined()
  })

  it('refuses a grace period that does not cover the offer lifetime', async () => {
    const { store, ledger, scans, metrics } = await setup()
    expect(() => new ShardCollector({ store, ledger, metrics, scans }, { graceMs: OFFER_TTL_SECONDS * 1000 })).toThrow(
      expect.objectContaining({ name: 'ConfigError' })
    )
  })
})

describe('reads racing deletion', () => {
  it('a shard being read is not deleted; a shard being deleted gets no new reader', async () => {
    const { store, ledger, scans, collector } = await setup()
    const s = randomShard(5 * 65_536 + 17)
    await put(store, s.bytes, s.root)
    const id = await addDeal(ledger, s.root, s.bytes.byteLength)
    await setState(ledger, id, 'ended', true)
    await scanned(scans, collector) // the prover's first scan
    await put(store, s.bytes, s.root) // deleted above: store it again, under a deal that ends
    const id2 = await addDeal(ledger, s.root, s.bytes.byteLength)
    await setState(ledger, id2, 'failed', true)

    // A reader mid-shard: the collector keeps the shard and the reader gets every byte.
    const range = store.readRange(s.root, 0, s.bytes.byteLength)
    const parts: Uint8Array[] = [Uint8Array.from((await range.next()).value as Uint8Array)]
    expect(store.readersOf(s.root)).toBe(1)
    await expect(store.deleteShard(s.root)).rejects.toMatchObject({ name: 'ShardBusyError' })
    await scanned(scans, collector)
    expect(await store.has(s.root)).toBe(true)
    for await (const p of range) parts.push(Uint8Array.from(p))
    expect(Buffer.concat(parts)).toEqual(Buffer.from(s.bytes))
    expect(store.readersOf(s.root)).toBe(0)
    // Busy shards are retried by the next pass.
    await scanned(scans, collector)
    expect(await store.has(s.root)).toBe(false)

    // A deletion under way: a reader starting now fails before any byte, a writer waits for it to finish.
    await put(store, s.bytes, s.root)
    const deleting = store.deleteShard(s.root)
    await expect(readAll(store, s.root, s.bytes.byteLength)).rejects.toMatchObject({ name: 'NotFoundError' })
    await expect(store.readChunk(s.root, 0)).rejects.toMatchObject({ name: 'NotFoundError' })
    const rewrite = put(store, s.bytes, s.root)
    expect(await deleting).toBe(s.bytes.byteLength)
    await rewrite
    expect(await readAll(store, s.root, s.bytes.byteLength)).toEqual(Buffer.from(s.bytes))
  })

  it('readers racing deletions and forged re-uploads of the same root never get wrong bytes', async () => {
    const { store } = await setup()
    const s = randomShard(6 * 65_536 + 5)
    const forged = new Uint8Array(s.bytes.byteLength).fill(0xee)
    await put(store, s.bytes, s.root)
    let complete = 0
    let refused = 0
    let deleted = 0
    // Random starting points, so every interleaving of the three comes up.
    const ticks = async (): Promise<void> => {
      for (let i = Math.floor(Math.random() * 8); i > 0; i--) await new Promise((resolve) => setImmediate(resolve))
    }
    const reader = async (): Promise<void> => {
      await ticks()
      const got: Uint8Array[] = []
      try {
        for await (const p of store.readRange(s.root, 0, s.bytes.byteLength)) {
          got.push(Uint8Array.from(p))
          await new Promise((resolve) => setImmediate(resolve))
        }
      } catch (err) {
        // Either all of it or nothing: once a reader has a byte, the shard cannot go away under it.
        expect(got).toHaveLength(0)
        expect((err as Error).name).toBe('NotFoundError')
        refused++
        return
      }
      expect(Buffer.concat(got)).toEqual(Buffer.from(s.bytes))
      complete++
    }
    const churn = async (): Promise<void> => {
      await ticks()
      try {
        await store.deleteShard(s.root)
        deleted++
      } catch (err) {
        expect(['ShardBusyError', 'NotFoundError']).toContain((err as Error).name)
      }
      // A forged upload writes its chunks under the root before the commit check refuses it.
      await put(store, forged, s.root).catch((err: Error) => {
        expect(['CommitmentMismatchError', 'AlreadyStoredError']).toContain(err.name)
      })
      await put(store, s.bytes, s.root).catch((err: Error) => {
        expect(err.name).toBe('AlreadyStoredError')
      })
    }
    for (let round = 0; round < 60; round++) {
      await Promise.all([reader(), churn(), reader(), churn(), reader()])
    }
    expect(complete + refused).toBe(180)
    expect(complete).toBeGreaterThan(0)
    expect(deleted).toBeGreaterThan(0)
    expect(store.usedBytes).toBe((await store.has(s.root)) ? s.bytes.byteLength : 0)
  })

  it('a fetch over libp2p that is mid-transfer when the shard is deleted completes with the right bytes', async () => {
    const node = await startNode({ capacityBytes: 64 * 1024 * 1024 })
    // A dialer with a small receive window and a reader with a small high-water mark bound what a stalled reader can
    // have in flight, whatever the machine: streamSource pauses the stream once more than `highWater` bytes wait unread
    // (the message that crosses it is at most a window), then yamux grants no more window, so at most one more window
    // is on the wire or in the dialer's read buffer; the provider counts at most a piece past that (the one a drain let
    // through) and holds one it is batching. So while the reader stalls, the provider has served at most what the
    // reader consumed plus `inFlightBound`, and is still mid-range while the shard is larger than that.
    // Not below the 2 MiB initial window every peer assumes a stream starts with (YAMUX_INITIAL_STREAM_WINDOW_BYTES).
    const window = 2 * 1024 * 1024
    const highWater = 1024 * 1024
    const inFlightBound = highWater + 2 * window + 2 * FETCH_WRITE_BYTES
    const dialer = await startDialer({ maxStreamWindowBytes: window })
    stoppers.push(async () => {
      await dialer.stop()
      await node.stop()
      await removeDir(node.ready().dataDir)
    })
    const s = randomShard(32 * 1024 * 1024)
    await requestStoreShard(
      await open(dialer, node, STORE_SHARD_PROTOCOL),
      { root: s.root, byteLength: s.bytes.byteLength },
      s.bytes
    )
    const served = async (): Promise<number> => (await node.metrics.bytesServed.get()).values[0]?.value ?? 0
    const servedBefore = await served()
    const stream = await open(dialer, node, FETCH_SHARD_PROTOCOL)
    await sendBytes(stream as unknown as ByteStream, encodeFrame({ root: s.root }))
    await stream.close()
    // The reader real clients use: it pauses the remote when it falls behind.
    const iterator = streamSource(stream as unknown as ByteStream, highWater)[Symbol.asyncIterator]()
    const received: Uint8Array[] = []
    let total = 0
    const readOne = async (): Promise<void> => {
      const { value, done } = await iterator.next()
      if (done === true) throw new Error(`the fetch ended after ${total} bytes`)
      received.push(Uint8Array.from(value))
      total += value.byteLength
    }
    // Each stall is long enough for the provider to read the whole shard off disk if nothing held it back.
    const stall = async (): Promise<void> => {
      expect(total + inFlightBound).toBeLessThan(s.bytes.byteLength - 4 * 1024 * 1024)
      await new Promise((resolve) => setTimeout(resolve, 1000))
      expect((await served()) - servedBefore).toBeLessThanOrEqual(total + inFlightBound)
      expect(node.store.readersOf(s.root)).toBe(1)
    }
    while (total < 1024 * 1024) await readOne()
    await stall()
    // Read on until the provider has sent more (its first wait for a drain is over), then stall again. libp2p's
    // onDrain() returns at once after its first drain, so a provider waiting on it queued the whole rest of the shard
    // in its write buffer here and ended its read.
    const servedAtFirstStall = await served()
    while ((await served()) <= servedAtFirstStall) {
      await readOne()
      await new Promise((resolve) => setImmediate(resolve))
    }
    await stall()
    await expect(node.store.deleteShard(s.root)).rejects.toMatchObject({ name: 'ShardBusyError' })
    for (;;) {
      const { value, done } = await iterator.next()
      if (done === true) break
      received.push(Uint8Array.from(value))
    }
    const all = Buffer.concat(received)
    // The response frame, then exactly the shard. Buffer.equals, not toEqual: vitest's toEqual compares buffers element
    // by element (over 56 s for 112 MiB here, which is what made this test time out and look hung).
    expect(all.byteLength).toBeGreaterThan(s.bytes.byteLength)
    expect(all.subarray(all.byteLength - s.bytes.byteLength).equals(s.bytes)).toBe(true)
    await new Promise((resolve) => setTimeout(resolve, 100))
    expect(node.store.readersOf(s.root)).toBe(0)
    expect(await node.store.deleteShard(s.root)).toBe(s.bytes.byteLength)
    await expect(
      requestFetchShard(await open(dialer, node, FETCH_SHARD_PROTOCOL), { root: s.root })
    ).rejects.toMatchObject({ remoteName: 'NotFoundError' })
  }, 60_000)
})

describe('shard collector in a provider node on anvil (ProofSetMarket)', () => {
  let c: PsChain
  let dialer: SherdHost
  let node: ProviderNode | undefined
  let dir: string
  const CLIENT = 2

  beforeAll(async () => {
    c = await startPsChain({ accounts: 3, blockTime: 0.5 })
    dir = await tempDir()
    await initDataDir(dir, { evmKey: anvilKey(1) })
    node = await startNode({
      dataDir: dir,
      pricePerMiB: '1000',
      chain: {
        rpcUrl: c.anvil.url,
        contractAddress: c.market.market,
        stake: (10_000n * TOKEN).toString(),
        offerTtlSeconds: 5
      },
      prover: { pollIntervalMs: 100, retryMaxBackoffMs: 400, claimEveryPeriods: 1 },
      missReporter: false,
      // The collector keeps an offered shard a grace period past its offer's lifetime: short ones here.
      gc: { graceMs: 8_000, intervalMs: 2_000 }
    })
    dialer = await startDialer()
  }, 60_000)

  afterAll(async () => {
    await dialer?.stop()
    await node?.stop()
    if (dir !== undefined) await removeDir(dir)
    await c?.anvil.stop()
  })

  /** Stores the shard (unless it is there), asks for its offer, and opens the deal from the client account. */
  async function deal(root: Uint8Array, bytes: Uint8Array, periods: number): Promise<bigint> {
    const n = node!
    await requestStoreShard(
      await open(dialer, n, STORE_SHARD_PROTOCOL),
      { root, byteLength: bytes.byteLength },
      bytes
    ).catch((err: Error & { remoteName?: string }) => {
      if (err.remoteName !== 'AlreadyStoredError') throw err
    })
    const { offer, signature } = await requestOffer(await open(dialer, n, OFFER_PROTOCOL), {
      root,
      byteLength: bytes.byteLength,
      periods,
      client: c.accounts[CLIENT]!.address
    })
    const { dealIds } = await openProofSetDeals(c.as(CLIENT), {
      offers: [{ offer: offerFromWire(offer), signature: `0x${Buffer.from(signature).toString('hex')}` }]
    })
    return dealIds[0]!
  }

  it('a deal that ends frees its shard once settled; a root shared with a live deal is kept', async () => {
    const n = node!
    const lone = randomShard(300_000)
    const shared = randomShard(200_000)
    const ending = await deal(lone.root, lone.bytes, 1)
    const sharedEnding = await deal(shared.root, shared.bytes, 1)
    const sharedLive = await deal(shared.root, shared.bytes, 80)
    expect(n.store.usedBytes).toBe(500_000)
    const mc = c.as(0)
    // The provider claims its own deals every period; anyone may, so whichever comes first.
    for (const id of [ending, sharedEnding]) {
      await waitFor(
        `deal ${id} settled`,
        async () => {
          if ((await getProofSetDeal(mc, id)).settled) return true
          await claimProofSetDeals(mc, [id]).catch(() => {})
          return false
        },
        60_000
      )
    }
    const ledger = n.prover()!.ledger
    await waitFor(
      'both settlements in the ledger',
      () => ledger.deal(ending)?.settled === true && ledger.deal(sharedEnding)?.settled === true,
      10_000
    )
    await waitFor(
      "the lone shard deleted (its offer's grace over)",
      async () => !(await n.store.has(lone.root)),
      30_000
    )
    expect(ledger.deal(sharedLive)?.settled).toBe(false)
    expect(await n.store.has(shared.root)).toBe(true)
    expect(n.store.usedBytes).toBe(200_000)
    expect((await n.collector.run()).deleted).toBe(0)
    expect(await n.store.has(shared.root)).toBe(true)

    const status = (await (await fetch(`${n.ready().httpUrl}/status`)).json()) as {
      gc: Record<string, unknown>
      store: Record<string, number>
    }
    expect(status.gc).toMatchObject({ enabled: true, shardsDeleted: 1, bytesFreed: 300_000 })
    expect(status.store.usedBytes).toBe(200_000)
    const metrics = await (await fetch(`${n.ready().httpUrl}/metrics`)).text()
    expect(metrics).toMatch(/^sherd_gc_shards_deleted_total 1$/m)
    expect(metrics).toMatch(/^sherd_gc_bytes_freed_total 300000$/m)
    // The live deal keeps being proven from the kept shard.
    const start = (await getProofSetDeal(mc, sharedLive)).startPeriod
    const provider = c.accounts[1]!.address
    await waitFor(
      'the shared root proven 3 periods after the other deal ended',
      async () => (await getProofSetPeriodStatus(mc, provider, start + 3n)) === 'proven',
      60_000
    )
    for (let q = start; q <= start + 3n; q++) expect(await getProofSetPeriodStatus(mc, provider, q)).toBe('proven')
  }, 180_000)
})
