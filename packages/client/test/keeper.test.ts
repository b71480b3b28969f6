// The keeper's decisions, its store and its HTTP surface, with a fake of the one component the keeper has (the
// SDK's stat, repair and extend); the network path is test/keeper.test.ts on a devnet.
import { randomBytes } from 'node:crypto'
import { readFile, stat as fsStat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import {
  deriveRepairKey,
  formatLink,
  formatRepairLink,
  parseCapability,
  sealManifest,
  SEGMENT_CIPHER,
  shardCid,
  shardSizeFor
} from '@sherd/protocol'
import { removeDir, tempDir as makeTempDir } from '@sherd/test-support'
import type { Manifest } from '@sherd/protocol'
import { createKeeper, KeeperConfigError, KeeperStore, KeeperStoreError } from '@sherd/client'
import type {
  FileStat,
  Keeper,
  KeeperClient,
  KeeperEvent,
  RepairOptions,
  RepairResult,
  ShardState
} from '@sherd/client'

const dirs: string[] = []
const keepers: Keeper[] = []
afterEach(async () => {
  await Promise.all(
    keepers.splice(0).map(async (k) => {
      await k.stop()
    })
  )
  await Promise.all(
    dirs.splice(0).map(async (d) => {
      await removeDir(d)
    })
  )
})

async function tempDir(): Promise<string> {
  const dir = await makeTempDir('sherd-keeper-test-')
  dirs.push(dir)
  return join(dir, 'keeper')
}

async function fileLinks(k: number, m: number): Promise<{ full: string; repair: string }> {
  const shardSize = shardSizeFor(100, k)
  const manifest: Manifest = {
    version: 2,
    fileSize: 100,
    segmentSize: 100,
    k,
    m,
    leafSize: 64,
    stripeChunks: 1,
    cipher: SEGMENT_CIPHER,
    keySalt: new Uint8Array(randomBytes(16)),
    segments: [
      {
        size: 100,
        shardSize,
        shards: Array.from({ length: k + m }, () => ({ commitment: shardCid(randomBytes(32), shardSize) }))
      }
    ]
  }
  const key = new Uint8Array(randomBytes(32))
  const { cid } = await sealManifest(manifest, key)
  return { full: formatLink(cid, key), repair: formatRepairLink(cid, await deriveRepairKey(key)) }
}

/** `missed`: over the deal's term; `recent`: among its last maxMissedPeriods closed periods (default `missed`). */
interface ShardSpec {
  state?: ShardState
  online?: boolean
  missed?: number
  recent?: number
  endsAtMs?: number
}

/** A FileStat of one segment whose shard i is on provider p<i> (or `providers[i]`). */
function fileStat(
  cid: string,
  k: number,
  m: number,
  spec: (i: number) => ShardSpec = () => ({}),
  providers?: string[]
): FileStat {
  const shards = Array.from({ length: k + m }, (_, i) => {
    const s = spec(i)
    const state: ShardState = s.state ?? 'live'
    const online = s.online ?? true
    return {
      segmentIndex: 0,
      shardIndex: i,
      commitment: 'x',
      provider: providers?.[i] ?? `p${i}`,
      dealId: BigInt(i + 1),
      state,
      online,
      missedPeriods: s.missed ?? 0,
      recentMissedPeriods: s.recent ?? s.missed ?? 0,
      endsAtMs: s.endsAtMs ?? Date.now() + 90 * 86_400_000,
      healthy: online && !['failed', 'ended', 'faulted', 'declared', 'unfunded'].includes(state)
    }
  })
  return {
    cid,
    fileSize: 100,
    k,
    m,
    healthy: shards.every((s) => s.healthy),
    recoverable: true,
    costPerPeriod: 10n,
    segments: [{ index: 0, size: 100, shardSize: 64, shards, healthyShards: shards.filter((s) => s.healthy).length }]
  }
}

/** A fake SDK: stat answers from `world`, repair moves the file to a new CID with every shard healthy. */
class FakeClient implements KeeperClient {
  world: (cid: string) => FileStat
  repairs: Array<{ link: string; options: RepairOptions | undefined }> = []
  extends: Array<{ link: string; periods: number }> = []
  /** Makes repair hang (after opening `openDeals`) until aborted: a keeper stopped mid-repair. */
  hangRepair = false
  openDeals: Array<{ segmentIndex: number; shardIndex: number; provider: string; dealId: bigint }> = []
  nextLinks: string[] = []

  constructor(world: (cid: string) => FileStat) {
    this.world = world
  }

  stat: KeeperClient['stat'] = async (target) => {
    if (typeof target !== 'string') throw new Error('the keeper passes links')
    return this.world(parseCapability(target).cid.toString())
  }

  repair: KeeperClient['repair'] = async (target, options) => {
    if (typeof target !== 'string') throw new Error('the keeper passes links')
    this.repairs.push({ link: target, options })
    for (const d of this.openDeals) {
      options?.onProgress?.({ type: 'put:deal-opened', ...d, escrow: 5n, dealsOpened: 1, dealsTotal: 1 })
    }
    if (this.hangRepair) {
      await new Promise((_resolve, reject) => {
        options?.signal?.addEventListener('abort', () => {
          reject(options.signal?.reason)
        })
      })
    }
    const link = this.nextLinks.shift() ?? target
    return {
      link,
      cid: parseCapability(link).cid,
      previousCid: parseCapability(target).cid.toString(),
      repaired: this.openDeals.map((d) => ({ ...d, previousState: 'failed' as const, to: d.provider }))
    } as unknown as RepairResult
  }

  extend: KeeperClient['extend'] = async (target, periods) => {
    if (typeof target !== 'string') throw new Error('the keeper passes links')
    this.extends.push({ link: target, periods })
    return { extended: [], skipped: [], escrow: 10n * BigInt(periods) }
  }
}

/** Suspect after 1 ms of silence: at the first check that finds a provider down (the test clock moves on each reading). */
const FAST = { suspectAfterMissed: 1, suspectAfterMs: 1 }

function keeperWith(
  dir: string,
  client: KeeperClient,
  init: Partial<Parameters<typeof createKeeper>[0]> = {},
  events?: KeeperEvent[]
): Keeper {
  // A long poll interval: the tests drive checks with checkNow(), and the start-up pass is awaited through it. The
  // clock moves a second per reading, so a provider found silent at one check has been silent for a while at the
  // next, however fast the checks run.
  let t = Date.now()
  const keeper = createKeeper(
    {
      dir,
      pollIntervalMs: 3_600_000,
      liveness: FAST,
      now: () => (t += 1_000),
      ...init,
      ...(events === undefined
        ? {}
        : {
            onEvent: (e) => {
              events.push(e)
            }
          })
    },
    { client }
  )
  keepers.push(keeper)
  return keeper
}

describe('the keeper decides', () => {
  it('to leave a healthy file alone and to repair a 4+2 segment at its first loss (threshold 5)', async () => {
    const dir = await tempDir()
    const a = await fileLinks(4, 2)
    const b = await fileLinks(4, 2)
    let lost = false
    const client = new FakeClient((cid) =>
      fileStat(cid, 4, 2, (i) =>
        lost && i === 3 && cid === parseCapability(a.repair).cid.toString() ? { online: false } : {}
      )
    )
    client.nextLinks.push(b.repair)
    const store = await KeeperStore.open(dir)
    await store.add(a.repair)
    const keeper = keeperWith(dir, client)
    await keeper.start()
    await keeper.checkNow()
    expect(client.repairs).toEqual([])
    lost = true
    await keeper.checkNow()
    expect(client.repairs.map((r) => r.link)).toEqual([a.repair])
    expect(client.repairs[0]!.options?.includeMissed).toBe(true)
    const kept = keeper.store!.files[0]!
    expect(kept.link).toBe(b.repair)
    expect(kept.history).toEqual([parseCapability(a.repair).cid.toString()])
    expect(kept.intent).toBeUndefined()
    expect(keeper.metrics.repairs.ok).toBe(1)
    // The new version is healthy: nothing more to do.
    await keeper.checkNow()
    expect(client.repairs).toHaveLength(1)
  })

  it("to batch a 10+4 segment's losses until its threshold (11): 2 lost wait, 3 lost repair", async () => {
    const dir = await tempDir()
    const a = await fileLinks(10, 4)
    let lostShards = 2
    const client = new FakeClient((cid) => fileStat(cid, 10, 4, (i) => (i < lostShards ? { state: 'failed' } : {})))
    await (await KeeperStore.open(dir)).add(a.repair)
    const events: KeeperEvent[] = []
    const keeper = keeperWith(dir, client, {}, events)
    await keeper.start()
    await keeper.checkNow()
    expect(client.repairs).toHaveLength(0)
    const checked = events.filter((e) => e.type === 'keeper:checked').at(-1)
    expect(checked?.type === 'keeper:checked' && checked.segments[0]).toMatchObject({
      healthy: 12,
      threshold: 11,
      failed: 2,
      repair: false
    })
    lostShards = 3
    await keeper.checkNow()
    expect(client.repairs).toHaveLength(1)
  })

  it("that a silent provider is suspect only after the liveness rule's time, and that a missed period is suspect at once", async () => {
    const dir = await tempDir()
    const a = await fileLinks(2, 1)
    let t = 1_000_000
    let shard0: ShardSpec = { online: false }
    const client = new FakeClient((cid) => fileStat(cid, 2, 1, (i) => (i === 0 ? shard0 : {})))
    await (await KeeperStore.open(dir)).add(a.full)
    const keeper = keeperWith(dir, client, {
      liveness: { suspectAfterMissed: 1, suspectAfterMs: 60_000 },
      now: () => t
    })
    await keeper.start()
    await keeper.checkNow()
    expect(client.repairs).toHaveLength(0)
    t += 59_000
    await keeper.checkNow()
    expect(client.repairs).toHaveLength(0)
    t += 1_000
    await keeper.checkNow()
    expect(client.repairs).toHaveLength(1)
    // A provider that answers again is not suspect; one that missed a period is.
    shard0 = {}
    await keeper.checkNow()
    expect(client.repairs).toHaveLength(1)
    shard0 = { missed: 1, state: 'live' }
    await keeper.checkNow()
    expect(client.repairs).toHaveLength(2)
    // A miss long ago, with every period since proven (none in the recent window), is not suspect any more.
    shard0 = { missed: 1, recent: 0, state: 'live' }
    await keeper.checkNow()
    expect(client.repairs).toHaveLength(2)
  })

  it('not to repair a segment below k (it cannot be rebuilt; suspect shards may come back)', async () => {
    const dir = await tempDir()
    const a = await fileLinks(2, 1)
    const client = new FakeClient((cid) => fileStat(cid, 2, 1, (i) => (i > 0 ? { online: false } : {})))
    await (await KeeperStore.open(dir)).add(a.repair)
    const keeper = keeperWith(dir, client)
    await keeper.start()
    await keeper.checkNow()
    expect(client.repairs).toHaveLength(0)
    expect(keeper.metrics.segments.belowK).toBe(1)
    expect(keeper.status().files[0]!.segments![0]).toMatchObject({ belowK: true, healthy: 1 })
  })

  it('that a deal whose paid term is over is ended, not a failure: not counted as failed, not repaired, reported', async () => {
    const dir = await tempDir()
    const a = await fileLinks(4, 2)
    // Every deal of the file ended (one term for all): before, each counted as failed and the segment showed as
    // below k; two ended with the rest live is the same, it must not start a repair either.
    let endedShards = 6
    const client = new FakeClient((cid) => fileStat(cid, 4, 2, (i) => (i < endedShards ? { state: 'ended' } : {})))
    await (await KeeperStore.open(dir)).add(a.repair)
    const events: KeeperEvent[] = []
    const keeper = keeperWith(dir, client, { budget: 1_000n }, events)
    await keeper.start()
    await keeper.checkNow()
    expect(client.repairs).toHaveLength(0)
    expect(client.extends).toHaveLength(0)
    expect(keeper.status().files[0]!.segments![0]).toMatchObject({ ended: 6, failed: 0, belowK: false, repair: false })
    expect(keeper.metrics.segments.belowK).toBe(0)
    expect(events).toContainEqual({
      type: 'keeper:ended',
      fileId: keeper.store!.files[0]!.id,
      cid: parseCapability(a.repair).cid.toString(),
      shards: 6
    })
    endedShards = 2
    await keeper.checkNow()
    expect(client.repairs).toHaveLength(0)
    expect(keeper.status().files[0]!.segments![0]).toMatchObject({ ended: 2, failed: 0, repair: false })
  })

  it('to repair a shard that failed during the term in a segment whose other deals partly ended, leaving those', async () => {
    const dir = await tempDir()
    const a = await fileLinks(4, 2)
    const b = await fileLinks(4, 2)
    // Shard 0's deal ran its (shorter) term, shard 1's failed while the file is still paid for: the user paid for
    // the file to survive its term, so the failure is repaired (4 healthy ≤ threshold 5); the ended deal is not
    // renewed, by the policy (not in the rebuild) and by the repair it starts (leaveEnded). The repaired version b
    // keeps the ended shard: 5 healthy is still at the threshold, but there is nothing left to rebuild.
    const aCid = parseCapability(a.repair).cid.toString()
    const client = new FakeClient((cid) =>
      fileStat(cid, 4, 2, (i) => (i === 0 ? { state: 'ended' } : i === 1 && cid === aCid ? { state: 'failed' } : {}))
    )
    client.nextLinks.push(b.repair)
    await (await KeeperStore.open(dir)).add(a.repair)
    const events: KeeperEvent[] = []
    const keeper = keeperWith(dir, client, {}, events)
    await keeper.start()
    await keeper.checkNow()
    expect(events.find((e) => e.type === 'keeper:checked' && e.cid === aCid)).toMatchObject({
      segments: [{ ended: 1, failed: 1, healthy: 4, belowK: false, repair: true }]
    })
    expect(client.repairs.map((r) => r.link)).toEqual([a.repair])
    expect(client.repairs[0]!.options?.leaveEnded).toBe(true)
    expect(keeper.status().files[0]!.segments![0]).toMatchObject({ ended: 1, failed: 0, healthy: 5, repair: false })
    // Past the file's term (the failed deal's own end passed too) nothing is repaired and nothing is below k.
    const past = Date.now() - 1_000
    client.world = (cid) =>
      fileStat(cid, 4, 2, (i) => (i === 1 ? { state: 'failed', endsAtMs: past } : { state: 'ended', endsAtMs: past }))
    await keeper.checkNow()
    expect(client.repairs).toHaveLength(1)
    expect(keeper.status().files[0]!.segments![0]).toMatchObject({ ended: 5, failed: 1, belowK: false, repair: false })
    expect(keeper.metrics.segments.belowK).toBe(0)
  })

  it('to extend deals ending within the lead while the budget lasts, counting what it spent across restarts', async () => {
    const dir = await tempDir()
    const a = await fileLinks(2, 1)
    const soon = Date.now() + 3_600_000
    const client = new FakeClient((cid) => fileStat(cid, 2, 1, () => ({ endsAtMs: soon })))
    await (await KeeperStore.open(dir)).add(a.repair)
    const events: KeeperEvent[] = []
    // costPerPeriod 10 × 2 periods = 20 per extension; a budget of 50 pays for two.
    const first = keeperWith(dir, client, { budget: 50n, extendPeriods: 2, extendLeadMs: 86_400_000 }, events)
    await first.start()
    await first.checkNow()
    await first.stop()
    expect(client.extends).toEqual([
      { link: a.repair, periods: 2 },
      { link: a.repair, periods: 2 }
    ])
    expect((await KeeperStore.open(dir)).state.extendSpent).toBe('40')
    const second = keeperWith(dir, client, { budget: 50n, extendPeriods: 2, extendLeadMs: 86_400_000 }, events)
    await second.start()
    await second.checkNow()
    expect(client.extends).toHaveLength(2)
    expect(
      events.some(
        (e) => e.type === 'keeper:extend-skipped' && /budget is spent: 40 of 50 used, 20 needed/.test(e.reason)
      )
    ).toBe(true)
    expect(second.status().budget).toEqual({ limit: '50', spent: '40' })
  })

  it('nothing at all about extending without a budget', async () => {
    const dir = await tempDir()
    const a = await fileLinks(2, 1)
    const client = new FakeClient((cid) => fileStat(cid, 2, 1, () => ({ endsAtMs: Date.now() })))
    await (await KeeperStore.open(dir)).add(a.repair)
    const keeper = keeperWith(dir, client)
    await keeper.start()
    await keeper.checkNow()
    expect(client.extends).toHaveLength(0)
  })
})

describe('a keeper stopped mid-repair', () => {
  it('recorded its intent and the deal it opened, and the next keeper finishes the repair adopting that deal', async () => {
    const dir = await tempDir()
    const a = await fileLinks(2, 1)
    const b = await fileLinks(2, 1)
    const client = new FakeClient((cid) =>
      fileStat(cid, 2, 1, (i) =>
        cid === parseCapability(a.repair).cid.toString() && i === 2 ? { state: 'failed' } : {}
      )
    )
    client.hangRepair = true
    client.openDeals = [{ segmentIndex: 0, shardIndex: 2, provider: 'p9', dealId: 77n }]
    await (await KeeperStore.open(dir)).add(a.repair)
    const events: KeeperEvent[] = []
    const first = keeperWith(dir, client, {}, events)
    await first.start()
    const pass = first.checkNow().catch((err: Error) => err)
    await expect.poll(() => events.some((e) => e.type === 'keeper:deal-recorded'), { timeout: 10_000 }).toBe(true)
    await first.stop()
    expect(await pass).toBeInstanceOf(Error)
    const stored = (await KeeperStore.open(dir)).files[0]!
    expect(stored.intent).toMatchObject({
      fromCid: parseCapability(a.repair).cid.toString(),
      segments: [0],
      deals: [{ segmentIndex: 0, shardIndex: 2, provider: 'p9', dealId: '77' }]
    })
    expect(stored.link).toBe(a.repair)

    client.hangRepair = false
    client.openDeals = []
    client.nextLinks.push(b.repair)
    const second = keeperWith(dir, client)
    await second.start()
    await second.checkNow()
    const resumed = client.repairs.at(-1)!
    expect(resumed.link).toBe(a.repair)
    expect(resumed.options?.adopt).toEqual([{ segmentIndex: 0, shardIndex: 2, provider: 'p9', dealId: 77n }])
    const done = second.store!.files[0]!
    expect(done.intent).toBeUndefined()
    expect(done.link).toBe(b.repair)
    await second.checkNow()
    expect(client.repairs).toHaveLength(2)
  })
})

describe("the keeper's fault-injection point (pause)", () => {
  it('holds a repair that returned, after its deals are recorded and before its result is, and is off by default', async () => {
    const dir = await tempDir()
    const a = await fileLinks(2, 1)
    const b = await fileLinks(2, 1)
    const client = new FakeClient((cid) =>
      fileStat(cid, 2, 1, (i) =>
        cid === parseCapability(a.repair).cid.toString() && i === 2 ? { state: 'failed' } : {}
      )
    )
    client.openDeals = [{ segmentIndex: 0, shardIndex: 2, provider: 'p9', dealId: 78n }]
    client.nextLinks.push(b.repair)
    await (await KeeperStore.open(dir)).add(a.repair)
    const paused: Array<{ point: string; fileId: string; dealIds: string[]; stored: ReturnType<KeeperStore['file']> }> =
      []
    const first = keeperWith(dir, client, {
      pause: async (point, detail, signal) => {
        paused.push({
          point,
          fileId: detail.fileId,
          dealIds: detail.deals.map((d) => d.dealId),
          stored: (await KeeperStore.open(dir)).file(detail.fileId)
        })
        await new Promise((_resolve, reject) => {
          signal.addEventListener(
            'abort',
            () => {
              reject(signal.reason)
            },
            { once: true }
          )
        })
      }
    })
    await first.start()
    const pass = first.checkNow().catch((err: Error) => err)
    await expect.poll(() => paused.length, { timeout: 10_000 }).toBe(1)
    // The SDK repair returned b, yet the store still names a, with the deal in the intent: a crash here must adopt it.
    expect(paused[0]).toMatchObject({ point: 'deals-recorded', dealIds: ['78'] })
    expect(paused[0]!.stored?.link).toBe(a.repair)
    expect(paused[0]!.stored?.intent?.deals.map((d) => d.dealId)).toEqual(['78'])
    await first.stop()
    expect(await pass).toBeInstanceOf(Error)
    expect((await KeeperStore.open(dir)).files[0]!.intent?.deals.map((d) => d.dealId)).toEqual(['78'])

    // Without the hook (the default) the same repair records its result.
    client.openDeals = []
    client.nextLinks.push(b.repair)
    const second = keeperWith(dir, client)
    await second.start()
    await second.checkNow()
    expect(client.repairs.at(-1)!.options?.adopt).toEqual([
      { segmentIndex: 0, shardIndex: 2, provider: 'p9', dealId: 78n }
    ])
    expect(second.store!.files[0]!.link).toBe(b.repair)
    expect(second.store!.files[0]!.intent).toBeUndefined()
  })

  it('is not reached by a repair that opened no deal', async () => {
    const dir = await tempDir()
    const a = await fileLinks(2, 1)
    const b = await fileLinks(2, 1)
    const client = new FakeClient((cid) =>
      fileStat(cid, 2, 1, (i) =>
        cid === parseCapability(a.repair).cid.toString() && i === 2 ? { state: 'failed' } : {}
      )
    )
    client.nextLinks.push(b.repair)
    await (await KeeperStore.open(dir)).add(a.repair)
    let pauses = 0
    const keeper = keeperWith(dir, client, {
      pause: async () => {
        pauses++
      }
    })
    await keeper.start()
    await keeper.checkNow()
    expect(pauses).toBe(0)
    expect(keeper.store!.files[0]!.link).toBe(b.repair)
  })
})

describe('the keeper store', () => {
  it('is a 0600 file in a 0700 directory; add is idempotent, remove takes an id, a CID or a link', async () => {
    const dir = await tempDir()
    const a = await fileLinks(2, 1)
    const store = await KeeperStore.open(dir)
    expect((await fsStat(dir)).mode & 0o777).toBe(0o700)
    expect((await store.add(a.repair)).added).toBe(true)
    expect((await store.add(a.repair)).added).toBe(false)
    // The full link of the same file is the same file.
    expect((await store.add(a.full)).added).toBe(false)
    expect((await fsStat(store.path)).mode & 0o777).toBe(0o600)
    expect(store.files).toHaveLength(1)
    expect(store.files[0]!.capability).toBe('repair')
    await expect(store.remove('bafyreinotkept')).rejects.toThrow(KeeperStoreError)
    await store.remove(a.full)
    expect((await KeeperStore.open(dir)).files).toHaveLength(0)
  })

  it('refuses a corrupt or foreign keeper.json and leaves it as it is', async () => {
    const dir = await tempDir()
    const store = await KeeperStore.open(dir)
    await writeFile(store.path, '{"format": 9, "files": []}')
    await expect(KeeperStore.open(dir)).rejects.toThrow(/not a keeper store of format 1/)
    await writeFile(store.path, '{oops')
    await expect(KeeperStore.open(dir)).rejects.toThrow(KeeperStoreError)
    expect(await readFile(store.path, 'utf8')).toBe('{oops')
  })

  it('takes adds from another process while a keeper runs (each change re-reads the file)', async () => {
    const dir = await tempDir()
    const [a, b] = [await fileLinks(2, 1), await fileLinks(2, 1)]
    const client = new FakeClient((cid) => fileStat(cid, 2, 1))
    const keeper = keeperWith(dir, client)
    await keeper.start()
    await (await KeeperStore.open(dir)).add(a.repair)
    await keeper.checkNow()
    await (await KeeperStore.open(dir)).add(b.full)
    await keeper.checkNow()
    expect(keeper.status().files.map((f) => f.capability)).toEqual(['repair', 'read'])
  })
})

describe("the keeper's HTTP API", () => {
  it('serves /health, /status without any key, and /metrics in the Prometheus text format on 127.0.0.1', async () => {
    const dir = await tempDir()
    const a = await fileLinks(2, 1)
    const client = new FakeClient((cid) => fileStat(cid, 2, 1))
    await (await KeeperStore.open(dir)).add(a.full)
    const keeper = keeperWith(dir, client, { httpPort: 0 })
    await keeper.start()
    await keeper.checkNow()
    expect(keeper.httpUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
    expect(await (await fetch(`${keeper.httpUrl!}/health`)).json()).toEqual({ ok: true })
    const statusText = await (await fetch(`${keeper.httpUrl!}/status`)).text()
    const status = JSON.parse(statusText) as { files: Array<{ cid: string; segments: unknown[] }>; running: boolean }
    expect(status.running).toBe(true)
    expect(status.files[0]!.cid).toBe(parseCapability(a.full).cid.toString())
    expect(statusText).not.toContain(a.full.split('#')[1]!)
    const metrics = await fetch(`${keeper.httpUrl!}/metrics`)
    expect(metrics.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/)
    const text = await metrics.text()
    expect(text).toMatch(/^# HELP sherd_keeper_passes_total /m)
    expect(text).toMatch(/^sherd_keeper_passes_total [1-9]/m)
    expect(text).toMatch(/^sherd_keeper_segments\{state="healthy"\} 1$/m)
    expect(text).toMatch(/^sherd_keeper_files 1$/m)
    await keeper.stop()
    await expect(fetch(`${keeper.httpUrl ?? 'http://127.0.0.1:1'}/health`)).rejects.toThrow()
  })

  it('refuses a bad configuration with a typed error', async () => {
    const dir = await tempDir()
    const client = new FakeClient((cid) => fileStat(cid, 2, 1))
    expect(() => createKeeper({ dir, pollIntervalMs: 5 }, { client })).toThrow(KeeperConfigError)
    expect(() => createKeeper({ dir, budget: -1n }, { client })).toThrow(KeeperConfigError)
    const keeper = createKeeper({ dir }, { client })
    await expect(keeper.checkNow()).rejects.toThrow(/not started/)
  })
})
