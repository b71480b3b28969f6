// Random sequences of operations by several clients and providers, checked after every step: tokens are never
// created or lost (account balances + escrow + stake + withdrawable + burned = minted) and no period is paid twice.
import { buildTree } from '@sherd/proofs'
import type { MerkleTree } from '@sherd/proofs'
import { bytesToHex, erc20Abi, hexToBytes, parseEventLogs } from 'viem'
import type { Address, Hex, TransactionReceipt } from 'viem'
import { afterAll, beforeAll, expect, test } from 'vitest'
import {
  activateDeal, addStake, endDeal, exitProvider, expireDeal, extendDeal, getActivationSeed, getDeal,
  getPeriodInfo, getPeriodStatus, getWithdrawable, listProviders, markMissed, openDeal, proveChallenges,
  registerProvider, storageMarketAbi, submitProofs, updateProvider, withdraw
} from '../src/index.js'
import { deployMarket, mineTo, offerFor, proofFor, revertOf, signedOffer, startChain, TOKEN } from './helpers.js'
import type { Chainside, Market, TestDeal } from './helpers.js'

const BURN: Address = '0x000000000000000000000000000000000000dEaD'
const PROVIDERS = [1, 2, 3]
const CLIENTS = [4, 5, 6]
const REPORTER = 7
const STEPS = 100
const SEEDS = [1, 2, 3, 4, 5]

let c: Chainside
beforeAll(async () => { c = await startChain() })
afterAll(async () => { await c?.anvil.stop() })

