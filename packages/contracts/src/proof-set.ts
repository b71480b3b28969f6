// Typed viem helpers for ProofSetMarket (packages/contracts/contracts/ProofSetMarket.sol): deploy, the
// provider and client actions, reads, and the challenge rule in TypeScript (identical to the contract's; a test
// compares them). Every call is typed from the generated `as const` ABI.
import { LEAF_SIZE } from '@sherd/proofs'
import {
  bytesToHex,
  encodeAbiParameters,
  erc20Abi,
  hashTypedData,
  isAddressEqual,
  keccak256,
  parseEventLogs,
  stringToHex
} from 'viem'
import type {
  Account,
  Address,
  Chain,
  ContractFunctionArgs,
  ContractFunctionName,
  EstimateContractGasParameters,
  Hex,
  PublicClient,
  TransactionReceipt,
  Transport,
  WalletClient,
  WriteContractParameters
} from 'viem'
import { InvalidOfferError, ProofEncodingError, TransactionFailedError } from './errors.js'
import { proofSetMarketAbi, proofSetMarketBytecode, sherdTokenAbi, sherdTokenBytecode } from './generated/contracts.js'
import { waitForSuccess } from './market-client.js'
import type { ActionOptions, MarketClient } from './market-client.js'
import type { ProvableTree } from './audit-proof.js'
import type { SuperTreeSnapshot } from './super-tree.js'

export type ProofSetMarketAbi = typeof proofSetMarketAbi

// ------------------------------------------------------------------ constants (equal to the contract's)

/** Challenges per TiB of weight per period (one per 256 GiB). */
export const PROOF_SET_LAMBDA = 4n
/** Fewest challenges per period of a provider with any weight. */
export const PROOF_SET_K_MIN = 4n
/** Smallest weight of a deal in 64-byte leaves: 256 MiB. */
export const PROOF_SET_MIN_WEIGHT = 1n << 22n
/** Leaves in a TiB. */
export const PROOF_SET_TIB_LEAVES = 1n << 34n
/** Challenges per proof transaction (64 paths of up to 58 levels fit 128 KiB). */
export const PROOF_SET_CHUNK = 64
/** Leaves an on-demand audit checks. */
export const PROOF_SET_AUDIT_CHALLENGES = 10
/** Set in a challenge's dealId hint: "cannot answer", the deal faults. */
export const PROOF_SET_FAULT_FLAG = 0x8000_0000
/** Slash of a voluntary loss declaration, basis points of the deal's collateral. */
export const PROOF_SET_DECLARED_SLASH_BPS = 2_500n

/** Market parameters, fixed at deployment (`ProofSetMarket.Params`). */
export interface ProofSetParams {
  /** Blocks per period (≥ challengeDelayBlocks + 2; may exceed 256: seeds are stored). */
  periodBlocks: number
  /** Blocks from a period's first block to its challenge block. */
  challengeDelayBlocks: number
  /** Missed provider-periods in a deal's term after which the deal fails. */
  maxMissedPeriods: number
  /** Collateral per deal, basis points of its escrow. */
  collateralBps: number
  /** Slash per missed provider-period, basis points of the provider's locked collateral. */
  slashBps: number
  /** Reporter's share of a miss slash, and the client's of an unanswered audit's slash. */
  reporterBps: number
  /** Tokens deposited by `requestAudit`. */
  auditBond: bigint
}

/** The defaults, with their reasons in docs/contracts.md ("ProofSetMarket"); 12-s blocks. */
export const PROOF_SET_DEFAULT_PARAMS: Readonly<ProofSetParams> = Object.freeze({
  periodBlocks: 256,
  challengeDelayBlocks: 2,
  maxMissedPeriods: 3,
  collateralBps: 10_000,
  slashBps: 1_000,
  reporterBps: 2_000,
  auditBond: 10n ** 17n
})

/** For a local anvil: 8-block periods, so tests see proofs, misses and audits within seconds. */
export const PROOF_SET_DEVNET_PARAMS: Readonly<ProofSetParams> = Object.freeze({
  ...PROOF_SET_DEFAULT_PARAMS,
  periodBlocks: 8,
  challengeDelayBlocks: 1
})

// ------------------------------------------------------------------ the challenge rule

/** A deal's weight in its provider's proof set: max(leafCount, MIN_WEIGHT). */
export function proofSetWeight(leafCount: bigint): bigint {
  return leafCount > PROOF_SET_MIN_WEIGHT ? leafCount : PROOF_SET_MIN_WEIGHT
}

/** Leaves of a deal of `size` bytes. */
export function proofSetLeafCount(size: bigint): bigint {
  return (size + BigInt(LEAF_SIZE) - 1n) / BigInt(LEAF_SIZE)
}

