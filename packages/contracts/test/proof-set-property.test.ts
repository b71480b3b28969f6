// ProofSetMarket under random sequences of every call by several clients and providers, checked after every step:
// tokens are never created or lost (balances + stake + withdrawable + escrow + audit bonds + burned = minted), no
// period is paid twice (what a deal paid equals price × its proven periods in the range it settled), and every
// deal's escrow is its unpaid, unrefunded periods. Extensions and term-limit changes are among the calls. Every
// proof is built on the TypeScript super-tree checked against the contract's, and each provider's super-tree
// stays the one over all its deals in opening order.
import { bytesToHex, erc20Abi, parseEventLogs } from 'viem'
import type { Address, TransactionReceipt } from 'viem'
import { afterAll, beforeAll, expect, test } from 'vitest'
import {
  addProofSetStake,
  answerProofSetAudit,
  cancelProofSetOffer,
  claimProofSetDeals,
  commitProofSetSeed,
  declareProofSetLost,
  extendProofSetDeals,
  failProofSetAudit,
  getProofSetAudit,
  getProofSetAuditSeed,
  getProofSetDeal,
  getProofSetPeriod,
  getProofSetPeriodStatus,
  getProofSetProvider,
  getProofSetWithdrawable,
  markProofSetMissed,
  PROOF_SET_AUDIT_CHALLENGES,
  proofSetMarketAbi,
  proofSetRevertName,
  proveChallenges,
  registerProofSetProvider,
  removeProofSetStake,
  requestProofSetAudit,
  setProofSetMaxTerm,
  submitProofSetChunk,
  withdrawProofSet,
  ProviderSuperTree,
  getProofSetSuperRoot
} from '../src/index.js'
import { startTestChain, TOKEN } from '@sherd/test-support'
import type { TestChain } from '@sherd/test-support'
import { mineTo } from './helpers.js'
import { buildDueChunks, deployPs, expectAllTransactionsBounded, NEWEST_HARDFORK, openPs } from './proof-set-helpers.js'
import type { PsDeal, PsMarket } from './proof-set-helpers.js'

const BURN: Address = '0x000000000000000000000000000000000000dEaD'
const PROVIDERS = [1, 2, 3]
const CLIENTS = [4, 5, 6]
const REPORTER = 7
const STEPS = 90
const SEEDS = [1, 2, 3, 4]

let c: TestChain
beforeAll(async () => {
  c = await startTestChain({ hardfork: NEWEST_HARDFORK })
})
afterAll(async () => {
  if (c !== undefined) await expectAllTransactionsBounded(c)
  await c?.anvil.stop()
})