function mulberry32 (seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6D2B79F5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

interface World {
  m: Market
  rand: () => number
  deals: Array<TestDeal & { provider: number, client: number }>
  /** Every (deal, period) paid, from PeriodProven events. */
  paid: Map<string, number>
  minted: bigint
}

const pick = <T>(w: World, xs: readonly T[]): T => xs[Math.floor(w.rand() * xs.length)]!

function bytes (w: World, n: number): Uint8Array {
  const out = new Uint8Array(n)
  for (let i = 0; i < n; i++) out[i] = Math.floor(w.rand() * 256)
  return out
}

/** Event names seen across all runs, to check the runs reached every path. */
const seen = new Set<string>()

function record (w: World, receipt: TransactionReceipt): void {
  for (const log of parseEventLogs({ abi: storageMarketAbi, logs: receipt.logs })) seen.add(log.eventName)
  for (const log of parseEventLogs({ abi: storageMarketAbi, logs: receipt.logs, eventName: 'PeriodProven' })) {
    const key = `${log.args.dealId}/${log.args.period}`
    w.paid.set(key, (w.paid.get(key) ?? 0) + 1)
  }
}

// A market revert (custom error) is an allowed outcome of a random step; anything else fails the test.
async function attempt (w: World, step: () => Promise<TransactionReceipt | { receipt: TransactionReceipt } | undefined>): Promise<void> {
  try {
    const out = await step()
    if (out !== undefined) record(w, 'receipt' in out ? out.receipt : out)
  } catch (err) {
    const revert = revertOf(err)
    if (revert === undefined) throw err
    if (process.env.SHERD_DEBUG !== undefined) process.stdout.write(`revert ${revert.errorName}\n`)
  }
}

async function provingStep (w: World): Promise<TransactionReceipt | undefined> {
  // Move into the proof window of the current period (or, past it, of the next one).
  let info = await getPeriodInfo(w.m.as(0))
  const next = await c.publicClient.getBlockNumber({ cacheTime: 0 }) + 1n
  if (next > info.lastProofBlock) info = await getPeriodInfo(w.m.as(0), info.period + 1n)
  await mineTo(c, info.firstProofBlock + BigInt(Math.floor(w.rand() * 2)))
  const provider = pick(w, PROVIDERS)
  const { hash } = await c.publicClient.getBlock({ blockNumber: info.challengeBlock })
  const items: Array<{ dealId: bigint, proof: Hex }> = []
  for (const d of w.deals.filter((d) => d.provider === provider)) {
    if (w.rand() < 0.2) continue // sometimes skip a deal, so periods go missing
    const deal = await getDeal(w.m.as(0), d.dealId)
    if (deal.state !== 'active' || info.period < deal.startPeriod || info.period >= deal.startPeriod + BigInt(deal.periods)) continue
    if (await getPeriodStatus(w.m.as(0), d.dealId, info.period) !== 'open') continue
    items.push({ dealId: d.dealId, proof: proofFor(w.m, d, hash, info.period) })
  }
  if (items.length === 0) return undefined
  if (w.rand() < 0.1) {
    // A forged proof sinks the whole batch.
    const bad = hexToBytes(items[0]!.proof); bad[Math.floor(w.rand() * bad.length)]! ^= 1
    items[0] = { dealId: items[0]!.dealId, proof: bytesToHex(bad) }
  } else if (w.rand() < 0.1) {
    items.push(items[0]!) // a replay within the batch
  }
  return await submitProofs(w.m.as(provider), { period: info.period, items })
}

async function randomStep (w: World): Promise<void> {
  const r = w.rand()
  const m = w.m
  const anyDeal = () => w.deals.length > 0 ? pick(w, w.deals) : undefined
  if (r < 0.08) {
    const p = pick(w, PROVIDERS)
    await attempt(w, async () => await registerProvider(m.as(p), { stake: BigInt(Math.floor(w.rand() * 400)) * TOKEN, pricePerMiB: 1n, capacity: 1n << 20n, peerId: `peer-${p}` }))
  } else if (r < 0.12) {
    const p = pick(w, PROVIDERS)
    await attempt(w, async () => await addStake(m.as(p), BigInt(1 + Math.floor(w.rand() * 100)) * TOKEN))
  } else if (r < 0.14) {
    const p = pick(w, PROVIDERS)
    await attempt(w, async () => await updateProvider(m.as(p), { pricePerMiB: 2n, capacity: w.rand() < 0.3 ? 0n : 1n << 20n, peerId: `peer-${p}` }))
  } else if (r < 0.28) {
    const p = pick(w, PROVIDERS)
    const cl = pick(w, CLIENTS)
    const size = 1 + Math.floor(w.rand() * 3000)
    const tree: MerkleTree = buildTree(bytes(w, size))
    const periods = 1 + Math.floor(w.rand() * 3)
    const offer = offerFor(c.accounts[p]!.address, c.accounts[cl]!.address, bytesToHex(tree.root), size, {
      pricePerPeriod: BigInt(1 + Math.floor(w.rand() * 20)) * TOKEN / 3n, periods, maxPeriods: periods + 2
    })
    await attempt(w, async () => {
      const out = await openDeal(m.as(cl), { offer, signature: await signedOffer(m, p, offer) })
      w.deals.push({ dealId: out.dealId, tree, data: new Uint8Array(0), offer, provider: p, client: cl })
      return out
    })
  } else if (r < 0.44) {
    const pending: World['deals'] = []
    for (const d of w.deals) if ((await getDeal(m.as(0), d.dealId)).state === 'pending') pending.push(d)
    const d = pending.length > 0 && w.rand() < 0.9 ? pick(w, pending) : anyDeal()
    if (d !== undefined) {
      await attempt(w, async () => await activateDeal(m.as(d.provider), {
        dealId: d.dealId, proof: proveChallenges(d.tree, await getActivationSeed(m.as(0), d.dealId), m.params.challengeCount)
      }))
    }
  } else if (r < 0.66) {
    await attempt(w, async () => await provingStep(w))
  } else if (r < 0.73) {
    const active: World['deals'] = []
    for (const d of w.deals) if ((await getDeal(m.as(0), d.dealId)).state === 'active') active.push(d)
    const d = active.length > 0 && w.rand() < 0.9 ? pick(w, active) : anyDeal()
    if (d !== undefined) {
      const deal = await getDeal(m.as(0), d.dealId)
      const period = deal.startPeriod + BigInt(Math.floor(w.rand() * (deal.periods + 1)))
      await attempt(w, async () => await markMissed(m.as(REPORTER), { dealId: d.dealId, period }))
    }
  } else if (r < 0.76) {
    const d = anyDeal()
    if (d !== undefined) await attempt(w, async () => await endDeal(m.as(REPORTER), d.dealId))
  } else if (r < 0.79) {
    const pending: World['deals'] = []
    for (const d of w.deals) if ((await getDeal(m.as(0), d.dealId)).state === 'pending') pending.push(d)
    const d = pending.length > 0 && w.rand() < 0.9 ? pick(w, pending) : anyDeal()
    if (d !== undefined) await attempt(w, async () => await expireDeal(m.as(d.client), d.dealId))
  } else if (r < 0.83) {
    const d = anyDeal()
    if (d !== undefined) await attempt(w, async () => await extendDeal(m.as(d.client), { dealId: d.dealId, addedPeriods: 1 }))
  } else if (r < 0.9) {
    const who = pick(w, [...PROVIDERS, ...CLIENTS, REPORTER])
    await attempt(w, async () => await withdraw(m.as(who)))
  } else if (r < 0.92) {
    await attempt(w, async () => await exitProvider(m.as(pick(w, PROVIDERS))))
  } else {
    await c.testClient.mine({ blocks: 1 + Math.floor(w.rand() * 6) })
  }
}

async function checkInvariants (w: World): Promise<void> {
  const m = w.m
  const read = async (who: Address) => await c.publicClient.readContract({ address: m.token, abi: erc20Abi, functionName: 'balanceOf', args: [who] })
  const accounts = c.accounts.map((a) => a.address)
  let balances = 0n
  for (const a of accounts) balances += await read(a)
  let withdrawable = 0n
  for (const a of accounts) withdrawable += await getWithdrawable(m.as(0), a)
  let escrow = 0n
  for (const d of w.deals) {
    const deal = await getDeal(m.as(0), d.dealId)
    escrow += deal.escrow
    expect(deal.provenPeriods + deal.missedPeriods).toBeLessThanOrEqual(deal.periods)
    const live = deal.state === 'pending' || deal.state === 'active'
    expect(deal.escrow).toBe(live ? deal.pricePerPeriod * BigInt(deal.periods - deal.provenPeriods) : 0n)
    expect(deal.slashed).toBeLessThanOrEqual(deal.collateral)
  }
  const providers = await listProviders(m.as(0))
  let stake = 0n
  for (const p of providers) {
    stake += p.stake
    expect(p.lockedStake).toBeLessThanOrEqual(p.stake)
  }
  const held = await read(m.market)
  const burned = await read(BURN)
  expect(held).toBe(escrow + stake + withdrawable)
  expect(balances + escrow + stake + withdrawable + burned).toBe(w.minted)
  for (const [key, count] of w.paid) expect(count, `period ${key} paid ${count} times`).toBe(1)
  // Paid periods on the books equal the PeriodProven events seen.
  let proven = 0
  for (const d of w.deals) proven += (await getDeal(m.as(0), d.dealId)).provenPeriods
  expect(proven).toBe(w.paid.size)
}

test.each(SEEDS)('random operations conserve tokens and pay each period at most once (seed %i)', async (seed) => {
  const m = await deployMarket(c, { periodBlocks: 6, challengeDelayBlocks: 1, activationBlocks: 24 }, [...PROVIDERS, ...CLIENTS])
  const minted = await c.publicClient.readContract({ address: m.token, abi: erc20Abi, functionName: 'totalSupply' })
  const w: World = { m, rand: mulberry32(seed), deals: [], paid: new Map(), minted }
  for (const p of PROVIDERS) {
    record(w, await registerProvider(m.as(p), { stake: 500n * TOKEN, pricePerMiB: 1n, capacity: 1n << 20n, peerId: `peer-${p}` }))
  }
  for (let step = 0; step < STEPS; step++) {
    await randomStep(w)
    await checkInvariants(w)
  }
  const states = await Promise.all(w.deals.map(async (d) => (await getDeal(m.as(0), d.dealId)).state))
  if (process.env.SHERD_DEBUG !== undefined) process.stdout.write(`seed ${seed}: ${w.deals.length} deals, ${w.paid.size} periods paid, states ${states.join(',')}\n`)

}, 300_000)

test('the random runs reached every state change', () => {
  for (const name of ['ProviderRegistered', 'StakeAdded', 'DealOpened', 'DealActivated', 'PeriodProven', 'PeriodMissed',
    'DealFailed', 'DealEnded', 'DealExpired', 'DealExtended', 'Withdrawn', 'ProviderExited']) {
    expect(seen, name).toContain(name)
  }
})