/** K of a proof set of `weight` leaves: 0 if empty, else max(K_MIN, ⌈LAMBDA × weight / TiB⌉). */
export function proofSetChallengeCount(weight: bigint): bigint {
  if (weight === 0n) return 0n
  const k = (PROOF_SET_LAMBDA * weight + PROOF_SET_TIB_LEAVES - 1n) / PROOF_SET_TIB_LEAVES
  return k < PROOF_SET_K_MIN ? PROOF_SET_K_MIN : k
}

/** Proof transactions (chunks) of a period with K challenges. */
export function proofSetChunkCount(k: bigint): number {
  return Number((k + BigInt(PROOF_SET_CHUNK) - 1n) / BigInt(PROOF_SET_CHUNK))
}

const CHALLENGE_ABI = [{ type: 'bytes32' }, { type: 'address' }, { type: 'uint256' }] as const

/** Challenge i of `provider`'s set under the period seed: keccak256(abi.encode(seed, provider, i)) % weight. */
export function proofSetChallengeIndex(seed: Hex, provider: Address, i: bigint, weight: bigint): bigint {
  return BigInt(keccak256(encodeAbiParameters(CHALLENGE_ABI, [seed, provider, i]))) % weight
}

/** The leaf of a deal a challenge at `index` of the set lands on: ⌊(index − rangeStart) · leafCount / weight⌋. */
export function proofSetLeafOffset(index: bigint, rangeStart: bigint, leafCount: bigint): bigint {
  return ((index - rangeStart) * leafCount) / proofSetWeight(leafCount)
}

/** What a prover knows of one of its deals. */
export interface ProofSetProverDeal {
  dealId: bigint
  /** Position in the provider's super-tree: deals opened before it by the same provider (`DealOpened.slot`). */
  slot: number
  rangeStart: bigint
  leafCount: bigint
  /** First period the deal is void in (its end, or earlier after a fault, a declaration or failure). */
  voidFrom: bigint
  /** The deal's tree; undefined when the data is lost (the challenge is answered with a fault). */
  tree?: ProvableTree
}

export interface BuildChunkParameters {
  seed: Hex
  provider: Address
  period: bigint
  /** Snapshot weight of the period (`getProofSetSnapshotWeight`). */
  weight: bigint
  chunk: number
  /** The provider's deals (any order). */
  deals: readonly ProofSetProverDeal[]
  /** The period's super-tree (`superRootOf(provider, period)`): the provider's first `slots` deals. */
  superTree: SuperTreeSnapshot
}

/** One challenge of a chunk, as the prover resolved it. */
export interface ResolvedChallenge {
  index: bigint
  dealId: bigint
  /** 'proof' (leaf and path sent), 'void' (hint only: the deal is void in the period), 'fault' (cannot answer). */
  kind: 'proof' | 'void' | 'fault'
  leaf?: bigint
}

/**
 * The proof bytes of chunk `chunk`: per challenge a big-endian uint32 dealId hint (FAULT_FLAG set when the
 * deal's tree is missing), then, unless the deal is void in the period or faulted, its uint32 slot, the leaf,
 * the leaf's path to the deal root and the slot's path to the period's super-root.
 */
