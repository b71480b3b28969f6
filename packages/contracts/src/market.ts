import { erc20Abi, parseEventLogs } from 'viem'
import type {
  Account, Address, Chain, ContractEventName, ContractFunctionArgs, ContractFunctionName, Hex, Log, PublicClient,
  TransactionReceipt, Transport, WalletClient, WatchContractEventOnLogsParameter
} from 'viem'
import { TransactionFailedError } from './errors.js'
import { storageMarketAbi } from './generated/contracts.js'
import type { Offer } from './offer.js'
import type { MarketParams } from './params.js'

/** What every helper works over: the market's address, a public client, and (for writes) a wallet with an account. */
export interface MarketClient {
  readonly market: Address
  readonly publicClient: PublicClient
  readonly walletClient?: WalletClient<Transport, Chain | undefined, Account>
}

export interface ActionOptions {
  signal?: AbortSignal
}

export type MarketAbi = typeof storageMarketAbi
type WriteName = ContractFunctionName<MarketAbi, 'nonpayable'>

function wallet (mc: MarketClient): WalletClient<Transport, Chain | undefined, Account> {
  if (mc.walletClient === undefined) throw new TypeError('this action sends a transaction: pass a walletClient with an account')
  return mc.walletClient
}

async function abortable<T> (promise: Promise<T>, signal?: AbortSignal): Promise<T> {
  if (signal === undefined) return await promise
  signal.throwIfAborted()
  return await new Promise<T>((resolve, reject) => {
    const onAbort = (): void => { reject(signal.reason) }
    signal.addEventListener('abort', onAbort, { once: true })
    promise.then(resolve, reject).finally(() => { signal.removeEventListener('abort', onAbort) })
  })
}

/** Waits for `hash` and throws `TransactionFailedError` if it reverted. */
export async function waitForSuccess (publicClient: PublicClient, hash: Hex, options: ActionOptions = {}): Promise<TransactionReceipt> {
  const receipt = await abortable(publicClient.waitForTransactionReceipt({ hash }), options.signal)
  if (receipt.status !== 'success') throw new TransactionFailedError(`transaction ${hash} reverted`)
  return receipt
}

// Simulates first (against the pending block, whose number the transaction will most likely get), so a revert surfaces as viem's ContractFunctionRevertedError carrying the market's custom error
// (name and arguments), then sends and waits for the receipt.
async function send<N extends WriteName> (
  mc: MarketClient,
  functionName: N,
  args: ContractFunctionArgs<MarketAbi, 'nonpayable', N>,
  options: ActionOptions = {}
): Promise<TransactionReceipt> {
  const w = wallet(mc)
  options.signal?.throwIfAborted()
  const { request } = await abortable(mc.publicClient.simulateContract({
    address: mc.market, abi: storageMarketAbi, functionName, args, account: w.account, blockTag: 'pending'
  } as never), options.signal)
  const hash = await w.writeContract({ ...(request as object), chain: w.chain ?? null } as never)
  return await waitForSuccess(mc.publicClient, hash, options)
}

/** The market's ERC-20. */
export async function getToken (mc: MarketClient): Promise<Address> {
  return await mc.publicClient.readContract({ address: mc.market, abi: storageMarketAbi, functionName: 'token' })
}

// Approves the market for `amount` more than it may already spend, when needed.
async function ensureAllowance (mc: MarketClient, amount: bigint, options: ActionOptions): Promise<void> {
  if (amount === 0n) return
  const w = wallet(mc)
  const token = await getToken(mc)
  const allowance = await mc.publicClient.readContract({
    address: token, abi: erc20Abi, functionName: 'allowance', args: [w.account.address, mc.market]
  })
  if (allowance >= amount) return
  const hash = await w.writeContract({
    address: token, abi: erc20Abi, functionName: 'approve', args: [mc.market, amount], account: w.account, chain: w.chain ?? null
  })
  await waitForSuccess(mc.publicClient, hash, options)
}

// ------------------------------------------------------------------ provider

export interface RegisterProviderParameters {
  /** Stake deposited (approved automatically). */
  stake: bigint
  /** Advertised price, token units per MiB per period. */
  pricePerMiB: bigint
  /** Bytes accepted in open deals. */
  capacity: bigint
  /** libp2p peer id, text form. */
  peerId: string
}

/** Registers the wallet's account as a provider with `stake`. */
export async function registerProvider (mc: MarketClient, p: RegisterProviderParameters, options: ActionOptions = {}): Promise<TransactionReceipt> {
  await ensureAllowance(mc, p.stake, options)
  return await send(mc, 'register', [p.stake, p.pricePerMiB, p.capacity, p.peerId], options)
}

