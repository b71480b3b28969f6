import { rpcChain } from '../src/chain.js'
import { buildTree } from '@sherd/proofs'
import type { MerkleTree } from '@sherd/proofs'
import { randomBytes } from 'node:crypto'
import { expect } from 'vitest'
import { bytesToHex, createPublicClient, createTestClient, createWalletClient, http } from 'viem'
import type { Account, Address, Chain, Hex, PublicClient, TestClient, Transport, WalletClient } from 'viem'
import { mnemonicToAccount } from 'viem/accounts'
import {
  activateDeal, ANVIL_MNEMONIC, decodeProofSetRevert, deploy, deriveChallengeSeed, DEVNET_MARKET_PARAMS, getActivationSeed, getDeal,
  getMarketParams, getPeriodInfo, mintTokens, openDeal, proveChallenges, randomOfferNonce, signOffer, startAnvil,
  submitProofs
} from '../src/index.js'
import type { Anvil, Deployment, MarketClient, MarketParams, Offer, PeriodInfo, ProofSetRevert } from '../src/index.js'

export interface Chainside {
  anvil: Anvil
  chain: Chain
  publicClient: PublicClient
  testClient: TestClient<'anvil'>
  accounts: Account[]
  wallets: Array<WalletClient<Transport, Chain, Account>>
}

const ACCOUNT_COUNT = 10

export async function startChain (options: { hardfork?: string } = {}): Promise<Chainside> {
  const anvil = await startAnvil({ accounts: ACCOUNT_COUNT, ...options })
  const chain = rpcChain(anvil.chainId, anvil.url, 'anvil')
  const transport = http(anvil.url)
  const publicClient = createPublicClient({ chain, transport, pollingInterval: 50 }) as PublicClient
  const testClient = createTestClient({ chain, transport, mode: 'anvil' })
  const accounts = Array.from({ length: ACCOUNT_COUNT }, (_, i) => mnemonicToAccount(ANVIL_MNEMONIC, { addressIndex: i }))
  const wallets = accounts.map((account) => createWalletClient({ account, chain, transport }))
  return { anvil, chain, publicClient, testClient, accounts, wallets }
}

export const TOKEN = 10n ** 18n

export interface Market extends Deployment {
  /** Market client per account (same indices as `chain.wallets`). */
  as: (index: number) => MarketClient
  params: MarketParams
}

export async function deployMarket (c: Chainside, params: Partial<MarketParams> = {}, mintTo: number[] = [1, 2, 3, 4, 5, 6, 7, 8]): Promise<Market> {
  const deployer = c.wallets[0]!
  const d = await deploy(deployer, { publicClient: c.publicClient, params: { ...DEVNET_MARKET_PARAMS, ...params } })
  for (const i of mintTo) {
    await mintTokens(deployer, { publicClient: c.publicClient, token: d.token, to: c.accounts[i]!.address, amount: 1_000_000n * TOKEN })
  }
  const as = (index: number): MarketClient => ({ market: d.market, publicClient: c.publicClient, walletClient: c.wallets[index]! })
  return { ...d, as, params: await getMarketParams(as(0)) }
}

/** Random shard bytes and their tree. */
export function randomShard (size: number): { data: Uint8Array, tree: MerkleTree, root: Hex } {
  const data = new Uint8Array(randomBytes(size))
  const tree = buildTree(data)
  return { data, tree, root: bytesToHex(tree.root) }
}

export function offerFor (provider: Address, client: Address, root: Hex, size: number, over: Partial<Offer> = {}): Offer {
  return {
    provider,
    client,
    root,
    size: BigInt(size),
    pricePerPeriod: 10n * TOKEN,
    periods: 4,
    maxPeriods: 8,
    nonce: randomOfferNonce(),
    expiry: BigInt(Math.floor(Date.now() / 1000) + 3600),
    ...over
  }
}

/** Mines blocks until the chain's next block number is `target` (no-op if already past). */
export async function mineTo (c: Chainside, target: bigint): Promise<void> {
  const n = await c.publicClient.getBlockNumber({ cacheTime: 0 })
  // The next transaction lands in block n + 1.
  if (target > n + 1n) await c.testClient.mine({ blocks: Number(target - n - 1n) })
}


