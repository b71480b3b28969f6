import { randomBytes } from 'node:crypto'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { merkleRoot } from '@sherd/proofs'
import { privateKeyToAccount } from 'viem/accounts'
import { removeDir, tempDir } from '@sherd/test-support'
import {
  createClient,
  createClientHost,
  listFiles,
  ProviderScores,
  PutJournal,
  StorageEndedError
} from '../src/index.js'
import type { PutProgressEvent, SherdClient } from '../src/index.js'
import { ProviderDirectory } from '../src/providers.js'
import { requestShardOffer, storeShard } from '../src/transfer.js'
import { readChainClock, readDeals } from '../src/actions/deal-state.js'
import { collect, collectorClock, startNetwork, runCli } from './network-helpers.js'
import type { TestNetwork } from './network-helpers.js'

// 64 KiB segments at k = 2: 32 KiB shards. At a price of 1 or 2 base units per MiB a shard costs 1 base unit per
// period; with the default collateralBps (10,000) a 4-period deal locks 4 base units of its provider's stake.
const SEGMENT = 64 * 1024
const K = 2
const M = 1
const PERIODS = 4
const COLLATERAL = 4n

// Provider 0 backs two shards' collateral (10 base units), provider 1 none (2); both are the cheapest, so a
// ranking blind to stake puts a shard of every segment on them. Provider 5 (cheapest too) backs two on chain, which
// the refusal test promises to another client's offers first.
const STAKES = new Map([
  [0, 10n],
  [1, 2n],
  [5, 8n]
])
const CHEAP = new Set([0, 1, 5])

let net: TestNetwork
let client: SherdClient
let journalDir: string
/** A file whose deals are all over and whose shards were deleted (set by the ended-storage test). */
let endedLink: string | undefined

const peer = (i: number): string => net.providers[i]!.node.peerId

async function freeStakeOf(peerId: string): Promise<bigint> {
  return (await client.providers()).find((p) => p.peerId === peerId)!.freeStake!
}

async function failuresOf(peerId: string): Promise<number> {
  return (await client.providers()).find((p) => p.peerId === peerId)?.record.failures ?? 0
}

beforeAll(async () => {
  net = await startNetwork(
    6,
    (i) => (CHEAP.has(i) ? '1' : '2'),
    (i) => STAKES.get(i) ?? 1000n * 10n ** 18n
  )
  journalDir = await tempDir('sherd-stake-end-')
  client = createClient({
    rpcUrl: net.anvil.url,
    contract: net.deployment.market,
    account: net.clientKey,
    bootstrap: net.bootstrap(),
    k: K,
    m: M,
    segmentSize: SEGMENT,
    periods: PERIODS,
    pollingIntervalMs: 50,
    journalDir
  })
  await client.start()
}, 180_000)

afterAll(async () => {
  await client?.stop()
  await net?.close()
  if (journalDir !== undefined) await removeDir(journalDir)
})

