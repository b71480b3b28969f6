// Provider nodes with the wired ProofSetProver on anvil (a block every 0.5 s, 8-block periods): a node proves and
// claims its deals and shows them on /status in tokens; a node watching another that went down marks its missed
// periods, commits the seeds nobody committed, fails its unanswered audit and claims its deal into failure; a node
// that comes back answers the periods it owes with those seeds; a reorg that drops a proof is proven again and
// counted once. Every transaction a node sent fits a real chain.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  getProofSetDeal,
  getProofSetPeriodStatus,
  getProofSetProvider,
  openProofSetDeals,
  readProofSetEvents,
  requestProofSetAudit
} from '@sherd/contracts'
import { OFFER_PROTOCOL, STORE_SHARD_PROTOCOL, offerFromWire, requestOffer, requestStoreShard } from '@sherd/protocol'
import { anvilKey, removeDir, tempDir, TOKEN, waitFor } from '@sherd/test-support'
import { initDataDir } from '../src/index.js'
import type { ProviderNode, ProviderNodeConfig, SherdHost } from '../src/index.js'
import { open, randomShard, startDialer, startNode } from './helpers.js'
import { expectSentTransactionsBounded, head, startPsChain } from './proof-set-helpers.js'
import type { PsChain } from './proof-set-helpers.js'

const CLIENT = 3
let c: PsChain
let dialer: SherdHost
const nodes: ProviderNode[] = []

beforeAll(async () => {
  c = await startPsChain({ accounts: 4, blockTime: 0.5 })
  dialer = await startDialer()
}, 60_000)

afterAll(async () => {
  await dialer?.stop()
  for (const n of nodes) {
    await n.stop().catch(() => {})
    await removeDir(n.ready().dataDir)
  }
  await c?.anvil.stop()
})

async function provider(
  account: number,
  over: Partial<ProviderNodeConfig> = {},
  dataDir?: string
): Promise<ProviderNode> {
  const dir = dataDir ?? (await tempDir())
  if (dataDir === undefined) await initDataDir(dir, { evmKey: anvilKey(account) })
  const node = await startNode({
    dataDir: dir,
    pricePerMiB: TOKEN.toString(),
    chain: { rpcUrl: c.anvil.url, contractAddress: c.market.market, stake: (1000n * TOKEN).toString() },
    prover: { pollIntervalMs: 100, retryMaxBackoffMs: 400, claimEveryPeriods: 2 },
    missReporter: { pollIntervalMs: 100, retryMaxBackoffMs: 400 },
    ...over
  })
  nodes.push(node)
  return node
}

/** Stores a shard on `node`, asks for its offer, opens the deal from the client. */
async function deal(node: ProviderNode, byteLength: number, periods: number): Promise<bigint> {
  const { bytes, root } = randomShard(byteLength)
  await requestStoreShard(await open(dialer, node, STORE_SHARD_PROTOCOL), { root, byteLength }, bytes)
  const { offer, signature } = await requestOffer(await open(dialer, node, OFFER_PROTOCOL), {
    root,
    byteLength,
    periods,
    client: c.accounts[CLIENT]!.address
  })
  const { dealIds } = await openProofSetDeals(c.as(CLIENT), {
    offers: [{ offer: offerFromWire(offer), signature: `0x${Buffer.from(signature).toString('hex')}` }]
  })
  return dealIds[0]!
}

async function reorg(depth: bigint): Promise<void> {
  const res = await fetch(c.anvil.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'anvil_reorg', params: [Number(depth), []] })
  })
  const body = (await res.json()) as { error?: { message: string } }
  if (body.error !== undefined) throw new Error(`anvil_reorg: ${body.error.message}`)
}