export function buildProofSetChunk(p: BuildChunkParameters): { proof: Hex; challenges: ResolvedChallenge[] } {
  const k = proofSetChallengeCount(p.weight)
  const from = BigInt(p.chunk * PROOF_SET_CHUNK)
  if (from >= k) throw new ProofEncodingError(`chunk ${p.chunk} is past the period's ${k} challenges`)
  const to = from + BigInt(PROOF_SET_CHUNK) < k ? from + BigInt(PROOF_SET_CHUNK) : k
  const sorted = [...p.deals].sort((a, b) => (a.rangeStart < b.rangeStart ? -1 : a.rangeStart > b.rangeStart ? 1 : 0))
  const parts: Uint8Array[] = []
  const challenges: ResolvedChallenge[] = []
  for (let i = from; i < to; i++) {
    const index = proofSetChallengeIndex(p.seed, p.provider, i, p.weight)
    const deal = findRange(sorted, index)
    if (deal === undefined)
      throw new ProofEncodingError(`challenge ${i} (index ${index}) lands on no deal given to the prover`)
    if (deal.dealId >= BigInt(PROOF_SET_FAULT_FLAG))
      throw new ProofEncodingError(`deal id ${deal.dealId} does not fit a hint`)
    const hint = new Uint8Array(4)
    const fault = p.period < deal.voidFrom && deal.tree === undefined
    new DataView(hint.buffer).setUint32(0, (Number(deal.dealId) | (fault ? PROOF_SET_FAULT_FLAG : 0)) >>> 0)
    parts.push(hint)
    if (p.period >= deal.voidFrom) {
      challenges.push({ index, dealId: deal.dealId, kind: 'void' })
      continue
    }
    if (deal.tree === undefined) {
      challenges.push({ index, dealId: deal.dealId, kind: 'fault' })
      continue
    }
    const leaf = proofSetLeafOffset(index, deal.rangeStart, deal.leafCount)
    const proof = deal.tree.prove(Number(leaf))
    if (proof.path.length !== deal.tree.depth)
      throw new ProofEncodingError(`deal ${deal.dealId}: path of ${proof.path.length}, depth ${deal.tree.depth}`)
    if (deal.slot >= p.superTree.slots)
      throw new ProofEncodingError(
        `deal ${deal.dealId}: slot ${deal.slot} is not in the period's ${p.superTree.slots}-deal super-tree`
      )
    const slot = new Uint8Array(4)
    new DataView(slot.buffer).setUint32(0, deal.slot)
    parts.push(slot, proof.leaf, ...proof.path, ...p.superTree.prove(deal.slot))
    challenges.push({ index, dealId: deal.dealId, kind: 'proof', leaf })
  }
  const out = new Uint8Array(parts.reduce((n, x) => n + x.length, 0))
  let offset = 0
  for (const x of parts) {
    out.set(x, offset)
    offset += x.length
  }
  return { proof: bytesToHex(out), challenges }
}

function findRange(sorted: readonly ProofSetProverDeal[], index: bigint): ProofSetProverDeal | undefined {
  let lo = 0
  let hi = sorted.length - 1
  while (lo <= hi) {
    const mid = (lo + hi) >> 1
    const d = sorted[mid]!
    if (index < d.rangeStart) hi = mid - 1
    else if (index >= d.rangeStart + proofSetWeight(d.leafCount)) lo = mid + 1
    else return d
  }
  return undefined
}

// ------------------------------------------------------------------ offers (EIP-712)

/** A provider's terms for one deal, signed once it holds and has verified the shard (`ProofSetMarket.Offer`). */
export interface ProofSetOffer {
  provider: Address
  client: Address
  /** Merkle root of the shard (@sherd/proofs). */
  root: Hex
  /** Shard size in bytes, 1..2^40. */
  size: bigint
  /** Tokens per proven period (< 2^80). */
  pricePerPeriod: bigint
  /** Periods of the term, from the period after opening. */
  periods: number
  /** Provider-chosen; sequential nonces share storage slots (cheaper openings). */
  nonce: bigint
  /** Unix seconds after which the offer cannot be opened. */
  expiry: bigint
}

export const PROOF_SET_DOMAIN_NAME = 'Sherd ProofSetMarket'
export const PROOF_SET_DOMAIN_VERSION = '1'

export const PROOF_SET_OFFER_TYPES = {
  Offer: [
    { name: 'provider', type: 'address' },
    { name: 'client', type: 'address' },
    { name: 'root', type: 'bytes32' },
    { name: 'size', type: 'uint64' },
    { name: 'pricePerPeriod', type: 'uint256' },
    { name: 'periods', type: 'uint32' },
    { name: 'nonce', type: 'uint256' },
    { name: 'expiry', type: 'uint64' }
  ]
} as const

export function proofSetOfferDomain(chainId: number, market: Address) {
  return { name: PROOF_SET_DOMAIN_NAME, version: PROOF_SET_DOMAIN_VERSION, chainId, verifyingContract: market } as const
}

/** The digest a provider signs (equals `ProofSetMarket.hashOffer`). */
export function hashProofSetOffer(offer: ProofSetOffer, chainId: number, market: Address): Hex {
  return hashTypedData({
    domain: proofSetOfferDomain(chainId, market),
    types: PROOF_SET_OFFER_TYPES,
    primaryType: 'Offer',
    message: offer
  })
}

/** Signs `offer` with the wallet's account, which must be `offer.provider`. */
export async function signProofSetOffer(
  walletClient: WalletClient<Transport, Chain | undefined, Account>,
  { market, offer, chainId }: { market: Address; offer: ProofSetOffer; chainId?: number }
): Promise<Hex> {
  if (!isAddressEqual(walletClient.account.address, offer.provider)) {
    throw new InvalidOfferError(
      `offer.provider ${offer.provider} is not the signing account ${walletClient.account.address}`
    )
  }
  return await walletClient.signTypedData({
    account: walletClient.account,
    domain: proofSetOfferDomain(chainId ?? walletClient.chain?.id ?? (await walletClient.getChainId()), market),
    types: PROOF_SET_OFFER_TYPES,
    primaryType: 'Offer',
    message: offer
  })
}