export interface UpdateProviderParameters {
  pricePerMiB: bigint
  capacity: bigint
  peerId: string
}

/** Updates the wallet's provider record (capacity 0 stops new deals). */
export async function updateProvider (mc: MarketClient, p: UpdateProviderParameters, options: ActionOptions = {}): Promise<TransactionReceipt> {
  return await send(mc, 'updateProvider', [p.pricePerMiB, p.capacity, p.peerId], options)
}

/** Adds `amount` to the wallet's stake. */
export async function addStake (mc: MarketClient, amount: bigint, options: ActionOptions = {}): Promise<TransactionReceipt> {
  await ensureAllowance(mc, amount, options)
  return await send(mc, 'addStake', [amount], options)
}

/** Leaves the registry (all deals must have ended); the stake becomes withdrawable. */
export async function exitProvider (mc: MarketClient, options: ActionOptions = {}): Promise<TransactionReceipt> {
  return await send(mc, 'exit', [], options)
}

/** Revokes an unused offer nonce of the wallet's account. */
export async function cancelOffer (mc: MarketClient, nonce: bigint, options: ActionOptions = {}): Promise<TransactionReceipt> {
  return await send(mc, 'cancelOffer', [nonce], options)
}

export interface ActivateDealParameters {
  dealId: bigint
  /** Proof of the activation challenge (`getActivationSeed`, `proveChallenges`). */
  proof: Hex
}

/** Activates a pending deal of the wallet's account with its activation proof. */
export async function activateDeal (mc: MarketClient, p: ActivateDealParameters, options: ActionOptions = {}): Promise<TransactionReceipt> {
  return await send(mc, 'activate', [p.dealId, p.proof], options)
}

export interface ProofBatchItem {
  dealId: bigint
  /** `encodeProof` / `proveChallenges` output for the deal's seed in the period. */
  proof: Hex
}

export interface SubmitProofsParameters {
  period: bigint
  items: readonly ProofBatchItem[]
}

/**
 * Proves `period` for many deals in one transaction. All or nothing: if one item is invalid the simulation throws
 * a ContractFunctionExecutionError whose cause names the custom error and the deal id; drop it and resubmit.
 * Keep batches within the chain's transaction gas cap (~230k gas per deal at c = 10 on 4 MiB shards).
 */
export async function submitProofs (mc: MarketClient, p: SubmitProofsParameters, options: ActionOptions = {}): Promise<TransactionReceipt> {
  return await send(mc, 'submitProofs', [p.period, p.items.map((i) => i.dealId), p.items.map((i) => i.proof)], options)
}

/** Withdraws the wallet's whole withdrawable balance; returns the amount. */
export async function withdraw (mc: MarketClient, options: ActionOptions = {}): Promise<{ amount: bigint, receipt: TransactionReceipt }> {
  const receipt = await send(mc, 'withdraw', [], options)
  const [log] = parseEventLogs({ abi: storageMarketAbi, logs: receipt.logs, eventName: 'Withdrawn' })
  if (log === undefined) throw new TransactionFailedError(`withdraw ${receipt.transactionHash} emitted no Withdrawn event`)
  return { amount: log.args.amount, receipt }
}

// ------------------------------------------------------------------ client

export interface OpenDealParameters {
  offer: Offer
  signature: Hex
}

/** Approves the escrow (price × periods) and opens the deal; returns its id. The wallet must be `offer.client`. */
export async function openDeal (mc: MarketClient, p: OpenDealParameters, options: ActionOptions = {}): Promise<{ dealId: bigint, receipt: TransactionReceipt }> {
  await ensureAllowance(mc, p.offer.pricePerPeriod * BigInt(p.offer.periods), options)
  const receipt = await send(mc, 'openDeal', [p.offer, p.signature], options)
  const [log] = parseEventLogs({ abi: storageMarketAbi, logs: receipt.logs, eventName: 'DealOpened' })
  if (log === undefined) throw new TransactionFailedError(`openDeal ${receipt.transactionHash} emitted no DealOpened event`)
  return { dealId: log.args.dealId, receipt }
}

export interface ExtendDealParameters {
  dealId: bigint
  addedPeriods: number
}

/** Extends a deal of the wallet's account at its price (escrow for the added periods approved automatically). */
export async function extendDeal (mc: MarketClient, p: ExtendDealParameters, options: ActionOptions = {}): Promise<TransactionReceipt> {
  const deal = await getDeal(mc, p.dealId)
  await ensureAllowance(mc, deal.pricePerPeriod * BigInt(p.addedPeriods), options)
  return await send(mc, 'extendDeal', [p.dealId, p.addedPeriods], options)
}

