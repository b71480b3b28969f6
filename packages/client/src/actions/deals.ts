import {
  formatTokenAmount,
  proofSetMarketAbi,
  proofSetRevertName,
  TransactionFailedError,
  waitForSuccess
} from '@sherd/contracts'
import type { MarketClient, SignedProofSetOffer } from '@sherd/contracts'
import { encodeFunctionData, erc20Abi, parseEventLogs } from 'viem'
import type { Hex, NonceManager, PublicClient } from 'viem'
import { marketParams, marketToken } from '../chain.js'
import type { ChainContext } from '../context.js'
import { ChainActionError, InsufficientFundsError } from '../errors.js'
import { sleep } from '@sherd/protocol'

/** Runs `fn` over `items` with at most `limit` at once; results in input order. */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<R>
): Promise<R[]> {
  const out = new Array<R>(items.length)
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++
      out[i] = await fn(items[i]!, i)
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker))
  return out
}

/** A ChainActionError naming the market's revert (decoded from the ABI), for any failed transaction of the SDK. */
export function chainActionError(operation: string, err: unknown, provider?: string): ChainActionError {
  return new ChainActionError(operation, err, provider, proofSetRevertName(err))
}

/** What the deal actions need of a client: the chain and a paying account, no libp2p. */
export type DealChain = Pick<ChainContext, 'market' | 'publicClient' | 'walletClient' | 'account' | 'chainId'>

/**
 * Makes sure the market may spend `amount` of the account's tokens: one balance check and, if the allowance is
 * short, one approval for the whole amount (so the batches that follow need no approval each).
 */
export async function approveOnce(ctx: DealChain, amount: bigint, signal?: AbortSignal): Promise<boolean> {
  const approval = await sendApproval(ctx, amount, signal)
  if (approval === undefined) return false
  await approval.mined
  return true
}

/**
 * Sends the approval if the allowance is short and returns the promise of its success, `mined` (it rejects as
 * approveOnce throws, also when the approval is dropped or replaced), or undefined when no approval is needed.
 */
export async function sendApproval(
  ctx: DealChain,
  amount: bigint,
  signal?: AbortSignal
): Promise<{ mined: Promise<void> } | undefined> {
  if (amount === 0n) return undefined
  const tokenInfo = await marketToken(ctx.market)
  const token = tokenInfo.address
  const [balance, allowance] = await Promise.all([
    ctx.publicClient.readContract({ address: token, abi: erc20Abi, functionName: 'balanceOf', args: [ctx.account] }),
    ctx.publicClient.readContract({
      address: token,
      abi: erc20Abi,
      functionName: 'allowance',
      args: [ctx.account, ctx.market.market]
    })
  ])
  if (balance < amount) throw new InsufficientFundsError(amount, balance, token, (a) => formatTokenAmount(a, tokenInfo))
  if (allowance >= amount) return undefined
  const failed = (err: unknown): never => {
    signal?.throwIfAborted()
    throw chainActionError(`approving the market for ${amount} token units`, err)
  }
  let hash: Hex
  try {
    hash = await ctx.walletClient.writeContract({
      address: token,
      abi: erc20Abi,
      functionName: 'approve',
      args: [ctx.market.market, amount],
      account: ctx.walletClient.account,
      chain: ctx.walletClient.chain ?? null
    })
  } catch (err) {
    return failed(err)
  }
  const mined = waitForOwnTransaction(ctx, hash, signal).then(
    () => {},
    (err: unknown) => {
      // The account's nonce manager counts the lost transaction as sent and would give the next one the nonce after
      // it: that one would wait behind the gap for ever. Asked again, the node hands out the free nonce. Not when
      // the caller only stopped waiting: the transaction is still in the pool, and a reset could hand a nonce
      // another send of this client holds to a second transaction.
      if (!(signal?.aborted ?? false)) {
        const account = ctx.walletClient.account as { nonceManager?: NonceManager } | undefined
        account?.nonceManager?.reset({ address: ctx.account, chainId: ctx.chainId })
      }
      return failed(err)
    }
  )
  mined.catch(() => {})
  return { mined }
}

/** Consecutive polls a sent transaction may be unknown to the node before it counts as dropped. */
const DROPPED_AFTER_POLLS = 3
/** How long a sent approval may stay unmined before it counts as lost (viem's own receipt timeout). */
const APPROVAL_TIMEOUT_MS = 180_000

/**
 * Waits for the account's own transaction `hash` and fails as soon as it can no longer succeed: it reverted, its
 * nonce was taken by another transaction of the account (replaced or cancelled in a wallet: viem would resolve with
 * the replacement's receipt, which is no approval), or the node no longer knows it (dropped from the pool, which
 * viem only notices at its timeout). A caller that holds its next transaction until this resolves never leaves one
 * waiting behind a nonce gap or running without the allowance it needs.
 */
