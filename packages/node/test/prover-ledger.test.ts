// The prover's parts that need no chain: proofs from a real LevelDB store, batch packing, and the deal ledger in a
// sublevel of the store's LevelDB (counts once per period, survives a reopen, leaves the store's accounting alone).
import { afterEach, describe, expect, it } from 'vitest'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { bytesToHex } from 'viem'
import { buildTree } from '@sherd/proofs'
import { proofLength, proveChallenges } from '@sherd/contracts'
import { buildDealProof, DealLedger, estimateProofGas, initDataDir, MarketClock, newLedgerDeal, packBatches, ShardStore } from '../src/index.js'
import type { LedgerDb } from '../src/index.js'
import { removeDir, runToEnd, tempDir } from './helpers.js'

const dirs: string[] = []
const stores: ShardStore[] = []

afterEach(async () => {
  for (const s of stores.splice(0)) await s.stop().catch(() => {})
  for (const d of dirs.splice(0)) await removeDir(d)
})

async function openStore (path?: string): Promise<ShardStore> {
  const dir = path ?? await tempDir()
  if (path === undefined) dirs.push(dir)
  const store = new ShardStore({ path: join(dir, 'store'), capacityBytes: 64 * 1024 * 1024 })
  await store.start()
  stores.push(store)
  return store
}

async function putShard (store: ShardStore, bytes: Uint8Array): Promise<Uint8Array> {
  const root = buildTree(bytes).root
  const writer = await store.beginShard({ root, byteLength: bytes.byteLength })
  for (let at = 0; at < bytes.byteLength; at += 100_000) await writer.write(bytes.subarray(at, at + 100_000))
  await writer.commit()
  return root
}

const ledgerOf = (store: ShardStore): DealLedger => new DealLedger(() => store.sublevel('ledger') as unknown as LedgerDb)

describe('buildDealProof', () => {
  it('proves from re-read chunks exactly what the whole tree proves (the bytes the market verifies)', async () => {
    const store = await openStore()
    for (const size of [1024 * 1024 + 100, 64, 65_536 * 3]) {
      const bytes = new Uint8Array(randomBytes(size))
      const root = await putShard(store, bytes)
      const tree = await store.getTree(root)
      for (let s = 0; s < 3; s++) {
        const seed = bytesToHex(randomBytes(32))
        const proof = await buildDealProof(store, root, tree, seed, 10)
        expect(proof).toBe(proveChallenges(buildTree(bytes), seed, 10))
        expect((proof.length - 2) / 2).toBe(proofLength(tree.depth, 10))
      }
    }
  })

  it('fails loudly when a chunk does not match the stored tree', async () => {
    const store = await openStore()
    const root = await putShard(store, new Uint8Array(randomBytes(200_000)))
    const tree = await store.getTree(root)
    const liar = { readChunk: async (r: Uint8Array, i: number) => { const c = await store.readChunk(r, i); const x = c.slice(); x[0]! ^= 1; return x } }
    await expect(buildDealProof(liar, root, tree, bytesToHex(randomBytes(32)), 10)).rejects.toMatchObject({ name: 'ChunkMismatchError' })
  })
})

describe('batches', () => {
  it('packs proofs into batches within the gas budget, each with at least one deal', () => {
    const gas = estimateProofGas(proofLength(20, 10))
    expect(gas).toBe(40 * 7040 + 100_000)
    const items = Array.from({ length: 5 }, (_, i) => ({ id: i, gas }))
    expect(packBatches(items, 1_000_000).map((b) => b.length)).toEqual([2, 2, 1])
    expect(packBatches(items, 15_000_000).map((b) => b.length)).toEqual([5])
    expect(packBatches(items, 1).map((b) => b.length)).toEqual([1, 1, 1, 1, 1])
    expect(packBatches([], 1_000_000)).toEqual([])
    // ~40 deals of 64 MiB shards fit the default 15M budget.
    expect(packBatches(Array.from({ length: 100 }, () => ({ gas })), 15_000_000)[0]!.length).toBe(39)
  })

  it('computes periods and proof windows as the market does', () => {
    const clock = new MarketClock(10n, { periodBlocks: 8, challengeDelayBlocks: 1, activationBlocks: 32, challengeCount: 10, maxMissedPeriods: 3, collateralBps: 0, slashBps: 0, reporterBps: 0 })
    expect(clock.periodOf(9n)).toBe(-1n)
    expect(clock.periodOf(10n)).toBe(0n)
    expect(clock.periodOf(25n)).toBe(1n)
    expect(clock.challengeBlock(1n)).toBe(19n)
    expect([clock.firstProofBlock(1n), clock.lastProofBlock(1n)]).toEqual([20n, 25n])
    // Head 24: the next block (25) still takes proofs for period 1; head 25: period 1 is closed.
    expect(clock.closedThrough(24n)).toBe(0n)
    expect(clock.closedThrough(25n)).toBe(1n)
  })
})