// ------------------------------------------------------------------ anyone

/** Marks a closed, unproven period missed (slashes the provider; a share is credited to the wallet). */
export async function markMissed (mc: MarketClient, p: { dealId: bigint, period: bigint }, options: ActionOptions = {}): Promise<TransactionReceipt> {
  return await send(mc, 'markMissed', [p.dealId, p.period], options)
}

/** Settles a deal whose term is over. */
export async function endDeal (mc: MarketClient, dealId: bigint, options: ActionOptions = {}): Promise<TransactionReceipt> {
  return await send(mc, 'endDeal', [dealId], options)
}

/** Refunds a deal its provider did not activate before the deadline. */
export async function expireDeal (mc: MarketClient, dealId: bigint, options: ActionOptions = {}): Promise<TransactionReceipt> {
  return await send(mc, 'expireDeal', [dealId], options)
}

// ------------------------------------------------------------------ reads

export const DEAL_STATES = ['none', 'pending', 'active', 'ended', 'failed', 'expired'] as const
export type DealState = typeof DEAL_STATES[number]
export const PERIOD_STATUSES = ['open', 'proven', 'missed'] as const
export type PeriodStatus = typeof PERIOD_STATUSES[number]

export interface Deal {
  id: bigint
  client: Address
  provider: Address
  state: DealState
  root: Hex
  size: bigint
  leafCount: bigint
  depth: number
  openedBlock: bigint
  /** First proving period (0 until activated). */
  startPeriod: bigint
  periods: number
  maxPeriods: number
  provenPeriods: number
  missedPeriods: number
  pricePerPeriod: bigint
  /** Escrow not yet paid out or refunded. */
  escrow: bigint
  /** Collateral locked for the deal (including the part slashed). */
  collateral: bigint
  slashed: bigint
}

/** A deal's record. */
export async function getDeal (mc: MarketClient, dealId: bigint): Promise<Deal> {
  const d = await mc.publicClient.readContract({ address: mc.market, abi: storageMarketAbi, functionName: 'getDeal', args: [dealId] })
  return {
    id: dealId,
    client: d.client,
    provider: d.provider,
    state: DEAL_STATES[d.state] ?? 'none',
    root: d.root,
    size: d.size,
    leafCount: d.leafCount,
    depth: d.depth,
    openedBlock: d.openedBlock,
    startPeriod: d.startPeriod,
    periods: d.periods,
    maxPeriods: d.maxPeriods,
    provenPeriods: d.provenPeriods,
    missedPeriods: d.missedPeriods,
    pricePerPeriod: d.pricePerPeriod,
    escrow: d.escrow,
    collateral: d.collateral,
    slashed: d.slashed
  }
}

export interface ProviderInfo {
  account: Address
  stake: bigint
  lockedStake: bigint
  pricePerMiB: bigint
  capacity: bigint
  usedBytes: bigint
  openDeals: number
  peerId: string
}

/** A registered provider (reverts with NotRegistered otherwise). */
export async function getProvider (mc: MarketClient, provider: Address): Promise<ProviderInfo> {
  return { ...await mc.publicClient.readContract({ address: mc.market, abi: storageMarketAbi, functionName: 'getProvider', args: [provider] }) }
}

/** Registry page size: one eth_call returns this many providers. */
const PROVIDER_PAGE_SIZE = 100n

/** Every registered provider. */
export async function listProviders (mc: MarketClient, options: ActionOptions = {}): Promise<ProviderInfo[]> {
  const out: ProviderInfo[] = []
  for (let offset = 0n; ; offset += PROVIDER_PAGE_SIZE) {
    options.signal?.throwIfAborted()
    const page = await mc.publicClient.readContract({
      address: mc.market, abi: storageMarketAbi, functionName: 'getProviders', args: [offset, PROVIDER_PAGE_SIZE]
    })
    out.push(...page.map((p) => ({ ...p })))
    if (BigInt(page.length) < PROVIDER_PAGE_SIZE) return out
  }
}

/** The market's parameters. */
export async function getMarketParams (mc: MarketClient): Promise<MarketParams> {
  const p = await mc.publicClient.readContract({ address: mc.market, abi: storageMarketAbi, functionName: 'params' })
  return {
    periodBlocks: Number(p.periodBlocks),
    challengeDelayBlocks: Number(p.challengeDelayBlocks),
    activationBlocks: Number(p.activationBlocks),
    challengeCount: p.challengeCount,
    maxMissedPeriods: p.maxMissedPeriods,
    collateralBps: p.collateralBps,
    slashBps: p.slashBps,
    reporterBps: p.reporterBps
  }
}