function mulberry32(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

interface World {
  m: PsMarket
  rand: () => number
  deals: PsDeal[]
  /** Tokens paid to the provider per deal, from Claimed/DealSettled events. */
  paid: Map<bigint, bigint>
  refunded: Map<bigint, bigint>
  minted: bigint
}

const pick = <T>(w: World, xs: readonly T[]): T => xs[Math.floor(w.rand() * xs.length)]!
const seen = new Set<string>()
const reverts = new Set<string>()

function record(w: World, receipt: TransactionReceipt): void {
  for (const log of parseEventLogs({ abi: proofSetMarketAbi, logs: receipt.logs })) {
    seen.add(log.eventName)
    if (log.eventName === 'Claimed' || log.eventName === 'DealSettled') {
      w.paid.set(log.args.dealId, (w.paid.get(log.args.dealId) ?? 0n) + log.args.paid)
      w.refunded.set(log.args.dealId, (w.refunded.get(log.args.dealId) ?? 0n) + log.args.refunded)
    }
  }
}

// A market revert (custom error) is an allowed outcome of a random step; anything else fails the test.
async function attempt(
  w: World,
  step: () => Promise<TransactionReceipt | TransactionReceipt[] | undefined>
): Promise<void> {
  try {
    const out = await step()
    for (const r of out === undefined ? [] : Array.isArray(out) ? out : [out]) record(w, r)
  } catch (err) {
    const name = proofSetRevertName(err)
    if (name === undefined) throw err
    reverts.add(name)
    if (process.env.SHERD_DEBUG !== undefined) process.stdout.write(`revert ${name}\n`)
  }
}

async function proveStep(w: World): Promise<TransactionReceipt[] | undefined> {
  // The last provider is unreliable: it seldom proves, so its deals collect misses and fail.
  const provider = w.rand() < 0.1 ? PROVIDERS.at(-1)! : pick(w, PROVIDERS.slice(0, -1))
  const info = await getProofSetProvider(w.m.as(0), c.accounts[provider]!.address).catch(() => undefined)
  if (info === undefined || info.weight === 0n) return undefined
  const period = await getProofSetPeriod(w.m.as(0), info.due)
  const next = (await c.publicClient.getBlockNumber({ cacheTime: 0 })) + 1n
  if (next <= period.challengeBlock) await c.testClient.mine({ blocks: Number(period.challengeBlock + 1n - next) })
  // Sometimes the provider has lost a deal's data: it answers challenges on it with faults.
  const mine = w.deals.filter((d) => d.provider === provider)
  if (mine.length > 0 && w.rand() < 0.15) pick(w, mine).tree = undefined
  const built = await buildDueChunks(w.m, c, provider, w.deals)
  const receipts: TransactionReceipt[] = []
  for (const ch of built.chunks)
    receipts.push(
      await submitProofSetChunk(w.m.as(provider), { period: built.period, chunk: ch.chunk, proof: ch.proof })
    )
  return receipts
}

async function randomStep(w: World): Promise<void> {
  const r = w.rand()
  const m = w.m
  const anyDeal = (): PsDeal | undefined => (w.deals.length > 0 ? pick(w, w.deals) : undefined)
  if (r < 0.06) {
    const p = pick(w, PROVIDERS)
    await attempt(
      w,
      async () =>
        await registerProofSetProvider(m.as(p), {
          stake: BigInt(Math.floor(w.rand() * 400)) * TOKEN,
          peerId: `peer-${p}`,
          maxTermPeriods: 8
        })
    )
  } else if (r < 0.09) {
    await attempt(
      w,
      async () => await addProofSetStake(m.as(pick(w, PROVIDERS)), BigInt(1 + Math.floor(w.rand() * 100)) * TOKEN)
    )
  } else if (r < 0.11) {
    await attempt(
      w,
      async () => await removeProofSetStake(m.as(pick(w, PROVIDERS)), BigInt(1 + Math.floor(w.rand() * 100)) * TOKEN)
    )
  } else if (r < 0.25) {
    const client = pick(w, CLIENTS)
    const n = 1 + Math.floor(w.rand() * 3)
    const specs = Array.from({ length: n }, () => ({
      provider: pick(w, PROVIDERS),
      size: 1 + Math.floor(w.rand() * 5000),
      over: {
        pricePerPeriod: (BigInt(1 + Math.floor(w.rand() * 20)) * TOKEN) / 3n,
        periods: 1 + Math.floor(w.rand() * 6)
      }
    }))
    await attempt(w, async () => {
      const out = await openPs(c, m, client, specs)
      w.deals.push(...out.deals)
      return out.receipt
    })
  } else if (r < 0.45) {
    await attempt(w, async () => await proveStep(w))
  } else if (r < 0.52) {
    const p = pick(w, PROVIDERS)
    const now = (await getProofSetPeriod(m.as(0))).period
    // Usually sweep the last few closed periods, as a watcher would.
    const sweep = w.rand() < 0.5 ? 4n : 1n
    for (let back = 1n; back <= sweep; back++) {
      const period = now - back - (sweep === 1n ? BigInt(Math.floor(w.rand() * 3)) : 0n)
      if (period >= 0n)
        await attempt(
          w,
          async () => await markProofSetMissed(m.as(REPORTER), { provider: c.accounts[p]!.address, period })
        )
    }
  } else if (r < 0.6) {
    const d = w.rand() < 0.7 ? w.deals.at(-1) : anyDeal()
    if (d !== undefined) {
      // Declarations are only accepted up to the challenge block: usually wait for the next period's start.
      const now = await getProofSetPeriod(m.as(0))
      if (w.rand() < 0.9 && (await c.publicClient.getBlockNumber({ cacheTime: 0 })) + 1n > now.challengeBlock)
        await mineTo(c, now.lastOnTimeBlock + 1n)
      await attempt(w, async () => await declareProofSetLost(m.as(d.provider), [d.dealId]))
    }
  } else if (r < 0.68) {
    const ids = w.deals.filter(() => w.rand() < 0.5).map((d) => d.dealId)
    if (ids.length > 0)
      await attempt(w, async () => await claimProofSetDeals(m.as(pick(w, [...CLIENTS, REPORTER])), ids))
  } else if (r < 0.72) {
    const d = w.rand() < 0.6 ? w.deals.at(-1) : anyDeal()
    if (d !== undefined) await attempt(w, async () => await requestProofSetAudit(m.as(d.client), d.dealId))
  } else if (r < 0.77) {
    const audited: PsDeal[] = []
    for (const x of w.deals) if ((await getProofSetAudit(m.as(0), x.dealId)) !== undefined) audited.push(x)
    const d = audited.length > 0 ? pick(w, audited) : undefined
    if (d !== undefined && d.tree !== undefined) {
      await attempt(w, async () => {
        const audit = await getProofSetAudit(m.as(0), d.dealId)
        if (audit === undefined) return undefined
        const period = await getProofSetPeriod(m.as(0), audit.period)
        const next = (await c.publicClient.getBlockNumber({ cacheTime: 0 })) + 1n
        if (next <= period.challengeBlock)
          await c.testClient.mine({ blocks: Number(period.challengeBlock + 1n - next) })
        const seed = await getProofSetAuditSeed(m.as(0), d.dealId, audit.period)
        return await answerProofSetAudit(m.as(d.provider), {
          dealId: d.dealId,
          proof: proveChallenges(d.tree!, seed, PROOF_SET_AUDIT_CHALLENGES)
        })
      })
    }
  } else if (r < 0.8) {
    const d = anyDeal()
    if (d !== undefined)
      await attempt(w, async () => await failProofSetAudit(m.as(pick(w, [d.client, REPORTER])), d.dealId))
  } else if (r < 0.82) {
    const now = (await getProofSetPeriod(m.as(0))).period
    await attempt(w, async () => await commitProofSetSeed(m.as(REPORTER), now))
  } else if (r < 0.84) {
    await attempt(
      w,
      async () => await cancelProofSetOffer(m.as(pick(w, PROVIDERS)), BigInt(Math.floor(w.rand() * 1e9)) + 10n ** 12n)
    )
  } else if (r < 0.9) {
    await attempt(w, async () => (await withdrawProofSet(m.as(pick(w, [...PROVIDERS, ...CLIENTS, REPORTER])))).receipt)
  } else if (r < 0.95) {
    // Usually the client's own recent deals; sometimes anyone's (NotClient, WrongDealState, TermTooLong).
    const client = pick(w, CLIENTS)
    const now = (await getProofSetPeriod(m.as(0))).period
    const open: PsDeal[] = []
    for (const d of w.deals.filter((d) => d.client === client)) {
      const info = await getProofSetDeal(m.as(0), d.dealId)
      if (info.state === 'live' && info.endPeriod > now) open.push(d)
    }
    const ids = (w.rand() < 0.8 ? open : w.deals).filter(() => w.rand() < 0.6).map((d) => d.dealId)
    const added = 1 + Math.floor(w.rand() * 3)
    if (ids.length > 0)
      await attempt(
        w,
        async () => (await extendProofSetDeals(m.as(client), { dealIds: ids, addedPeriods: added })).receipt
      )
  } else if (r < 0.97) {
    await attempt(w, async () => await setProofSetMaxTerm(m.as(pick(w, PROVIDERS)), Math.floor(w.rand() * 14)))
  } else {
    await c.testClient.mine({ blocks: 1 + Math.floor(w.rand() * 10) })
  }
}

async function checkInvariants(w: World): Promise<void> {
  const m = w.m
  const read = async (who: Address): Promise<bigint> =>
    await c.publicClient.readContract({ address: m.token, abi: erc20Abi, functionName: 'balanceOf', args: [who] })
  const accounts = c.accounts.map((a) => a.address)
  let balances = 0n
  let withdrawable = 0n
  for (const a of accounts) {
    balances += await read(a)
    withdrawable += await getProofSetWithdrawable(m.as(0), a)
  }
  let escrow = 0n
  let bonds = 0n
  for (const d of w.deals) {
    const deal = await getProofSetDeal(m.as(0), d.dealId)
    escrow += deal.escrow
    bonds += (await getProofSetAudit(m.as(0), d.dealId))?.bond ?? 0n
    const periods = deal.endPeriod - deal.startPeriod
    const paid = w.paid.get(d.dealId) ?? 0n
    const refunded = w.refunded.get(d.dealId) ?? 0n
    expect(paid + refunded + deal.escrow, `deal ${d.dealId} books`).toBe(deal.pricePerPeriod * periods)
    // Paid exactly once per period proven on time inside the range the deal has settled.
    const settledTo = deal.settled ? deal.voidFrom : deal.paidFrom < deal.voidFrom ? deal.paidFrom : deal.voidFrom
    let proven = 0n
    for (let q = deal.startPeriod; q < settledTo; q++)
      if ((await getProofSetPeriodStatus(m.as(0), deal.provider, q)) === 'proven') proven++
    expect(paid, `deal ${d.dealId} paid`).toBe(deal.pricePerPeriod * proven)
  }
  let stake = 0n
  for (const p of PROVIDERS) {
    const address = c.accounts[p]!.address
    const info = await getProofSetProvider(m.as(0), address).catch(() => undefined)
    if (info === undefined) continue
    stake += info.stake
    // The provider's count of deals on the books is exact (it decides whether the due period may skip ahead).
    let open = 0
    for (const d of w.deals.filter((d) => d.provider === p))
      if (!(await getProofSetDeal(m.as(0), d.dealId)).settled) open++
    expect(info.unsettledDeals, `provider ${p} unsettled deals`).toBe(open)
    // The super-tree the contract builds from openDeals alone is the TypeScript one over all the provider's
    // deals, whatever happened to them since (ended, faulted, declared and failed deals keep their slot).
    const mine = w.deals.filter((d) => d.provider === p)
    if (mine.length === 0) continue
    const tree = new ProviderSuperTree()
    for (const d of mine) tree.set(d.slot, d.dealId, d.offer.root)
    const open_ = await getProofSetSuperRoot(m.as(0), address, (await getProofSetPeriod(m.as(0))).period + 1n)
    expect(open_.slots, `provider ${p} slots`).toBe(mine.length)
    expect(open_.root, `provider ${p} super-root`).toBe(bytesToHex(tree.snapshot(mine.length).root))
  }
  const held = await read(m.market)
  expect(held).toBe(stake + withdrawable + escrow + bonds)
  expect(balances + held + (await read(BURN))).toBe(w.minted)
}

test.each(SEEDS)(
  'random operations conserve tokens and pay each period at most once (seed %i)',
  async (seed) => {
    const m = await deployPs(c, { periodBlocks: 8, challengeDelayBlocks: 2 }, [...PROVIDERS, ...CLIENTS])
    const minted = await c.publicClient.readContract({ address: m.token, abi: erc20Abi, functionName: 'totalSupply' })
    const w: World = { m, rand: mulberry32(seed), deals: [], paid: new Map(), refunded: new Map(), minted }
    for (const p of PROVIDERS)
      record(
        w,
        await registerProofSetProvider(m.as(p), { stake: 500n * TOKEN, peerId: `peer-${p}`, maxTermPeriods: 8 })
      )
    for (let step = 0; step < STEPS; step++) {
      await randomStep(w)
      await checkInvariants(w)
    }
  },
  600_000
)

test('the random runs reached every state change', () => {
  for (const name of [
    'ProviderRegistered',
    'StakeAdded',
    'StakeRemoved',
    'OfferCancelled',
    'DealOpened',
    'SeedCommitted',
    'PeriodProven',
    'PeriodMissed',
    'DealFaulted',
    'DealDeclaredLost',
    'DealFailed',
    'DealSettled',
    'Claimed',
    'AuditRequested',
    'AuditAnswered',
    'AuditFailed',
    'Withdrawn',
    'DealExtended',
    'MaxTermSet'
  ]) {
    expect(seen, name).toContain(name)
  }
  // The extensions were refused for each of their reasons too.
  for (const name of ['TermTooLong', 'WrongDealState', 'NotClient']) expect(reverts, name).toContain(name)
})