describe('deal ledger', () => {
  const deal = (id: bigint) => newLedgerDeal({ id, root: `0x${'ab'.repeat(32)}`, size: 1000n, pricePerPeriod: 7n, periods: 10, openedBlock: 5n, activationBlocks: 32 })

  it('counts each period once, marks misses, and survives a reopen in the store\'s LevelDB', async () => {
    const dir = await tempDir()
    dirs.push(dir)
    let store = await openStore(dir)
    await putShard(store, new Uint8Array(randomBytes(5000)))
    let ledger = ledgerOf(store)
    await ledger.start()
    let tx = ledger.begin()
    tx.putDeal({ ...deal(1n), state: 'active', startPeriod: '3' })
    tx.putDeal(deal(2n))
    tx.meta.cursor = '40'
    await tx.commit()

    tx = ledger.begin()
    await tx.proven('1', 3n, { payment: 7n, tx: `0x${'01'.repeat(32)}` })
    await tx.proven('1', 3n, { payment: 7n })
    await tx.missed('1', 3n) // a proven period is never a miss
    await tx.missed('1', 4n)
    await tx.missed('1', 4n, { slashed: 100n }) // the PeriodMissed event of a period already settled as missed
    await tx.missed('1', 5n, { slashed: 100n })
    await tx.missed('1', 5n, { slashed: 100n })
    await tx.missed('9', 5n) // not ours: ignored
    tx.meta.withdrawn = '7'
    await tx.commit()
    const check = (l: DealLedger): void => {
      expect(l.deal('1')).toMatchObject({ state: 'active', periodsProven: 1, periodsMissed: 2, periodsMarked: 2, earned: '7', slashed: '200', lastProven: '3' })
      expect(l.deal('2')).toMatchObject({ state: 'pending', periodsProven: 0, activationDeadline: '37' })
      expect(l.deal('9')).toBeUndefined()
      expect(l.meta).toMatchObject({ cursor: '40', withdrawn: '7', reporterRewards: '0' })
      expect(l.totals()).toMatchObject({ deals: 2, periodsProven: 1, periodsMissed: 2, earned: 7n, slashed: 200n, byState: { active: 1, pending: 1 } })
    }
    check(ledger)
    expect(await ledger.period('1', 3n)).toMatchObject({ status: 'proven', payment: '7', tx: `0x${'01'.repeat(32)}` })
    expect(await ledger.period('1', 4n)).toMatchObject({ status: 'missed', marked: true, slashed: '100' })
    expect(await ledger.period('1', 6n)).toBeUndefined()

    // A change that is never committed leaves nothing behind.
    tx = ledger.begin()
    await tx.proven('1', 6n, { payment: 7n })
    check(ledger)

    await ledger.stop()
    await store.stop()
    store = await openStore(dir)
    expect(store.shards).toBe(1)
    expect(store.usedBytes).toBe(5000)
    ledger = ledgerOf(store)
    await ledger.start()
    check(ledger)
    expect(ledger.summaries(1)).toEqual([expect.objectContaining({ id: '2' })])
  })
})

describe('sherd-node start prover flags', () => {
  it('refuses bad values with a message that names the flag', async () => {
    const dir = await tempDir()
    dirs.push(dir)
    await initDataDir(dir)
    const misses = await runToEnd(['start', '--data-dir', dir, '--http-port', '0', '--report-misses', 'maybe'])
    expect(misses.code).toBe(1)
    expect(misses.stderr).toMatch(/--report-misses takes on or off, got "maybe"/)
    const every = await runToEnd(['start', '--data-dir', dir, '--http-port', '0', '--withdraw-every', '1.5'])
    expect(every.code).toBe(1)
    expect(every.stderr).toMatch(/--withdraw-every must be a whole number/)
  })
})