export interface PeriodInfo {
  period: bigint
  /** First block of the period. */
  startBlock: bigint
  /** The block whose hash seeds the period's challenges. */
  challengeBlock: bigint
  /** First and last blocks that accept proofs for the period. */
  firstProofBlock: bigint
  lastProofBlock: bigint
  /** First block of the next period: from here the period can be marked missed. */
  endBlock: bigint
}

/** The current period number. */
export async function getCurrentPeriod (mc: MarketClient): Promise<bigint> {
  return await mc.publicClient.readContract({ address: mc.market, abi: storageMarketAbi, functionName: 'currentPeriod' })
}

/** Block boundaries of `period` (default: the current one). Pure arithmetic on chain; no RPC beyond the reads. */
export async function getPeriodInfo (mc: MarketClient, period?: bigint): Promise<PeriodInfo> {
  const p = period ?? await getCurrentPeriod(mc)
  const read = { address: mc.market, abi: storageMarketAbi } as const
  const [startBlock, challengeBlock, [firstProofBlock, lastProofBlock]] = await Promise.all([
    mc.publicClient.readContract({ ...read, functionName: 'periodStartBlock', args: [p] }),
    mc.publicClient.readContract({ ...read, functionName: 'challengeBlock', args: [p] }),
    mc.publicClient.readContract({ ...read, functionName: 'proofWindow', args: [p] })
  ])
  return { period: p, startBlock, challengeBlock, firstProofBlock, lastProofBlock, endBlock: lastProofBlock + 1n }
}

// Seeds are read against the pending block: BLOCKHASH of the latest block is readable only from the block after it.

/** The challenge seed of `dealId` in `period`; readable once the period's challenge block is mined (256 blocks). */
export async function getChallengeSeed (mc: MarketClient, dealId: bigint, period: bigint): Promise<Hex> {
  return await mc.publicClient.readContract({ address: mc.market, abi: storageMarketAbi, functionName: 'challengeSeed', args: [dealId, period], blockTag: 'pending' })
}

/** The activation seed of `dealId`; readable once the deal's opening block is mined (256 blocks). */
export async function getActivationSeed (mc: MarketClient, dealId: bigint): Promise<Hex> {
  return await mc.publicClient.readContract({ address: mc.market, abi: storageMarketAbi, functionName: 'activationSeed', args: [dealId], blockTag: 'pending' })
}

/** Whether `period` of `dealId` is open, proven or missed. */
export async function getPeriodStatus (mc: MarketClient, dealId: bigint, period: bigint): Promise<PeriodStatus> {
  const s = await mc.publicClient.readContract({ address: mc.market, abi: storageMarketAbi, functionName: 'periodStatus', args: [dealId, period] })
  return PERIOD_STATUSES[s] ?? 'open'
}

/** Tokens `account` can withdraw. */
export async function getWithdrawable (mc: MarketClient, account: Address): Promise<bigint> {
  return await mc.publicClient.readContract({ address: mc.market, abi: storageMarketAbi, functionName: 'withdrawable', args: [account] })
}

// ------------------------------------------------------------------ events

export type MarketEventName = ContractEventName<MarketAbi>

export interface WatchMarketEventsParameters<E extends MarketEventName> {
  eventName: E
  /** Indexed arguments to filter on, e.g. `{ client }` for DealFailed. */
  args?: Record<string, unknown>
  onLogs: (logs: WatchContractEventOnLogsParameter<MarketAbi, E, true>) => void
  onError?: (error: Error) => void
  /** Polling interval in ms (HTTP transports poll). */
  pollingInterval?: number
}

/**
 * Calls `onLogs` with every new `eventName` event of the market (e.g. `DealOpened` for a provider to activate,
 * `DealFailed` for a client to repair). Returns a function that stops watching.
 */
export function watchMarketEvents<E extends MarketEventName> (mc: MarketClient, p: WatchMarketEventsParameters<E>): () => void {
  return mc.publicClient.watchContractEvent({
    address: mc.market,
    abi: storageMarketAbi,
    eventName: p.eventName,
    args: p.args,
    strict: true,
    onLogs: p.onLogs,
    onError: p.onError,
    pollingInterval: p.pollingInterval
  } as never)
}

/** Decodes the market's events in `logs` (e.g. a receipt's). */
export function parseMarketEvents<E extends MarketEventName> (logs: Log[], eventName?: E) {
  return parseEventLogs({ abi: storageMarketAbi, logs, eventName })
}