async function waitForOwnTransaction(ctx: DealChain, hash: Hex, signal?: AbortSignal): Promise<void> {
  const client = ctx.publicClient
  const deadline = Date.now() + APPROVAL_TIMEOUT_MS
  let nonce: number | undefined
  let missing = 0
  for (;;) {
    signal?.throwIfAborted()
    // The account's nonce before the receipt: a receipt missing after the nonce moved past ours is another's.
    const used = nonce === undefined ? undefined : await client.getTransactionCount({ address: ctx.account })
    const receipt = await client.getTransactionReceipt({ hash }).catch(() => undefined)
    if (receipt !== undefined) {
      if (receipt.status !== 'success') throw new TransactionFailedError(`transaction ${hash} reverted`)
      return
    }
    if (used !== undefined && nonce !== undefined && used > nonce)
      throw new TransactionFailedError(
        `transaction ${hash} was replaced: another transaction of ${ctx.account} used its nonce ${nonce}`
      )
    const tx = await client.getTransaction({ hash }).catch(() => undefined)
    if (tx === undefined) {
      if (++missing >= DROPPED_AFTER_POLLS)
        throw new TransactionFailedError(`transaction ${hash} was dropped: the node no longer knows it`)
    } else {
      missing = 0
      nonce = tx.nonce
    }
    if (Date.now() > deadline)
      throw new TransactionFailedError(`transaction ${hash} was not mined within ${APPROVAL_TIMEOUT_MS / 1000} s`)
    await sleep(client.pollingInterval, signal)
  }
}

/** geth's `txMaxSize`: public mempools drop larger transactions. */
export const MAX_TX_CALLDATA_BYTES = 131_072
/** EIP-7825 (Osaka): no transaction may use more gas. */
export const MAX_TX_GAS = 16_777_216n
/**
 * Offers tried in one openDeals before the calldata and gas checks (~85 k gas and ~420 calldata bytes each): 100
 * stay near half the gas cap, so a batch rarely has to be split after its estimate.
 */
export const MAX_OFFERS_PER_BATCH = 100

/** Gas limit sent with a batch, in percent of its estimate (capped at the batch limit). */
const GAS_HEADROOM_PERCENT = 120n

/** Limits a batch must stay within (the defaults are the real chain's; tests pass smaller ones). */
export interface BatchLimits {
  maxCalldataBytes: number
  maxGas: bigint
  maxOffers: number
}

export const DEFAULT_BATCH_LIMITS: Readonly<BatchLimits> = Object.freeze({
  maxCalldataBytes: MAX_TX_CALLDATA_BYTES,
  maxGas: MAX_TX_GAS,
  maxOffers: MAX_OFFERS_PER_BATCH
})

/** The exact calldata of `openDeals(offers, signatures)`. */
export function openDealsCalldata(offers: readonly SignedProofSetOffer[]): Hex {
  return encodeFunctionData({
    abi: proofSetMarketAbi,
    functionName: 'openDeals',
    args: [offers.map((o) => o.offer), offers.map((o) => o.signature)]
  })
}

/** Bytes of a hex string's data. */
export function hexBytes(hex: Hex): number {
  return (hex.length - 2) / 2
}

// openDeals(Offer[], bytes[]) ABI layout: selector, two head offsets, each array's length; per offer its static
// struct (8 words) inline, and a signature as an offset word, a length word and its bytes padded to 32.
const OPEN_DEALS_BASE_BYTES = 4 + 32 * 4
const OFFER_STRUCT_BYTES = 32 * 8

/** Calldata bytes one offer adds to an openDeals transaction (equal to `openDealsCalldata`'s growth; tested). */
export function offerCalldataBytes(offer: SignedProofSetOffer): number {
  return OFFER_STRUCT_BYTES + 64 + Math.ceil(hexBytes(offer.signature) / 32) * 32
}

/** Calldata bytes of `openDeals(offers…)`, without encoding it. */
export function openDealsCalldataBytes(offers: readonly SignedProofSetOffer[]): number {
  return offers.reduce((n, o) => n + offerCalldataBytes(o), OPEN_DEALS_BASE_BYTES)
}

/**
 * Splits `offers` (in order) into consecutive batches whose openDeals calldata stays within
 * `limits.maxCalldataBytes` and whose size stays within `limits.maxOffers`. Gas is checked per batch by estimate
 * (a batch whose estimate is over the cap is split by the caller). Returns index lists into `offers`.
 */
export function planBatches(
  offers: readonly SignedProofSetOffer[],
  limits: Pick<BatchLimits, 'maxCalldataBytes' | 'maxOffers'> = DEFAULT_BATCH_LIMITS
): number[][] {
  const batches: number[][] = []
  let current: number[] = []
  let bytes = OPEN_DEALS_BASE_BYTES
  for (let i = 0; i < offers.length; i++) {
    const more = offerCalldataBytes(offers[i]!)
    if (current.length > 0 && (current.length + 1 > limits.maxOffers || bytes + more > limits.maxCalldataBytes)) {
      batches.push(current)
      current = []
      bytes = OPEN_DEALS_BASE_BYTES
    }
    if (bytes + more > limits.maxCalldataBytes)
      throw new RangeError(`one offer alone exceeds the batch limit of ${limits.maxCalldataBytes} calldata bytes`)
    current.push(i)
    bytes += more
  }
  if (current.length > 0) batches.push(current)
  return batches
}