// ------------------------------------------------------------------ deploy

export interface ProofSetDeployment {
  market: Address
  token: Address
  /** Period 0 starts at this block. */
  genesisBlock: bigint
  params: ProofSetParams
}

/** Deploys a ProofSetMarket (and a mintable `SherdToken` unless `token` is given) from the wallet's account. */
export async function deployProofSetMarket(
  walletClient: WalletClient<Transport, Chain | undefined, Account>,
  p: { publicClient: PublicClient; token?: Address; params?: Partial<ProofSetParams>; signal?: AbortSignal }
): Promise<ProofSetDeployment> {
  const params = { ...PROOF_SET_DEFAULT_PARAMS, ...p.params }
  const options = { signal: p.signal }
  let token = p.token
  if (token === undefined) {
    const hash = await walletClient.deployContract({
      abi: sherdTokenAbi,
      bytecode: sherdTokenBytecode,
      args: ['Sherd Devnet Token', 'SHERD'],
      account: walletClient.account,
      chain: walletClient.chain ?? null
    })
    token = (await waitForSuccess(p.publicClient, hash, options)).contractAddress ?? undefined
    if (token === undefined) throw new TransactionFailedError(`token deployment ${hash} created no contract`)
  }
  const hash = await walletClient.deployContract({
    abi: proofSetMarketAbi,
    bytecode: proofSetMarketBytecode,
    args: [
      token,
      {
        periodBlocks: BigInt(params.periodBlocks),
        challengeDelayBlocks: BigInt(params.challengeDelayBlocks),
        maxMissedPeriods: params.maxMissedPeriods,
        collateralBps: params.collateralBps,
        slashBps: params.slashBps,
        reporterBps: params.reporterBps,
        auditBond: params.auditBond
      }
    ],
    account: walletClient.account,
    chain: walletClient.chain ?? null
  })
  const receipt = await waitForSuccess(p.publicClient, hash, options)
  const market = receipt.contractAddress ?? undefined
  if (market === undefined) throw new TransactionFailedError(`market deployment ${hash} created no contract`)
  return { market, token, genesisBlock: receipt.blockNumber, params }
}

// ------------------------------------------------------------------ writes

function wallet(mc: MarketClient): WalletClient<Transport, Chain | undefined, Account> {
  if (mc.walletClient === undefined)
    throw new TypeError('this action sends a transaction: pass a walletClient with an account')
  return mc.walletClient
}

type MarketWrite = ContractFunctionName<ProofSetMarketAbi, 'nonpayable'>
type EstimateGas = EstimateContractGasParameters<ProofSetMarketAbi, MarketWrite>
type WriteMarket = WriteContractParameters<ProofSetMarketAbi, MarketWrite>

/**
 * Sends one market function from the wallet and waits for its successful receipt. The gas is estimated against the
 * pending block (whose number the transaction will most likely get), so a revert surfaces as viem's
 * ContractFunctionRevertedError with the market's custom error before anything is sent.
 */
async function sendMarket<const F extends MarketWrite>(
  mc: MarketClient,
  functionName: F,
  args: ContractFunctionArgs<ProofSetMarketAbi, 'nonpayable', F>,
  options: ActionOptions
): Promise<TransactionReceipt> {
  const w = wallet(mc)
  options.signal?.throwIfAborted()
  // viem cannot narrow its parameter unions through a generic function name, so the two calls are cast; the
  // signature above is what keeps each caller's name and arguments checked against the ABI.
  const call = { address: mc.market, abi: proofSetMarketAbi, functionName, args }
  const gas = await mc.publicClient.estimateContractGas({
    ...call,
    account: w.account,
    blockTag: 'pending'
  } as unknown as EstimateGas)
  const hash = await w.writeContract({
    ...call,
    account: w.account,
    chain: w.chain ?? null,
    gas
  } as unknown as WriteMarket)
  return await waitForSuccess(mc.publicClient, hash, options)
}

async function ensureAllowance(mc: MarketClient, amount: bigint, options: ActionOptions): Promise<void> {
  if (amount === 0n) return
  const w = wallet(mc)
  const token = await mc.publicClient.readContract({
    address: mc.market,
    abi: proofSetMarketAbi,
    functionName: 'token'
  })
  const allowance = await mc.publicClient.readContract({
    address: token,
    abi: erc20Abi,
    functionName: 'allowance',
    args: [w.account.address, mc.market]
  })
  if (allowance >= amount) return
  const hash = await w.writeContract({
    address: token,
    abi: erc20Abi,
    functionName: 'approve',
    args: [mc.market, amount],
    account: w.account,
    chain: w.chain ?? null
  })
  await waitForSuccess(mc.publicClient, hash, options)
}

