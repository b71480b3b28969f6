import { bytesToHex, erc20Abi, hexToBytes, parseEventLogs } from 'viem'
import type { Address, Hex, TransactionReceipt } from 'viem'
import { expect } from 'vitest'
import { deployTestMarket, TOKEN } from '@sherd/test-support'
import type { TestChain, TestMarket } from '@sherd/test-support'
import {
  buildProofSetChunk,
  getProofSetDeal,
  getProofSetParams,
  getProofSetPeriod,
  getProofSetProvider,
  getProofSetSeed,
  getProofSetSnapshotWeight,
  getProofSetSuperRoot,
  openProofSetDeals,
  proofSetMarketAbi,
  ProviderSuperTree,
  proofSetChallengeCount,
  proofSetChunkCount,
  signProofSetOffer,
  submitProofSetChunk
} from '../src/index.js'
import type { ProofSetOffer, ProofSetParams, ProofSetProverDeal, ProvableTree } from '../src/index.js'
import { mineTo, randomShard } from './helpers.js'

/** The newest hardfork anvil 1.7 implements (bpo1..5 after it only change blob parameters). */
export const NEWEST_HARDFORK = 'osaka'
/** Limits every transaction must respect (geth's txpool size limit, EIP-7825). */
export const MAX_TX_BYTES = 131_072
export const MAX_TX_GAS = 16_777_216n

export interface PsMarket extends TestMarket {
  params: ProofSetParams
  chainId: number
}

/** The market as deployed, with its parameters read back from the chain. */
export async function deployPs(
  c: TestChain,
  params: Partial<ProofSetParams> = {},
  mintTo: number[] = [1, 2, 3, 4, 5, 6, 7, 8]
): Promise<PsMarket> {
  const d = await deployTestMarket(c, { params, fund: mintTo })
  return { ...d, params: await getProofSetParams(d.as(0)), chainId: c.chain.id }
}

let nonce = 0n
/** An offer from provider account `provider` to client account `client`. */
export function psOffer(
  c: TestChain,
  provider: number,
  client: number,
  root: Hex,
  size: bigint,
  over: Partial<ProofSetOffer> = {}
): ProofSetOffer {
  return {
    provider: c.accounts[provider]!.address,
    client: c.accounts[client]!.address,
    root,
    size,
    pricePerPeriod: 10n * TOKEN,
    periods: 6,
    nonce: nonce++,
    expiry: BigInt(Math.floor(Date.now() / 1000) + 3600),
    ...over
  }
}

export interface PsDeal {
  dealId: bigint
  provider: number
  client: number
  /** Its place in the provider's super-tree (DealOpened.slot). */
  slot: number
  /** undefined once the provider has "lost" the data. */
  tree?: ProvableTree
  offer: ProofSetOffer
}

/** Opens one deal per (provider, size or tree) in one transaction from `client`. */
export async function openPs(
  c: TestChain,
  m: PsMarket,
  client: number,
  specs: Array<{
    provider: number
    size?: number
    tree?: ProvableTree & { root: Uint8Array }
    over?: Partial<ProofSetOffer>
  }>
): Promise<{ deals: PsDeal[]; receipt: TransactionReceipt }> {
  const prepared = specs.map((s) => {
    const tree = s.tree ?? randomShard(s.size ?? 4096).tree
    const size = s.tree !== undefined ? BigInt(s.tree.leafCount) * 64n : BigInt(s.size ?? 4096)
    return { s, tree, offer: psOffer(c, s.provider, client, bytesToHex(tree.root), size, s.over) }
  })
  const offers = []
  for (const p of prepared)
    offers.push({
      offer: p.offer,
      signature: await signProofSetOffer(m.as(p.s.provider).walletClient!, { market: m.market, offer: p.offer })
    })
  const { dealIds, receipt } = await openProofSetDeals(m.as(client), { offers })
  const opened = parseEventLogs({ abi: proofSetMarketAbi, logs: receipt.logs, eventName: 'DealOpened' })
  return {
    deals: prepared.map((p, i) => ({
      dealId: dealIds[i]!,
      provider: p.s.provider,
      client,
      slot: opened[i]!.args.slot,
      tree: p.tree,
      offer: p.offer
    })),
    receipt
  }
}

