import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { getDeal } from '@sherd/contracts'
import { createClient, listFiles, PutJournal, StorageEndedError } from '../src/index.js'
import type { SherdClient } from '../src/index.js'
import { collect, startNetwork } from './network-helpers.js'
import type { TestNetwork } from './network-helpers.js'

// 64 KiB segments at k = 2: 32 KiB shards. At a price of 1 or 2 base units per MiB a shard costs 1 base unit per
// period; with the default collateralBps (10,000) a 4-period deal locks 4 base units of its provider's stake.
const SEGMENT = 64 * 1024
const K = 2
const M = 1
const PERIODS = 4
const COLLATERAL = 4n

// Provider 0 backs one shard's collateral (6 base units), provider 1 none (2); both are the cheapest, so a
// ranking blind to stake puts a shard of every segment on them.
const STAKES = [6n, 2n]

let net: TestNetwork
let client: SherdClient
let journalDir: string

const peer = (i: number): string => net.providers[i]!.node.peerId

async function failuresOf (peerId: string): Promise<number> {
  return (await client.providers()).find((p) => p.peerId === peerId)?.record.failures ?? 0
}

beforeAll(async () => {
  net = await startNetwork(5, (i) => i < 2 ? '1' : '2', (i) => STAKES[i] ?? 1000n * 10n ** 18n)
  journalDir = await mkdtemp(join(tmpdir(), 'sherd-stake-end-'))
  client = createClient({
    rpcUrl: net.anvil.url, contract: net.deployment.market, account: net.clientKey, bootstrap: net.bootstrap(),
    k: K, m: M, segmentSize: SEGMENT, periods: PERIODS, waitForActivation: true, pollingIntervalMs: 50, journalDir
  })
  await client.start()
}, 180_000)

afterAll(async () => {
  await client?.stop()
  await net?.close()
  if (journalDir !== undefined) await rm(journalDir, { recursive: true, force: true })
})

describe('providers whose stake cannot back the deals', () => {
  it('the estimate gives them no more shards than their free stake backs, and says which it skipped', async () => {
    const e = await client.estimatePut(3 * SEGMENT)
    const on = (i: number): number => e.shards.filter((s) => s.provider === peer(i)).length
    expect(on(0)).toBe(1)
    expect(on(1)).toBe(0)
    expect(e.shards.every((s) => s.collateral === COLLATERAL)).toBe(true)
    const short = new Map(e.stakeShort.map((s) => [s.provider, s]))
    expect(short.get(peer(1))).toMatchObject({ freeStake: 2n, needed: COLLATERAL, segmentIndex: 0 })
    expect(short.get(peer(0))).toMatchObject({ freeStake: 6n, needed: 2n * COLLATERAL, segmentIndex: 1 })
  }, 60_000)

  it('put places no shard their stake cannot back: every deal opens and activates, nobody is scored down', async () => {
    const before = await Promise.all([0, 1].map(async (i) => await failuresOf(peer(i))))
    const put = await client.put(randomBytes(3 * SEGMENT + 100))
    expect(put.deals).toHaveLength(4 * (K + M))
    expect(put.deals.every((d) => d.dealId !== undefined)).toBe(true)
    expect(put.deals.filter((d) => d.provider === peer(0)).length).toBeLessThanOrEqual(1)
    expect(put.deals.filter((d) => d.provider === peer(1))).toHaveLength(0)
    expect(await Promise.all([0, 1].map(async (i) => await failuresOf(peer(i))))).toEqual(before)
  }, 180_000)
})

describe('a file whose storage ended', () => {
  it('get says when its storage ended, and the providers that deleted its shards are not scored down', async () => {
    const data = randomBytes(SEGMENT + 10)
    const put = await client.put(data, { periods: 1 })
    expect(Buffer.compare(await collect(client.get(put.link)), data)).toBe(0)
    const market = { market: net.deployment.market, publicClient: net.publicClient }
    const ids = put.deals.map((d) => d.dealId!)
    // Past the one-period term (256-block periods); the providers settle their own deals once the term is over.
    await net.publicClient.request({ method: 'anvil_mine', params: ['0x300'] } as never)
    const deadline = Date.now() + 120_000
    const over = async (): Promise<boolean> => (await Promise.all(ids.map(async (id) => (await getDeal(market, id)).state)))
      .every((s) => s === 'ended' || s === 'failed')
    while (!await over()) {
      if (Date.now() > deadline) throw new Error('the providers did not settle the ended deals within 120 s')
      await net.publicClient.request({ method: 'anvil_mine', params: ['0x1'] } as never)
      await new Promise((resolve) => setTimeout(resolve, 500))
    }
    // Each provider's collector deletes the shards no live deal needs (the ledger catches up with the chain first).
    const holders = [...new Set(put.deals.map((d) => d.provider))].map((id) => net.byPeerId(id))
    let deleted = 0
    while (deleted < holders.length) {
      if (Date.now() > deadline) throw new Error(`only ${deleted} of ${holders.length} providers deleted the shards within 120 s`)
      deleted = 0
      for (const p of holders) {
        await p.node.collector.run()
        if (p.node.collector.status.shardsDeleted > 0) deleted++
      }
      if (deleted < holders.length) await new Promise((resolve) => setTimeout(resolve, 500))
    }
    const before = await Promise.all(holders.map(async (p) => await failuresOf(p.node.peerId)))
    const err = await collect(client.get(put.link)).then(() => undefined, (e: unknown) => e)
    expect(err).toBeInstanceOf(StorageEndedError)
    expect((err as Error).message).toMatch(/^storage of this file ended on \d{4}-\d\d-\d\d \d\d:\d\dZ; nothing to read/)
    expect((err as StorageEndedError).deals).toBe(ids.length)
    expect(await Promise.all(holders.map(async (p) => await failuresOf(p.node.peerId)))).toEqual(before)
  }, 300_000)
})

describe('delete and the journal', () => {
  it('ls shows a deleted file as deleted, with the date its last deal ends', async () => {
    const put = await client.put(randomBytes(1000), { waitForActivation: false })
    const journal = new PutJournal(journalDir)
    const market = { market: net.deployment.market, publicClient: net.publicClient }
    const listed = async (): Promise<Awaited<ReturnType<typeof listFiles>>['files'][number]> =>
      (await listFiles(journal, { market })).files.find((f) => f.link === put.link)!
    expect((await listed()).health).toBe('healthy')
    const del = await client.delete(put.link)
    expect(del.journalEntries).toEqual([put.journal.id])
    const after = await listed()
    expect(after.health).toBe('deleted')
    expect(after.deletedAt).toBeDefined()
    expect(after.endsAt!.getTime()).toBeGreaterThan(Date.now())
    // A second delete keeps the first deletion time (safe to run again).
    await client.delete(put.link)
    expect((await listed()).deletedAt).toBe(after.deletedAt)
  }, 120_000)
})