/**
 * Longest term a provider accepts when it does not say (`registerProofSetProvider`): about a year of the default
 * 256-block periods of 12-s blocks. It bounds how far clients may extend a deal at its price without asking.
 */
export const PROOF_SET_DEFAULT_MAX_TERM_PERIODS = 10_000

export interface RegisterProofSetProviderParameters {
  stake: bigint
  /** libp2p peer id clients dial (1..128 bytes). */
  peerId: string
  /**
   * Longest term (end − start, in periods) the provider accepts for an offer and after an extension; 0 accepts
   * none. Default PROOF_SET_DEFAULT_MAX_TERM_PERIODS.
   */
  maxTermPeriods?: number
}

/** Registers the wallet's account as a provider with `stake` (approved automatically). */
export async function registerProofSetProvider(
  mc: MarketClient,
  p: RegisterProofSetProviderParameters,
  options: ActionOptions = {}
): Promise<TransactionReceipt> {
  await ensureAllowance(mc, p.stake, options)
  return await sendMarket(
    mc,
    'register',
    [p.stake, p.maxTermPeriods ?? PROOF_SET_DEFAULT_MAX_TERM_PERIODS, p.peerId],
    options
  )
}

/** Sets the longest term the wallet's provider accepts from now on (open deals keep theirs). */
export async function setProofSetMaxTerm(
  mc: MarketClient,
  maxTermPeriods: number,
  options: ActionOptions = {}
): Promise<TransactionReceipt> {
  return await sendMarket(mc, 'setMaxTerm', [maxTermPeriods], options)
}

/** Adds `amount` to the wallet's stake. */
export async function addProofSetStake(
  mc: MarketClient,
  amount: bigint,
  options: ActionOptions = {}
): Promise<TransactionReceipt> {
  await ensureAllowance(mc, amount, options)
  return await sendMarket(mc, 'addStake', [amount], options)
}

/** Moves unlocked stake to the wallet's withdrawable balance. */
export async function removeProofSetStake(
  mc: MarketClient,
  amount: bigint,
  options: ActionOptions = {}
): Promise<TransactionReceipt> {
  return await sendMarket(mc, 'removeStake', [amount], options)
}

/** A signed offer, as the client collected it from the provider. */
export interface SignedProofSetOffer {
  offer: ProofSetOffer
  signature: Hex
}

/**
 * Opens one deal per signed offer in one transaction from the wallet (the client of every offer), approving the
 * total escrow first. Returns the new deal ids in offer order.
 */
export async function openProofSetDeals(
  mc: MarketClient,
  p: { offers: readonly SignedProofSetOffer[] },
  options: ActionOptions = {}
): Promise<{ dealIds: bigint[]; receipt: TransactionReceipt }> {
  const total = p.offers.reduce((sum, o) => sum + o.offer.pricePerPeriod * BigInt(o.offer.periods), 0n)
  await ensureAllowance(mc, total, options)
  const receipt = await sendMarket(
    mc,
    'openDeals',
    [p.offers.map((o) => o.offer), p.offers.map((o) => o.signature)],
    options
  )
  const dealIds = parseEventLogs({ abi: proofSetMarketAbi, logs: receipt.logs, eventName: 'DealOpened' }).map(
    (l) => l.args.dealId
  )
  if (dealIds.length !== p.offers.length)
    throw new TransactionFailedError(
      `openDeals ${receipt.transactionHash} opened ${dealIds.length} deals, not ${p.offers.length}`
    )
  return { dealIds, receipt }
}

export interface ExtendProofSetDealsParameters {
  /** Deals of the wallet's account (the client), Live with their term not over. */
  dealIds: readonly bigint[]
  /** Periods added to every deal's term, each at its own price. */
  addedPeriods: number
}

/**
 * Extends the wallet's deals by `addedPeriods` in one transaction, approving Σ price × addedPeriods first.
 * Reverts `TermTooLong` past a provider's maxTermPeriods, `WrongDealState` for a deal not Live or whose term is
 * over, `InsufficientStake` when a provider's free stake cannot cover the added collateral.
 * Returns the new end period of each deal, in `dealIds` order.
 */