/** What became of one batch sent to the chain. */
export type BatchOutcome =
  | { kind: 'opened'; dealIds: bigint[]; blockNumber: bigint; txHash: Hex }
  /** The estimate says the batch is over the gas cap: split it. */
  | { kind: 'too-large'; gas: bigint }
  /** The market refuses the batch (named revert, e.g. NonceUsed, OfferExpired, InsufficientStake, TermTooLong). */
  | { kind: 'refused'; reason: string; revert?: string }

/**
 * Estimates, sends and waits for one openDeals transaction. `onSent` runs with the hash as soon as the chain has
 * the transaction and before its receipt, so a journal can record it: a crash after that point leaves a batch
 * whose deals resume finds on chain. The approval must already cover the batch's escrow.
 */
export async function sendBatch(
  ctx: DealChain,
  offers: readonly SignedProofSetOffer[],
  limits: Pick<BatchLimits, 'maxGas'>,
  signal: AbortSignal,
  onSent: (txHash: Hex) => Promise<void>
): Promise<BatchOutcome> {
  const args = [offers.map((o) => o.offer), offers.map((o) => o.signature)] as const
  let gas: bigint
  try {
    gas = await ctx.publicClient.estimateContractGas({
      address: ctx.market.market,
      abi: proofSetMarketAbi,
      functionName: 'openDeals',
      args,
      account: ctx.walletClient.account,
      blockTag: 'pending'
    })
  } catch (err) {
    signal.throwIfAborted()
    return refusal(err)
  }
  if (gas > limits.maxGas) return { kind: 'too-large', gas }
  signal.throwIfAborted()
  // Headroom for state that changes between the estimate and the block (another client's deals with the same
  // provider move its checkpoint), within the cap: EIP-7825 refuses a gas limit above it, not only gas used.
  const headroom = (gas * GAS_HEADROOM_PERCENT) / 100n
  const gasLimit = headroom > limits.maxGas ? limits.maxGas : headroom
  let hash: Hex
  try {
    hash = await ctx.walletClient.writeContract({
      address: ctx.market.market,
      abi: proofSetMarketAbi,
      functionName: 'openDeals',
      args,
      account: ctx.walletClient.account,
      chain: ctx.walletClient.chain ?? null,
      gas: gasLimit
    })
  } catch (err) {
    signal.throwIfAborted()
    return refusal(err)
  }
  await onSent(hash)
  let receipt
  try {
    receipt = await waitForSuccess(ctx.publicClient, hash, { signal })
  } catch (err) {
    signal.throwIfAborted()
    return refusal(err)
  }
  const dealIds = parseEventLogs({ abi: proofSetMarketAbi, logs: receipt.logs, eventName: 'DealOpened' }).map(
    (l) => l.args.dealId
  )
  if (dealIds.length !== offers.length)
    return { kind: 'refused', reason: `openDeals ${hash} opened ${dealIds.length} deals, not ${offers.length}` }
  return { kind: 'opened', dealIds, blockNumber: receipt.blockNumber, txHash: hash }
}

function refusal(err: unknown): BatchOutcome {
  const revert = proofSetRevertName(err)
  const message = ((err as { shortMessage?: string }).shortMessage ?? (err as Error).message ?? String(err)).split(
    '\n'
  )[0]!
  return { kind: 'refused', reason: message, ...(revert === undefined ? {} : { revert }) }
}

/**
 * Waits until every deal's term has begun (it is in its provider's proof set from its start period: the first
 * period after the one it was opened in), or until `timeoutMs`. Returns the ids whose term had not begun.
 */
export async function waitForTermStart(
  ctx: { market: MarketClient; publicClient: PublicClient },
  deals: ReadonlyArray<{ dealId: bigint; openedBlock: bigint }>,
  options: {
    timeoutMs: number
    pollingIntervalMs: number
    signal: AbortSignal
    onStarted?: (dealId: bigint, started: number) => void
  }
): Promise<bigint[]> {
  if (deals.length === 0) return []
  const { genesisBlock, periodBlocks } = await marketParams(ctx.market)
  const startBlock = (opened: bigint): bigint =>
    genesisBlock + ((opened - genesisBlock) / BigInt(periodBlocks) + 1n) * BigInt(periodBlocks)
  const pending = new Map(deals.map((d) => [d.dealId, startBlock(d.openedBlock)]))
  const started = Date.now()
  let count = 0
  for (;;) {
    options.signal.throwIfAborted()
    const head = await ctx.publicClient.getBlockNumber({ cacheTime: 0 })
    for (const [id, block] of pending) {
      if (head >= block) {
        pending.delete(id)
        options.onStarted?.(id, ++count)
      }
    }
    if (pending.size === 0) return []
    if (Date.now() - started > options.timeoutMs) return [...pending.keys()]
    await sleep(options.pollingIntervalMs, options.signal)
  }
}