describe('providers whose stake cannot back the deals', () => {
  it('a provider that refuses an offer for lack of stake is passed over without a mark on its score', async () => {
    // Another client takes offers worth provider 5's whole free stake: the chain still shows it free (no deal is
    // open), so this client ranks provider 5 first and is refused (InsufficientStakeError).
    const other = privateKeyToAccount(`0x${randomBytes(32).toString('hex')}`)
    const host = await createClientHost()
    await host.start()
    try {
      const directory = new ProviderDirectory(host, new ProviderScores())
      directory.addBootstrap([net.bootstrap()[5]!])
      const wire = {
        host,
        directory,
        marketAddress: net.deployment.market,
        chainId: net.anvil.chainId,
        client: other.address
      }
      // A provider signs only for shards it holds: store each first, as a put does.
      const ask = async (): Promise<unknown> => {
        const bytes = randomBytes(SEGMENT / K)
        const root = merkleRoot(bytes)
        await storeShard(wire, peer(5), { root, bytes })
        return await requestShardOffer(wire, peer(5), undefined, {
          root,
          byteLength: bytes.byteLength,
          periods: PERIODS
        })
      }
      for (let n = 0; n < 2; n++) await ask()
      await expect(ask()).rejects.toThrow(/InsufficientStakeError/)
    } finally {
      await host.stop()
    }
    const before = await failuresOf(peer(5))
    const events: PutProgressEvent[] = []
    const put = await client.put(randomBytes(SEGMENT), { onProgress: (e) => events.push(e) })
    expect(
      events.some(
        (e) => e.type === 'put:shard-failed' && e.provider === peer(5) && /InsufficientStakeError/.test(e.error)
      )
    ).toBe(true)
    expect(put.deals.some((d) => d.provider === peer(5))).toBe(false)
    expect(put.deals.every((d) => d.dealId !== undefined)).toBe(true)
    expect(await failuresOf(peer(5))).toBe(before)
  }, 120_000)

  it('the estimate gives them no more shards than their free stake backs, and says which it skipped', async () => {
    // Provider 0 may hold a shard of the refusal test's put already: what it backs now is its free stake on chain.
    const free0 = await freeStakeOf(peer(0))
    const backs0 = Number(free0 / COLLATERAL)
    expect(backs0).toBeLessThan(3)
    const e = await client.estimatePut(3 * SEGMENT)
    const on = (i: number): number => e.shards.filter((s) => s.provider === peer(i)).length
    expect(on(0)).toBe(backs0)
    expect(on(1)).toBe(0)
    expect(e.shards.every((s) => s.collateral === COLLATERAL)).toBe(true)
    const short = new Map(e.stakeShort.map((s) => [s.provider, s]))
    expect(short.get(peer(1))).toMatchObject({ freeStake: 2n, needed: COLLATERAL, segmentIndex: 0 })
    expect(short.get(peer(0))).toMatchObject({
      freeStake: free0,
      needed: BigInt(backs0 + 1) * COLLATERAL,
      segmentIndex: backs0
    })
  }, 60_000)

  it('put places no shard their stake cannot back: every deal opens, nobody is scored down', async () => {
    const before = await Promise.all([0, 1].map(async (i) => await failuresOf(peer(i))))
    const backs0 = Number((await freeStakeOf(peer(0))) / COLLATERAL)
    const put = await client.put(randomBytes(3 * SEGMENT + 100))
    expect(put.deals).toHaveLength(4 * (K + M))
    expect(put.deals.every((d) => d.dealId !== undefined)).toBe(true)
    expect(put.deals.filter((d) => d.provider === peer(0)).length).toBeLessThanOrEqual(backs0)
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
    // Past the one-period term, a few blocks at a time: each provider keeps proving its due periods (a period's
    // seed is readable for 256 blocks only, so mining past it in one go would leave it unanswerable), the market
    // takes each deal off the books once its provider's due period has passed it, and each provider's collector
    // then deletes the shard once its grace time after the last offer signed on it is over (the collectors' clock
    // is moved past it rather than waited for).
    collectorClock.aheadMs = 3 * 60 * 60_000
    const deadline = Date.now() + 240_000
    const holders = [...new Set(put.deals.map((d) => d.provider))].map((id) => net.byPeerId(id))
    const over = async (): Promise<boolean> => {
      const views = await readDeals(market, await readChainClock(net.publicClient, market), ids)
      return ids.every((id) => views.get(id)?.status !== 'live')
    }
    let deleted = 0
    while (deleted < holders.length || !(await over())) {
      if (Date.now() > deadline)
        throw new Error(
          `the deals ended: ${String(await over())}; ${deleted} of ${holders.length} providers deleted the shards within 240 s`
        )
      await net.mine(16)
      await new Promise((resolve) => setTimeout(resolve, 250))
      deleted = 0
      for (const p of holders) {
        await p.node.collector.run()
        if (p.node.collector.status.shardsDeleted > 0) deleted++
      }
    }
    const before = await Promise.all(holders.map(async (p) => await failuresOf(p.node.peerId)))
    const err = await collect(client.get(put.link)).then(
      () => undefined,
      (e: unknown) => e
    )
    expect(err).toBeInstanceOf(StorageEndedError)
    expect((err as Error).message).toMatch(/^storage of this file ended on \d{4}-\d\d-\d\d \d\d:\d\dZ; nothing to read/)
    expect((err as StorageEndedError).deals).toBe(ids.length)
    endedLink = put.link
    expect(await Promise.all(holders.map(async (p) => await failuresOf(p.node.peerId)))).toEqual(before)
  }, 300_000)
})

describe('delete and the journal', () => {
  it('ls shows a deleted file as deleted, with the date its last deal ends', async () => {
    const put = await client.put(randomBytes(1000))
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

describe('the CLI', () => {
  it('dry run names the providers skipped for stake; ls shows a deleted file; get of an ended file says so', async () => {
    const dir = await tempDir('sherd-stake-cli-')
    try {
      const run = async (args: string[]): ReturnType<typeof runCli> => await runCli(net, dir, args)
      const file = join(dir, 'in.bin')
      await writeFile(file, randomBytes(SEGMENT))
      const flags = ['-k', String(K), '-m', String(M), '--segment-size', String(SEGMENT), '--periods', String(PERIODS)]
      const dry = await run(['put', file, ...flags, '--dry-run'])
      expect(dry.code, dry.stderr).toBe(0)
      expect(dry.stdout).toMatch(new RegExp(`skipped ${peer(1)}: free stake .+ cannot back .+ of collateral`))
      expect(dry.stdout).toMatch(/collateral/)

      const providers = await run(['providers'])
      expect(providers.code, providers.stderr).toBe(0)
      expect(providers.stdout.split('\n')[0]).toMatch(/free stake/)
      expect(providers.stdout.split('\n').find((l) => l.startsWith(peer(1)))).toMatch(/ 0\.000000000000000002 \w+ /)

      const put = await run(['put', file, ...flags])
      expect(put.code, put.stderr).toBe(0)
      const link = put.stdout.trim()
      const del = await run(['delete', link])
      expect(del.code, del.stderr).toBe(0)
      expect(del.stderr).toMatch(/sherd ls shows the file as deleted/)
      const ls = await run(['ls'])
      expect(ls.code, ls.stderr).toBe(0)
      const row = ls.stdout.split('\n').find((l) => l.includes('in.bin'))!
      expect(row).toMatch(/ends ~\d{4}-\d\d-\d\d \d\d:\d\dZ, not renewed +deleted/)

      if (endedLink === undefined) throw new Error('the ended-storage test did not run')
      const get = await run(['get', endedLink, '-o', join(dir, 'ended.bin')])
      expect(get.code).toBe(1)
      expect(get.stderr).toMatch(
        /^error: StorageEndedError: storage of this file ended on \d{4}-\d\d-\d\d \d\d:\d\dZ; nothing to read/
      )
    } finally {
      await removeDir(dir)
    }
  }, 180_000)
})