export async function extendProofSetDeals(
  mc: MarketClient,
  p: ExtendProofSetDealsParameters,
  options: ActionOptions = {}
): Promise<{ endPeriods: bigint[]; receipt: TransactionReceipt }> {
  const deals = await Promise.all(
    p.dealIds.map(
      async (dealId) =>
        await mc.publicClient.readContract({
          address: mc.market,
          abi: proofSetMarketAbi,
          functionName: 'getDeal',
          args: [dealId]
        })
    )
  )
  const total = deals.reduce((sum, d) => sum + d.pricePerPeriod * BigInt(p.addedPeriods), 0n)
  await ensureAllowance(mc, total, options)
  const receipt = await sendMarket(mc, 'extendDeals', [p.dealIds, p.addedPeriods], options)
  const endPeriods = parseEventLogs({ abi: proofSetMarketAbi, logs: receipt.logs, eventName: 'DealExtended' }).map(
    (l) => BigInt(l.args.endPeriod)
  )
  if (endPeriods.length !== p.dealIds.length)
    throw new TransactionFailedError(
      `extendDeals ${receipt.transactionHash} extended ${endPeriods.length} deals, not ${p.dealIds.length}`
    )
  return { endPeriods, receipt }
}

/** Submits one proof chunk of the wallet's due period (`buildProofSetChunk`). */
export async function submitProofSetChunk(
  mc: MarketClient,
  p: { period: bigint; chunk: number; proof: Hex },
  options: ActionOptions = {}
): Promise<TransactionReceipt> {
  return await sendMarket(mc, 'prove', [p.period, BigInt(p.chunk), p.proof], options)
}

/** Marks a closed, unproven period of `provider` missed (reward to the wallet). */
export async function markProofSetMissed(
  mc: MarketClient,
  p: { provider: Address; period: bigint },
  options: ActionOptions = {}
): Promise<TransactionReceipt> {
  return await sendMarket(mc, 'markMissed', [p.provider, p.period], options)
}

/** Declares the data of the wallet's deals lost, before the current period's challenge block (25 % slash). */
export async function declareProofSetLost(
  mc: MarketClient,
  dealIds: readonly bigint[],
  options: ActionOptions = {}
): Promise<TransactionReceipt> {
  return await sendMarket(mc, 'declareLost', [dealIds], options)
}

/** Settles `dealIds` (pay proven periods, refund the others, close finished deals); safe to repeat. */
export async function claimProofSetDeals(
  mc: MarketClient,
  dealIds: readonly bigint[],
  options: ActionOptions = {}
): Promise<TransactionReceipt> {
  return await sendMarket(mc, 'claim', [dealIds], options)
}

/** Stores the seed of `period` on chain (within 256 blocks of its challenge block). */
export async function commitProofSetSeed(
  mc: MarketClient,
  period: bigint,
  options: ActionOptions = {}
): Promise<TransactionReceipt> {
  return await sendMarket(mc, 'commitSeed', [period], options)
}

/** Asks for an audit of one of the wallet's deals, depositing the bond (approved automatically). */
export async function requestProofSetAudit(
  mc: MarketClient,
  dealId: bigint,
  options: ActionOptions = {}
): Promise<TransactionReceipt> {
  const bond = await mc.publicClient.readContract({
    address: mc.market,
    abi: proofSetMarketAbi,
    functionName: 'auditBond'
  })
  await ensureAllowance(mc, bond === 0n ? 1n : bond, options)
  return await sendMarket(mc, 'requestAudit', [dealId], options)
}

/** Answers an open audit with AUDIT_CHALLENGES items (`proveChallenges(tree, auditSeed, 10)`). */
export async function answerProofSetAudit(
  mc: MarketClient,
  p: { dealId: bigint; proof: Hex },
  options: ActionOptions = {}
): Promise<TransactionReceipt> {
  return await sendMarket(mc, 'answerAudit', [p.dealId, p.proof], options)
}

/** Settles an unanswered audit whose period has closed: the deal faults, the client gets bond and reward. */
export async function failProofSetAudit(
  mc: MarketClient,
  dealId: bigint,
  options: ActionOptions = {}
): Promise<TransactionReceipt> {
  return await sendMarket(mc, 'failAudit', [dealId], options)
}

/** Revokes an unused offer nonce of the wallet's account. */
export async function cancelProofSetOffer(
  mc: MarketClient,
  nonce: bigint,
  options: ActionOptions = {}
): Promise<TransactionReceipt> {
  return await sendMarket(mc, 'cancelOffer', [nonce], options)
}

/** Transfers the wallet's whole withdrawable balance to it. */
export async function withdrawProofSet(
  mc: MarketClient,
  options: ActionOptions = {}
): Promise<{ amount: bigint; receipt: TransactionReceipt }> {
  const receipt = await sendMarket(mc, 'withdraw', [], options)
  const [log] = parseEventLogs({ abi: proofSetMarketAbi, logs: receipt.logs, eventName: 'Withdrawn' })
  return { amount: log?.args.amount ?? 0n, receipt }
}