/** Mines until the next transaction lands in `period`'s first block after its challenge block (+ `extra`). */
export async function enterProofWindow(c: TestChain, m: PsMarket, period: bigint, extra = 0n): Promise<void> {
  const info = await getProofSetPeriod(m.as(0), period)
  await mineTo(c, info.challengeBlock + 1n + extra)
}

/** Mines until the next transaction lands in `period`'s first block. */
export async function enterPeriod(c: TestChain, m: PsMarket, period: bigint): Promise<void> {
  await mineTo(c, (await getProofSetPeriod(m.as(0), period)).startBlock)
}

/** Builds every chunk of `provider`'s due period from `deals` (its deals; a missing tree answers with a fault). */
export async function buildDueChunks(
  m: PsMarket,
  c: TestChain,
  provider: number,
  deals: readonly PsDeal[],
  seedOverride?: Hex
) {
  const address = c.accounts[provider]!.address
  const p = await getProofSetProvider(m.as(0), address)
  const period = p.due
  const weight = await getProofSetSnapshotWeight(m.as(0), address, period)
  const seed = seedOverride ?? (await getProofSetSeed(m.as(0), period))
  const proverDeals: ProofSetProverDeal[] = []
  const tree = new ProviderSuperTree()
  for (const d of deals.filter((d) => d.provider === provider)) {
    const info = await getProofSetDeal(m.as(0), d.dealId)
    tree.set(d.slot, d.dealId, d.offer.root)
    proverDeals.push({
      dealId: d.dealId,
      slot: d.slot,
      rangeStart: info.rangeStart,
      leafCount: info.leafCount,
      voidFrom: info.voidFrom,
      tree: d.tree
    })
  }
  const chunks = proofSetChunkCount(proofSetChallengeCount(weight))
  // The TypeScript super-tree agrees with the contract's for every period a test proves.
  const chain = await getProofSetSuperRoot(m.as(0), address, period)
  const superTree = tree.snapshot(chain.slots)
  expect(bytesToHex(superTree.root)).toBe(chain.root)
  return {
    period,
    weight,
    superTree,
    chunks: Array.from({ length: chunks }, (_, chunk) => ({
      chunk,
      ...buildProofSetChunk({ seed, provider: address, period, weight, chunk, deals: proverDeals, superTree })
    }))
  }
}

/** Answers `provider`'s due period (all chunks); the next transaction must be inside a window that accepts it. */
export async function proveDue(m: PsMarket, c: TestChain, provider: number, deals: readonly PsDeal[]) {
  const built = await buildDueChunks(m, c, provider, deals)
  const receipts: TransactionReceipt[] = []
  for (const ch of built.chunks)
    receipts.push(await submitProofSetChunk(m.as(provider), { period: built.period, chunk: ch.chunk, proof: ch.proof }))
  return { ...built, receipts }
}

export async function balanceOf(c: TestChain, token: Address, who: Address): Promise<bigint> {
  return await c.publicClient.readContract({ address: token, abi: erc20Abi, functionName: 'balanceOf', args: [who] })
}

/** Every transaction on the chain so far fits a real one: ≤ 128 KiB of calldata and ≤ 2^24 gas. */
export async function expectAllTransactionsBounded(
  c: TestChain
): Promise<{ maxBytes: number; maxGas: bigint; count: number }> {
  const latest = await c.publicClient.getBlockNumber({ cacheTime: 0 })
  let maxBytes = 0
  let maxGas = 0n
  let count = 0
  for (let n = 1n; n <= latest; n++) {
    const block = await c.publicClient.getBlock({ blockNumber: n, includeTransactions: true })
    for (const tx of block.transactions) {
      const receipt = await c.publicClient.getTransactionReceipt({ hash: tx.hash })
      const bytes = hexToBytes(tx.input).length
      count++
      if (bytes > maxBytes) maxBytes = bytes
      if (receipt.gasUsed > maxGas) maxGas = receipt.gasUsed
      expect(bytes, `tx ${tx.hash} calldata`).toBeLessThanOrEqual(MAX_TX_BYTES)
      expect(receipt.gasUsed, `tx ${tx.hash} gas`).toBeLessThanOrEqual(MAX_TX_GAS)
    }
  }
  return { maxBytes, maxGas, count }
}