describe('provider nodes on ProofSetMarket', () => {
  it('a node proves its deals every period, claims them, and /status shows the ledger with amounts in tokens', async () => {
    const a = await provider(1)
    const id = await deal(a, 1024 * 1024, 40)
    const start = (await getProofSetDeal(c.as(0), id)).startPeriod
    const address = c.accounts[1]!.address
    await waitFor(
      'three periods proven',
      async () => (await getProofSetPeriodStatus(c.as(0), address, start + 2n)) === 'proven',
      90_000
    )
    for (let q = start; q <= start + 2n; q++) expect(await getProofSetPeriodStatus(c.as(0), address, q)).toBe('proven')
    await waitFor('a claim paid the deal', async () => (await getProofSetDeal(c.as(0), id)).paidFrom > start, 60_000)
    await waitFor(
      'the ledger to fold the claim and three proofs',
      () => BigInt(a.status().chain.earnings) > 0n && a.status().chain.periodsProven >= 3,
      20_000
    )
    const s = (await (await fetch(`${a.ready().httpUrl}/status`)).json()) as {
      chain: Record<string, unknown> & { amounts: Record<string, string>; dealList: Array<Record<string, unknown>> }
    }
    expect(s.chain).toMatchObject({ deals: 1, registered: true, dealStates: { live: 1 } })
    expect(s.chain.periodsProven as number).toBeGreaterThanOrEqual(3)
    // 1 MiB at 1 token per MiB per period: whole tokens.
    expect(s.chain.amounts.earnings).toMatch(/^[1-9][0-9]* SHERD$/)
    expect(s.chain.amounts.unclaimed).toMatch(/^[0-9]+ SHERD$/)
    expect(s.chain.amounts.stake).toBe('1,000 SHERD')
    expect(s.chain.dealList[0]).toMatchObject({ id: id.toString(), state: 'live', settled: false })
    expect(BigInt(s.chain.earnings as string) % TOKEN).toBe(0n)
    const metrics = await (await fetch(`${a.ready().httpUrl}/metrics`)).text()
    expect(metrics).toMatch(/^sherd_store_shards 1$/m)
    expect(Number(/^sherd_proofs_submitted_total\{kind="chunk"\} (\d+)$/m.exec(metrics)?.[1])).toBeGreaterThanOrEqual(3)
    expect(Number(/^sherd_proof_gas_count (\d+)$/m.exec(metrics)?.[1])).toBeGreaterThanOrEqual(3)
    expect(Number(/^sherd_deals_settled_total\{action="claim"\} (\d+)$/m.exec(metrics)?.[1])).toBeGreaterThanOrEqual(1)
  }, 180_000)

  it('a node that went down is marked missed by another, its audit failed and its deal claimed into failure; back, it answers what it owes', async () => {
    const watcher = nodes[0]!
    const b = await provider(2)
    const audited = await deal(b, 64 * 1024, 40)
    const failing = await deal(b, 64 * 1024, 40)
    const bAddress = c.accounts[2]!.address
    const start = (await getProofSetDeal(c.as(0), failing)).startPeriod
    await waitFor(
      'b to prove its first period',
      async () => (await getProofSetPeriodStatus(c.as(0), bAddress, start)) === 'proven',
      90_000
    )
    const dataDir = b.ready().dataDir
    await b.stop()
    nodes.splice(nodes.indexOf(b), 1)
    const downAt = await head(c)
    await requestProofSetAudit(c.as(CLIENT), audited)

    await waitFor(
      'the audited deal faulted by failAudit',
      async () => (await getProofSetDeal(c.as(0), audited)).state === 'faulted',
      90_000
    )
    await waitFor(
      'the other deal failed after its misses',
      async () => (await getProofSetDeal(c.as(0), failing)).state === 'failed',
      120_000
    )
    const missed = await readProofSetEvents(c.as(0), {
      eventName: 'PeriodMissed',
      args: { provider: bAddress },
      fromBlock: downAt
    })
    expect(missed.length).toBeGreaterThanOrEqual(c.market.params.maxMissedPeriods)
    for (const m of missed) expect(m.args.reporter).toBe(c.accounts[1]!.address)
    // The reporter counts a transaction once its receipt is in, a moment after the chain shows its effect.
    await waitFor(
      'the reporter to count what it sent',
      () => watcher.missReporter!.status.failuresClaimed >= 1 && watcher.missReporter!.status.auditsFailed === 1,
      20_000
    )
    expect(watcher.missReporter!.status.marked).toBeGreaterThanOrEqual(c.market.params.maxMissedPeriods)
    expect(BigInt(watcher.status().chain.reporterRewards ?? '0')).toBeGreaterThan(0n)
    const due = (await getProofSetProvider(c.as(0), bAddress)).due

    // b comes back: it answers every period it owes (carried over, each with its own seed), oldest first.
    const back = await provider(2, {}, dataDir)
    await waitFor(
      'b to catch up with the periods it owes',
      async () => (await getProofSetProvider(c.as(0), bAddress)).due > due + 2n,
      120_000
    )
    const late = await readProofSetEvents(c.as(0), {
      eventName: 'PeriodProven',
      args: { provider: bAddress },
      fromBlock: downAt
    })
    expect(late.some((e) => !e.args.onTime)).toBe(true)
    expect(back.status().chain.dealStates).toMatchObject({ faulted: 1, failed: 1 })
  }, 300_000)

  it("a reorg that drops a node's proof: the node proves the period again and counts it once", async () => {
    const a = nodes.find((n) => n.chainAddress.toLowerCase() === c.accounts[1]!.address.toLowerCase())!
    const address = c.accounts[1]!.address
    const proofs: Array<{ period: bigint; block: bigint }> = []
    a.proverEvents.addEventListener('chunk', (e) => {
      const d = (e as CustomEvent<{ period: bigint; receipt: { blockNumber: bigint } }>).detail
      proofs.push({ period: d.period, block: d.receipt.blockNumber })
    })
    const first = await waitFor('a proof', () => proofs[0], 120_000)
    const ledger = a.prover()!.ledger
    await waitFor('the ledger to fold it', () => BigInt(ledger.meta.cursor ?? -1) >= first.block)
    await reorg((await head(c)) - first.block + 1n)
    await waitFor(
      'the period proven again',
      async () =>
        proofs.filter((p) => p.period === first.period).length >= 2 &&
        (await getProofSetPeriodStatus(c.as(0), address, first.period)) === 'proven',
      90_000
    )
    await waitFor(
      'the ledger past the new proof',
      () => BigInt(ledger.meta.cursor ?? -1) >= proofs.filter((p) => p.period === first.period)[1]!.block
    )
    expect(ledger.meta.reorgs).toBeGreaterThanOrEqual(1)
    // Counted once: the ledger's count is the chain's count of on-time PeriodProven events of this provider.
    const cursor = BigInt(ledger.meta.cursor!)
    const onTime = (
      await readProofSetEvents(c.as(0), {
        eventName: 'PeriodProven',
        args: { provider: address },
        fromBlock: c.market.genesisBlock,
        toBlock: cursor
      })
    ).filter((e) => e.args.onTime)
    expect(ledger.meta.periodsProven).toBe(onTime.length)
  }, 240_000)

  it('commits the seed of a period nobody proves, so a provider down through it still answers it later', async () => {
    // Nobody proves: a and b down. A watcher with no deals of its own (account 0) commits the seeds.
    const a = nodes[0]!
    const aDir = a.ready().dataDir
    await a.stop()
    nodes.splice(0, 1)
    const b = nodes.find((n) => n.chainAddress.toLowerCase() === c.accounts[2]!.address.toLowerCase())!
    const bDir = b.ready().dataDir
    await deal(b, 64 * 1024, 40)
    await b.stop()
    nodes.splice(nodes.indexOf(b), 1)
    const from = await head(c)
    const watcherDir = await tempDir()
    await initDataDir(watcherDir, { evmKey: anvilKey(0) })
    const watcher = await provider(
      0,
      { chain: { rpcUrl: c.anvil.url, contractAddress: c.market.market, stake: '0' } },
      watcherDir
    )
    await waitFor('a seed committed by the watcher', () => watcher.missReporter!.status.seedsCommitted >= 2, 120_000)
    const seeds = await readProofSetEvents(c.as(0), { eventName: 'SeedCommitted', fromBlock: from })
    const committedBy = await Promise.all(
      seeds.map(async (e) => (await c.publicClient.getTransaction({ hash: e.transactionHash })).from)
    )
    expect(committedBy.some((f) => f.toLowerCase() === c.accounts[0]!.address.toLowerCase())).toBe(true)
    const seededPeriod = seeds.find((_, i) => committedBy[i]!.toLowerCase() === c.accounts[0]!.address.toLowerCase())!
      .args.period

    // b back: it answers the seeded period, long after its challenge block's hash could be read (256 blocks on).
    const bAddress = c.accounts[2]!.address
    await c.testClient.mine({ blocks: 300 })
    await provider(2, {}, bDir)
    await waitFor(
      `b to answer period ${seededPeriod}`,
      async () => (await getProofSetProvider(c.as(0), bAddress)).due > seededPeriod,
      120_000
    )
    await provider(1, {}, aDir)
  }, 300_000)

  it('every transaction the nodes sent stays within 128 KiB of calldata and 2^24 gas, none reverted', async () => {
    for (const account of [0, 1, 2]) {
      const { count, maxBytes, maxGas } = await expectSentTransactionsBounded(c, c.accounts[account]!.address)
      expect(count).toBeGreaterThan(0)
      expect(maxBytes).toBeLessThanOrEqual(128 * 1024)
      expect(maxGas).toBeLessThanOrEqual(2n ** 24n)
    }
  }, 240_000)
})
