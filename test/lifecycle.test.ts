// The life of a file on ProofSetMarket, end to end against a devnet of real sherd-node processes: stored,
// proven period after period, claimed; extended in one transaction except where a provider's term limit refuses
// it; audited and answered; audited with its provider down, failed for the reward, repaired; read back.
import { afterAll, describe, expect, it } from 'vitest'
import {
  claimProofSetDeals,
  getProofSetDeal,
  getProofSetProvider,
  readProofSetEvents,
  setProofSetMaxTerm
} from '@sherd/contracts'
import type { MarketClient } from '@sherd/contracts'
import { createWalletClient, http, isAddressEqual } from 'viem'
import { anvilAccount, waitFor } from '@sherd/test-support'
import {
  expectTransactionsOfBounded,
  randomBytes,
  readAll,
  sha256,
  shardsOf,
  startNetwork,
  TEST_DEAL_PERIODS
} from './helpers.js'
import type { Network } from './helpers.js'

/** Periods every deal must have proven (and be paid for) before the rest of the story. */
const PERIODS_TO_PROVE = 3

/** A market client acting as the devnet account with `address` (the devnet's accounts come from anvil's mnemonic). */
function walletOf(net: Network, address: `0x${string}`): MarketClient {
  for (let i = 0; i < 64; i++) {
    const account = anvilAccount(i)
    if (isAddressEqual(account.address, address)) {
      return {
        market: net.devnet.market,
        publicClient: net.devnet.publicClient,
        walletClient: createWalletClient({ account, chain: net.devnet.chain, transport: http(net.devnet.rpcUrl) })
      }
    }
  }
  throw new Error(`${address} is not one of the first 64 anvil accounts`)
}

describe('the life of a file', () => {
  let net: Network | undefined
  afterAll(async () => {
    await net?.stop()
  })

  it(`is proven and paid over ${PERIODS_TO_PROVE} periods, extended within each provider's term limit, audited, repaired after a failed audit, and read back`, async () => {
    net = await startNetwork({ providers: 4, client: { k: 2, m: 1 } })
    const { devnet, client } = net
    const mc = devnet.marketClient()
    const data = randomBytes(3 * 1024 * 1024 + 12_345)
    const put = await client.put(data)
    const shards = shardsOf(devnet, put)
    expect(shards).toHaveLength(3)
    expect(new Set(shards.map((s) => s.provider.index)).size).toBe(3)
    const ids = shards.map((s) => s.dealId)
    // One openDeals transaction opened all three.
    const opened = await readProofSetEvents(mc, {
      eventName: 'DealOpened',
      args: { client: devnet.client.address },
      fromBlock: devnet.genesisBlock
    })
    expect(new Set(opened.filter((l) => ids.includes(l.args.dealId)).map((l) => l.transactionHash)).size).toBe(1)

    // Live from the start, then proven period after period by each provider's proof set.
    const first = await client.stat(put.link, { probe: false })
    expect(first.segments[0]!.shards.map((s) => s.state)).toEqual(['live', 'live', 'live'])
    let proven = first
    await waitFor(
      `${PERIODS_TO_PROVE} proven periods per deal`,
      async () => {
        proven = await client.stat(put.link, { probe: false })
        return proven.segments[0]!.shards.every((s) => (s.provenPeriods ?? 0) >= PERIODS_TO_PROVE)
      },
      (PERIODS_TO_PROVE + 4) * devnet.params.periodBlocks * 1_000 + 60_000,
      1_000
    )
    for (const s of proven.segments[0]!.shards) {
      expect(s.state).toBe('live')
      expect(s.missedPeriods, `deal ${s.dealId} missed no period`).toBe(0)
    }

    // A claim (anyone may send it) pays each provider its proven periods out of the escrow, and nothing twice.
    const before = await Promise.all(ids.map(async (id) => await getProofSetDeal(mc, id)))
    await claimProofSetDeals(mc, ids)
    for (const [i, id] of ids.entries()) {
      const d = await getProofSetDeal(mc, id)
      expect(d.paidFrom - d.startPeriod).toBeGreaterThanOrEqual(BigInt(PERIODS_TO_PROVE))
      expect(d.escrow).toBe(d.pricePerPeriod * (d.endPeriod - d.paidFrom))
      expect(d.escrow).toBeLessThanOrEqual(before[i]!.escrow)
    }

    // The first shard's provider accepts terms of 70 periods only: extending by 10 passes it, so that deal is left
    // out with the reason while the other two are extended in one transaction.
    const limited = shards[0]!.provider
    await setProofSetMaxTerm(walletOf(net, limited.chainAddress), TEST_DEAL_PERIODS + 6)
    expect((await getProofSetProvider(mc, limited.chainAddress)).maxTermPeriods).toBe(TEST_DEAL_PERIODS + 6)
    const ext = await client.extend(put.link, 10)
    expect(ext.extended.map((e) => e.dealId)).toEqual(ids.slice(1))
    expect(ext.skipped).toEqual([
      expect.objectContaining({
        dealId: ids[0],
        reason: expect.stringMatching(
          /a term of 74 periods is beyond its provider's limit of 70 \(maxTermPeriods\): extend by at most 6/
        )
      })
    ])
    for (const [i, id] of ids.entries()) {
      const d = await getProofSetDeal(mc, id)
      expect(d.endPeriod - d.startPeriod).toBe(BigInt(TEST_DEAL_PERIODS + (i === 0 ? 0 : 10)))
    }

    // An audit of every shard: the providers answer within the next period.
    const answered = await client.audit(put.link)
    expect(answered.audits.map((a) => a.result)).toEqual(['answered', 'answered', 'answered'])

    // With the second shard's provider down, its audit goes unanswered: failed for the reward, the deal faulted.
    const down = shards[1]!.provider
    await down.kill()
    const failed = await client.audit(put.link, { shards: [{ segmentIndex: 0, shardIndex: 1 }] })
    expect(failed.audits).toHaveLength(1)
    expect(failed.audits[0]!.result).toBe('failed')
    expect(failed.audits[0]!.reward).toBeGreaterThan(0n)
    expect(failed.withdrawn).toBeGreaterThan(0n)
    expect((await getProofSetDeal(mc, ids[1]!)).state).toBe('faulted')

    // Repair moves that shard to the provider holding none of the file, through the journal, and the file reads
    // back byte for byte from the new version.
    const repaired = await client.repair(put.link)
    expect(repaired.repaired).toHaveLength(1)
    expect(repaired.repaired[0]).toMatchObject({ segmentIndex: 0, shardIndex: 1, previousState: 'faulted' })
    const spare = devnet.providers.find((p) => !shards.some((s) => s.provider.index === p.index))!
    expect(repaired.repaired[0]!.to).toBe(spare.peerId)
    expect(repaired.journal?.id).toBeDefined()
    expect(sha256(await readAll(client, repaired.link))).toBe(sha256(data))
    const after = await client.stat(repaired.link, { probe: false })
    expect(after.segments[0]!.shards.map((s) => s.state)).toEqual(['live', 'live', 'live'])

    // Every transaction the client sent (approvals, openDeals, claim, extendDeals, audits, withdrawals) fits a real chain.
    const bounded = await expectTransactionsOfBounded(devnet, devnet.client.address)
    expect(bounded.count).toBeGreaterThanOrEqual(8)
    console.log(
      `client transactions: ${bounded.count}, largest ${bounded.maxBytes} calldata bytes, ${bounded.maxGas} gas`
    )

    await net.stop()
  }, 420_000)
})