// ------------------------------------------------------------------ reads

export const PROOF_SET_DEAL_STATES = ['none', 'live', 'declared', 'faulted', 'failed', 'ended'] as const
export type ProofSetDealState = (typeof PROOF_SET_DEAL_STATES)[number]

export interface ProofSetDeal {
  provider: Address
  client: Address
  root: Hex
  leafCount: bigint
  depth: number
  state: ProofSetDealState
  /** Off the books: escrow resolved, collateral unlocked. */
  settled: boolean
  rangeStart: bigint
  weight: bigint
  startPeriod: bigint
  endPeriod: bigint
  voidFrom: bigint
  paidFrom: bigint
  missed: number
  pricePerPeriod: bigint
  collateral: bigint
  escrow: bigint
}

export async function getProofSetDeal(mc: MarketClient, dealId: bigint): Promise<ProofSetDeal> {
  const d = await mc.publicClient.readContract({
    address: mc.market,
    abi: proofSetMarketAbi,
    functionName: 'getDeal',
    args: [dealId]
  })
  return {
    provider: d.provider,
    client: d.client,
    root: d.root,
    leafCount: d.leafCount,
    depth: d.depth,
    state: PROOF_SET_DEAL_STATES[d.state] ?? 'none',
    settled: d.settled,
    rangeStart: d.rangeStart,
    weight: d.weight,
    startPeriod: BigInt(d.startPeriod),
    endPeriod: BigInt(d.endPeriod),
    voidFrom: BigInt(d.voidFrom),
    paidFrom: BigInt(d.paidFrom),
    missed: d.missed,
    pricePerPeriod: d.pricePerPeriod,
    collateral: d.collateral,
    escrow: d.escrow
  }
}

export interface ProofSetProvider {
  id: number
  stake: bigint
  locked: bigint
  /** Total weight of the proof set (live and dead ranges), in leaves. */
  weight: bigint
  /** The oldest period whose challenges are not answered yet. */
  due: bigint
  firstPeriod: bigint
  chunksDone: bigint
  /** Longest term (end − start periods) the provider accepts for an offer or after an extension. */
  maxTermPeriods: number
  /** Deals opened and not yet settled. A provider that leaves waits for 0 here (and `locked` 0). */
  unsettledDeals: number
  peerId: string
}

export async function getProofSetProvider(mc: MarketClient, provider: Address): Promise<ProofSetProvider> {
  const p = await mc.publicClient.readContract({
    address: mc.market,
    abi: proofSetMarketAbi,
    functionName: 'getProvider',
    args: [provider]
  })
  return {
    id: p.id,
    stake: p.stake,
    locked: p.locked,
    weight: p.weight,
    due: BigInt(p.due),
    firstPeriod: BigInt(p.firstPeriod),
    chunksDone: p.chunksDone,
    maxTermPeriods: p.maxTermPeriods,
    unsettledDeals: p.unsettledDeals,
    peerId: p.peerId
  }
}

export async function getProofSetParams(mc: MarketClient): Promise<ProofSetParams> {
  const read = async (
    functionName:
      | 'periodBlocks'
      | 'challengeDelayBlocks'
      | 'maxMissedPeriods'
      | 'collateralBps'
      | 'slashBps'
      | 'reporterBps'
      | 'auditBond'
  ): Promise<bigint> => await mc.publicClient.readContract({ address: mc.market, abi: proofSetMarketAbi, functionName })
  return {
    periodBlocks: Number(await read('periodBlocks')),
    challengeDelayBlocks: Number(await read('challengeDelayBlocks')),
    maxMissedPeriods: Number(await read('maxMissedPeriods')),
    collateralBps: Number(await read('collateralBps')),
    slashBps: Number(await read('slashBps')),
    reporterBps: Number(await read('reporterBps')),
    auditBond: await read('auditBond')
  }
}

export interface ProofSetPeriod {
  period: bigint
  startBlock: bigint
  challengeBlock: bigint
  /** Last block in which a proof still counts as on time. */
  lastOnTimeBlock: bigint
}

/** Blocks of `period` (default: the pending block's period). */
export async function getProofSetPeriod(mc: MarketClient, period?: bigint): Promise<ProofSetPeriod> {
  const read = async (functionName: 'periodStartBlock' | 'challengeBlock', q: bigint): Promise<bigint> =>
    await mc.publicClient.readContract({ address: mc.market, abi: proofSetMarketAbi, functionName, args: [q] })
  const q =
    period ??
    (await mc.publicClient.readContract({
      address: mc.market,
      abi: proofSetMarketAbi,
      functionName: 'currentPeriod',
      blockTag: 'pending'
    }))
  return {
    period: q,
    startBlock: await read('periodStartBlock', q),
    challengeBlock: await read('challengeBlock', q),
    lastOnTimeBlock: (await read('periodStartBlock', q + 1n)) - 1n
  }
}

