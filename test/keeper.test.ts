// The keeper on a devnet (real anvil, real sherd-node processes): given only a file's repair capability, it repairs
// the file after a provider is killed, on its own, and a keeper stopped in the middle of that repair loses nothing.
import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createClient, createKeeper, KeeperStore } from '@sherd/client'
import type { Keeper, KeeperClient, KeeperEvent, KeeperInit, SherdClient } from '@sherd/client'
import {
  deriveRepairKey,
  formatLink,
  formatRepairLink,
  parseCapability,
  parseLink,
  RepairCapabilityError
} from '@sherd/protocol'
import { tempDir, waitFor } from '@sherd/test-support'
import { randomBytes, readAll, sha256, startNetwork, TEST_DEAL_PERIODS } from './helpers.js'
import type { Network } from './helpers.js'

describe('the keeper, with a repair capability only', () => {
  let net: Network
  let keeperClient: SherdClient
  let dir: string
  let link: string
  let capability: string
  let digest: string
  const keepers: Keeper[] = []

  beforeAll(async () => {
    // 2+1: the default threshold is k + 1 = 3 = k + m, so the keeper repairs at the first loss. Five providers: three
    // hold the shards, two are free to take a rebuilt one.
    net = await startNetwork({ providers: 5, client: { k: 2, m: 1 } })
    const data = randomBytes(300 * 1024)
    digest = sha256(data)
    const put = await net.client.put(data)
    link = put.link
    const { cid, key } = parseLink(link)
    capability = formatRepairLink(cid, await deriveRepairKey(key))
    // The keeper's own client (its own libp2p identity), paying from the devnet's client account.
    keeperClient = createClient({
      rpcUrl: net.devnet.rpcUrl,
      contract: net.devnet.market,
      account: net.devnet.client.privateKey,
      bootstrap: net.devnet.bootstrap,
      periods: TEST_DEAL_PERIODS
    })
    await keeperClient.start()
    dir = join(await tempDir('sherd-keeper-e2e-'), 'keeper')
  }, 240_000)

  afterAll(async () => {
    for (const k of keepers) await k.stop()
    await keeperClient?.stop()
    await net?.stop()
    if (dir !== undefined) await rm(join(dir, '..'), { recursive: true, force: true })
  })

  function keeper(
    events: KeeperEvent[],
    onEvent?: (e: KeeperEvent) => void,
    init: Partial<KeeperInit> = {},
    withMarket = false,
    client: KeeperClient = keeperClient
  ): Keeper {
    const k: Keeper = createKeeper(
      {
        dir,
        pollIntervalMs: 1_000,
        // A provider that does not answer one probe is lost: the test kills it for good.
        liveness: { suspectAfterMissed: 1, suspectAfterMs: 1 },
        repairPeriods: TEST_DEAL_PERIODS,
        httpPort: 0,
        onEvent: (e) => {
          events.push(e)
          onEvent?.(e)
        },
        ...init
      },
      {
        client,
        ...(withMarket ? { market: { market: net.devnet.market, publicClient: net.devnet.publicClient } } : {})
      }
    )
    keepers.push(k)
    return k
  }

  it('refuses to read the file with the capability (typed error), and stats it', async () => {
    await expect(readAll(net.client, capability)).rejects.toThrow(RepairCapabilityError)
    const s = await keeperClient.stat(capability)
    expect(s.healthy).toBe(true)
  })

  it("repairs a killed provider's shard unaided; stopped mid-repair, the next keeper finishes it with the deal already paid", async () => {
    const store = await KeeperStore.open(dir)
    await store.add(capability)
    const firstEvents: KeeperEvent[] = []
    // Stopped the moment the repair has recorded the deal it paid for (the keeper aborts its repair at once; the
    // deal's activation, which the repair waits for, takes at least a block): a keeper killed mid-repair.
    let stopping: Promise<void> | undefined
    // On ProofSetMarket a repair does not wait for an activation, so it can return before the stop lands: the
    // first keeper's client holds the repair's result until the keeper is stopped, i.e. the keeper is killed after
    // the deal and the new manifest exist and before it recorded them (the case docs/keeper.md describes).
    const held: KeeperClient = {
      stat: async (t, o) => await keeperClient.stat(t, o),
      extend: async (t, p, o) => await keeperClient.extend(t, p, o),
      repair: async (t, o) => {
        const r = await keeperClient.repair(t, o)
        const signal = o?.signal
        await new Promise<void>((resolve, reject) => {
          if (signal === undefined) {
            resolve()
            return
          }
          if (signal.aborted) {
            reject(signal.reason as Error)
            return
          }
          signal.addEventListener(
            'abort',
            () => {
              reject(signal.reason as Error)
            },
            { once: true }
          )
        })
        return r
      }
    }
    const first = keeper(
      firstEvents,
      (e) => {
        if (e.type === 'keeper:deal-recorded') stopping ??= first.stop()
      },
      {},
      false,
      held
    )
    await first.start()
    await waitFor('a first check', () => firstEvents.some((e) => e.type === 'keeper:checked'), 60_000)
    expect(firstEvents.some((e) => e.type === 'keeper:repair-started')).toBe(false)

    const manifest = await net.client.getManifest(link)
    const victim = net.devnet.providers.find((p) => p.peerId === manifest.segments[0]!.shards[0]!.provider)!
    await victim.kill()

    await waitFor('the repair to open its deal', () => stopping !== undefined, 180_000, 50)
    await stopping
    const recorded = firstEvents.find((e) => e.type === 'keeper:deal-recorded')
    if (recorded?.type !== 'keeper:deal-recorded') throw new Error('unreachable')
    expect(firstEvents.some((e) => e.type === 'keeper:repaired')).toBe(false)
    const afterStop = (await KeeperStore.open(dir)).files[0]!
    expect(afterStop.link).toBe(capability)
    expect(afterStop.intent?.deals.map((d) => d.dealId)).toEqual([recorded.deal.dealId])

    const secondEvents: KeeperEvent[] = []
    const second = keeper(secondEvents)
    await second.start()
    await waitFor(
      'the repair to be recorded',
      async () => (await KeeperStore.open(dir)).files[0]!.intent === undefined,
      180_000
    )
    expect(secondEvents.find((e) => e.type === 'keeper:repair-started')).toMatchObject({ adopting: 1 })
    // No deal was opened twice: the second keeper took the first one's deal.
    expect(secondEvents.filter((e) => e.type === 'keeper:deal-recorded')).toEqual([])

    const kept = (await KeeperStore.open(dir)).files[0]!
    expect(kept.link).toMatch(/#r=/)
    expect(kept.history).toEqual([parseLink(link).cid.toString()])
    const { cid: newCid } = parseCapability(kept.link)
    const latest = formatLink(newCid, parseLink(link).key)
    const repaired = await net.client.getManifest(latest)
    const shard = repaired.segments[0]!.shards[recorded.deal.shardIndex]!
    expect(shard.deal).toBe(BigInt(recorded.deal.dealId))
    expect(shard.provider).toBe(recorded.deal.provider)
    const providers = repaired.segments[0]!.shards.map((s) => s.provider)
    expect(new Set(providers).size).toBe(providers.length)
    expect(providers).not.toContain(victim.peerId)

    // The owner reads it back byte-identical: with the key and the current CID, and with the original link (whose
    // manifest still names k = 2 live shards).
    expect(sha256(await readAll(net.client, latest))).toBe(digest)
    expect(sha256(await readAll(net.client, link))).toBe(digest)
    await waitFor('every shard healthy', async () => (await keeperClient.stat(kept.link)).healthy, 60_000)

    // /status names the current CID and no key.
    const status = await (await fetch(`${second.httpUrl!}/status`)).text()
    expect(status).toContain(newCid.toString())
    expect(status).not.toContain(kept.link.split('#r=')[1]!)
    expect(await (await fetch(`${second.httpUrl!}/metrics`)).text()).toMatch(
      /^sherd_keeper_repairs_total\{outcome="ok"\} [1-9]/m
    )
  }, 480_000)

  it("follows the market: a provider's missed period triggers a check and the repair at once, with no poll due", async () => {
    // The earlier keepers (polling every second) would repair first: this one must be the only one running.
    for (const running of keepers) await running.stop()
    const events: KeeperEvent[] = []
    // One pass at start, then nothing for ten minutes: only a market event can start this repair. Silence alone
    // does not count (an hour), a missed period on chain does.
    const k = keeper(
      events,
      undefined,
      { pollIntervalMs: 600_000, eventIntervalMs: 500, liveness: { suspectAfterMissed: 1, suspectAfterMs: 3_600_000 } },
      true
    )
    await k.start()
    await waitFor('a first check', () => events.some((e) => e.type === 'keeper:checked'), 60_000)
    expect(events.some((e) => e.type === 'keeper:repair-started')).toBe(false)
    const kept = (await KeeperStore.open(dir)).files[0]!
    const before = (await keeperClient.stat(kept.link)).segments[0]!.shards
    // A holder that the original manifest names too: with it gone, the original version has one live shard of three.
    const original = (await net.client.getManifest(link)).segments[0]!.shards.map((sh) => sh.provider)
    const holder = before.find(
      (sh) =>
        sh.provider !== undefined &&
        original.includes(sh.provider) &&
        net.devnet.providers.some((p) => p.peerId === sh.provider && p.state === 'running')
    )!
    const victim = net.devnet.providers.find((p) => p.peerId === holder.provider)!
    await victim.kill()

    await waitFor(
      'the repair after a market event',
      () => events.some((e) => e.type === 'keeper:repaired'),
      240_000
    ).catch((err: Error) => {
      throw new Error(
        `${err.message}; the keeper's events: ${JSON.stringify(events.filter((e) => e.type !== 'keeper:checked').map((e) => (e.type === 'keeper:market-event' ? `${e.event.eventName} ${e.event.provider}` : e.type === 'keeper:pass' ? e.type : JSON.stringify(e, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)))))}; killed ${holder.chainAddress}`
      )
    })
    const firstEvent = events.findIndex((e) => e.type === 'keeper:market-event')
    const started = events.findIndex((e) => e.type === 'keeper:repair-started')
    expect(firstEvent).toBeGreaterThanOrEqual(0)
    expect(started).toBeGreaterThan(firstEvent)
    const seen = events[firstEvent]
    if (seen?.type !== 'keeper:market-event') throw new Error('unreachable')
    expect(seen.event.provider).toBe(holder.chainAddress!.toLowerCase())
    expect(['PeriodMissed', 'DealFailed', 'DealFaulted']).toContain(seen.event.eventName)
    expect(seen.event.fileIds).toEqual([kept.id])
    // Still only the start-up pass: the check came from the event.
    expect(events.filter((e) => e.type === 'keeper:pass')).toHaveLength(1)
    // The cursor is stored: a restart reads on from there.
    expect(BigInt((await KeeperStore.open(dir)).state.eventCursor!)).toBeGreaterThanOrEqual(seen.event.blockNumber)
    expect(await (await fetch(`${k.httpUrl!}/metrics`)).text()).toMatch(
      /^sherd_keeper_market_events_total\{event="(PeriodMissed|DealFailed|DealFaulted)"\} [1-9]/m
    )
    const after = (await KeeperStore.open(dir)).files[0]!
    expect(sha256(await readAll(net.client, formatLink(parseCapability(after.link).cid, parseLink(link).key)))).toBe(
      digest
    )

    // The original link: its manifest names two killed providers, so on its own it no longer reads (2+1 needs two
    // shards); the keeper published the newest version, signed under the repair key, and get follows it.
    await waitFor(
      'the latest version published',
      () => events.some((e) => e.type === 'keeper:published' && e.cid === parseCapability(after.link).cid.toString()),
      60_000
    )
    await expect(readAll(net.client, link, { followLatest: false })).rejects.toThrow()
    expect(sha256(await readAll(net.client, link))).toBe(digest)
  }, 360_000)
})