export async function signedOffer (m: Market, providerIndex: number, offer: Offer): Promise<Hex> {
  return await signOffer(m.as(providerIndex).walletClient!, { market: m.market, offer })
}

/** The activation proof for `dealId` over `tree`. */
export async function activationProof (c: Chainside, m: Market, dealId: bigint, tree: MerkleTree): Promise<Hex> {
  const seed = await getActivationSeed(m.as(0), dealId)
  return proveChallenges(tree, seed, m.params.challengeCount)
}

export interface TestDeal {
  dealId: bigint
  tree: MerkleTree
  data: Uint8Array
  offer: Offer
}

/** Opens one deal from `provider` to `client` over fresh random bytes of `size`. */
export async function openTestDeal (m: Market, providerIndex: number, clientIndex: number, size: number, over: Partial<Offer> = {}): Promise<TestDeal> {
  const mc = m.as(clientIndex)
  const s = randomShard(size)
  const offer = offerFor(m.as(providerIndex).walletClient!.account.address, mc.walletClient!.account.address, s.root, size, over)
  const { dealId } = await openDeal(mc, { offer, signature: await signedOffer(m, providerIndex, offer) })
  return { dealId, tree: s.tree, data: s.data, offer }
}

/** Opens and activates deals of the given sizes; returns them with the first period all of them cover. */
export async function activeDeals (c: Chainside, m: Market, providerIndex: number, clientIndex: number, sizes: number[], over: Partial<Offer> = {}): Promise<{ deals: TestDeal[], period: bigint }> {
  const deals: TestDeal[] = []
  for (const size of sizes) deals.push(await openTestDeal(m, providerIndex, clientIndex, size, over))
  // Activate at the top of a period so that (for fewer deals than blocks per period) all start together.
  const next = await getPeriodInfo(m.as(0), (await getPeriodInfo(m.as(0))).period + 1n)
  await mineTo(c, next.startBlock)
  let period = 0n
  for (const d of deals) {
    const proof = await activationProof(c, m, d.dealId, d.tree)
    await activateDeal(m.as(providerIndex), { dealId: d.dealId, proof })
    const start = (await getDeal(m.as(0), d.dealId)).startPeriod
    if (start > period) period = start
  }
  return { deals, period }
}

/** Mines to `period`'s proof window (the next transaction lands in its first block) and returns the seeds' block hash. */
export async function enterProofWindow (c: Chainside, m: Market, period: bigint): Promise<{ info: PeriodInfo, blockHash: Hex }> {
  const info = await getPeriodInfo(m.as(0), period)
  await mineTo(c, info.firstProofBlock)
  const block = await c.publicClient.getBlock({ blockNumber: info.challengeBlock })
  return { info, blockHash: block.hash }
}

export function proofFor (m: Market, d: TestDeal, blockHash: Hex, period: bigint): Hex {
  return proveChallenges(d.tree, deriveChallengeSeed(blockHash, d.dealId, period), m.params.challengeCount)
}

/** Proves `period` for `deals` in one batch (mining into the window first). */
export async function proveAll (c: Chainside, m: Market, providerIndex: number, period: bigint, deals: TestDeal[]) {
  const { blockHash } = await enterProofWindow(c, m, period)
  return await submitProofs(m.as(providerIndex), {
    period,
    items: deals.map((d) => ({ dealId: d.dealId, proof: proofFor(m, d, blockHash, period) }))
  })
}

/** The custom error a failed viem call reverted with, or undefined (the package's own decoder). */
export function revertOf (err: unknown): ProofSetRevert | undefined {
  return decodeProofSetRevert(err)
}

/** Awaits `promise`, expecting it to revert with `errorName` (and `args`, when given). */
export async function expectRevert (promise: Promise<unknown>, errorName: string, args?: readonly unknown[]): Promise<void> {
  let caught: unknown
  try {
    await promise
  } catch (err) {
    caught = err
  }
  const revert = revertOf(caught)
  if (revert === undefined) throw new Error(`expected revert ${errorName}, got ${caught === undefined ? 'success' : String(caught)}`)
  expect(revert.errorName).toBe(errorName)
  if (args !== undefined) expect(revert.args).toEqual(args)
}
