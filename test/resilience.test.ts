import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { waitFor } from '@sherd/test-support'
import {
  deals,
  periodNow,
  periodStatus,
  randomBytes,
  readAll,
  sha256,
  shardsOf,
  startNetwork,
  waitForPeriodOffset
} from './helpers.js'
import type { Network, PlacedShard } from './helpers.js'

/** Periods watched after each disturbance: every one of them must be proven by every deal. */
const PERIODS_AFTER = 2

describe('no period is missed when', () => {
  let net: Network
  let shards: PlacedShard[]
  let ids: bigint[]
  let link: string
  let digest: string
  let periodMs: number

  beforeAll(async () => {
    // The providers reach anvil through a TCP proxy the test can take down; the client talks to anvil directly.
    net = await startNetwork({ providers: 3, rpcProxy: true, client: { k: 2, m: 1 } })
    periodMs = net.devnet.params.periodBlocks * 1_000
    const data = randomBytes(1024 * 1024)
    digest = sha256(data)
    const put = await net.client.put(data)
    link = put.link
    shards = shardsOf(net.devnet, put)
    ids = shards.map((s) => s.dealId)
    const starts = (await deals(net.devnet, ids)).map((d) => d.startPeriod)
    await waitFor(
      'a first proven period',
      async () => {
        for (const [i, s] of shards.entries())
          if ((await periodStatus(net.devnet, s.provider, starts[i]!)) !== 'proven') return false
        return true
      },
      3 * periodMs + 30_000,
      500
    )
  }, 180_000)
  afterAll(async () => {
    await net?.stop()
  })

  /** Waits until `PERIODS_AFTER` periods after `from` have closed, then checks that every provider proved all of them on time. */
  async function expectEveryPeriodProven(from: bigint): Promise<void> {
    await waitFor(
      `period ${from + BigInt(PERIODS_AFTER)} to close`,
      async () => (await periodNow(net.devnet)).period > from + BigInt(PERIODS_AFTER),
      (PERIODS_AFTER + 2) * periodMs
    )
    for (const s of shards) {
      for (let p = from; p <= from + BigInt(PERIODS_AFTER); p++) {
        expect(
          await periodStatus(net.devnet, s.provider, p),
          `provider ${s.provider.index} (deal ${s.dealId}) in period ${p}`
        ).toBe('proven')
      }
    }
    expect((await deals(net.devnet, ids)).map((d) => [d.state, d.missed])).toEqual(ids.map(() => ['live', 0]))
  }

  it('a provider is restarted mid-period, and another is killed and started again', async () => {
    const [restarted, killed] = shards
    // Half-way into a period: its proof for this period may or may not be in yet.
    const P = BigInt(net.devnet.params.periodBlocks)
    const period = await waitForPeriodOffset(net.devnet, P / 2n)
    await Promise.all([
      restarted!.provider.restart(),
      (async () => {
        await killed!.provider.kill()
        await killed!.provider.start()
      })()
    ])
    expect((await periodNow(net.devnet)).period, 'both were back within the same period').toBe(period)
    await expectEveryPeriodProven(period)
    // Their own records survived the restart (the ledger lives in the data dir).
    for (const s of [restarted!, killed!]) {
      expect((await s.provider.status()).chain.periodsProven).toBeGreaterThanOrEqual(PERIODS_AFTER)
    }
    // And they serve their shards again: the file reads back from the two of them (the data shards).
    const servedBy = new Set<string>()
    const read = await readAll(net.client, link, {
      onProgress: (e) => {
        if (e.type === 'get:shard-fetched') servedBy.add(e.provider)
      }
    })
    expect(sha256(read)).toBe(digest)
    expect([...servedBy].sort()).toEqual([restarted!.provider.peerId, killed!.provider.peerId].sort())
  }, 120_000)

  it("the providers' RPC endpoint goes away for half a period", async () => {
    const proxy = net.devnet.rpcProxy!
    // From the first block of a period, across its challenge block and into its proof window.
    const period = await waitForPeriodOffset(net.devnet, 0n)
    await proxy.stop()
    await new Promise((resolve) => setTimeout(resolve, periodMs / 2))
    await proxy.start()
    await expectEveryPeriodProven(period)
  }, 120_000)
})