/** The network seed of `period` (stored, or from the challenge block's hash while readable). */
export async function getProofSetSeed(mc: MarketClient, period: bigint): Promise<Hex> {
  return await mc.publicClient.readContract({
    address: mc.market,
    abi: proofSetMarketAbi,
    functionName: 'seedOf',
    args: [period],
    blockTag: 'pending'
  })
}

/** The super-root `provider`'s challenges of `period` are checked against, and its deal count (final once `period` began). */
export async function getProofSetSuperRoot(
  mc: MarketClient,
  provider: Address,
  period: bigint
): Promise<{ root: Hex; slots: number }> {
  const [root, slots] = await mc.publicClient.readContract({
    address: mc.market,
    abi: proofSetMarketAbi,
    functionName: 'superRootOf',
    args: [provider, period]
  })
  return { root, slots: Number(slots) }
}

export async function getProofSetSnapshotWeight(mc: MarketClient, provider: Address, period: bigint): Promise<bigint> {
  return await mc.publicClient.readContract({
    address: mc.market,
    abi: proofSetMarketAbi,
    functionName: 'snapshotWeight',
    args: [provider, period]
  })
}

/**
 * Challenges [from, from + count) of `provider` in `period`, each computed by the contract itself
 * (`challengeIndex` over `seedOf(period)` and `snapshotWeight`): the cross-check of the TypeScript rule.
 */
export async function getProofSetChallenges(
  mc: MarketClient,
  p: { provider: Address; period: bigint; from?: bigint; count: bigint }
): Promise<bigint[]> {
  const weight = await getProofSetSnapshotWeight(mc, p.provider, p.period)
  const k = proofSetChallengeCount(weight)
  const seed = await getProofSetSeed(mc, p.period)
  const out: bigint[] = []
  for (let i = p.from ?? 0n; i < k && i < (p.from ?? 0n) + p.count; i++) {
    out.push(
      await mc.publicClient.readContract({
        address: mc.market,
        abi: proofSetMarketAbi,
        functionName: 'challengeIndex',
        args: [seed, p.provider, i, weight]
      })
    )
  }
  return out
}

export const PROOF_SET_PERIOD_STATUSES = ['open', 'proven', 'missed'] as const
export type ProofSetPeriodStatus = (typeof PROOF_SET_PERIOD_STATUSES)[number]

export async function getProofSetPeriodStatus(
  mc: MarketClient,
  provider: Address,
  period: bigint
): Promise<ProofSetPeriodStatus> {
  const s = await mc.publicClient.readContract({
    address: mc.market,
    abi: proofSetMarketAbi,
    functionName: 'periodStatus',
    args: [provider, period]
  })
  return PROOF_SET_PERIOD_STATUSES[s] ?? 'open'
}

export async function getProofSetWithdrawable(mc: MarketClient, account: Address): Promise<bigint> {
  return await mc.publicClient.readContract({
    address: mc.market,
    abi: proofSetMarketAbi,
    functionName: 'withdrawable',
    args: [account]
  })
}

export async function getProofSetAudit(
  mc: MarketClient,
  dealId: bigint
): Promise<{ period: bigint; bond: bigint } | undefined> {
  const [period, bond] = await mc.publicClient.readContract({
    address: mc.market,
    abi: proofSetMarketAbi,
    functionName: 'getAudit',
    args: [dealId]
  })
  return bond === 0n ? undefined : { period: BigInt(period), bond }
}

const AUDIT_TAG = keccak256(stringToHex('Sherd ProofSetMarket audit'))
const AUDIT_SEED_ABI = [{ type: 'bytes32' }, { type: 'bytes32' }, { type: 'uint256' }] as const

/** The seed an audit of `dealId` in `period` uses with `proveChallenges(tree, seed, PROOF_SET_AUDIT_CHALLENGES)`. */
export async function getProofSetAuditSeed(mc: MarketClient, dealId: bigint, period: bigint): Promise<Hex> {
  return keccak256(encodeAbiParameters(AUDIT_SEED_ABI, [await getProofSetSeed(mc, period), AUDIT_TAG, dealId]))
}

export function parseProofSetEvents(logs: Parameters<typeof parseEventLogs>[0]['logs']) {
  return parseEventLogs({ abi: proofSetMarketAbi, logs })
}
