import { proofSetMarketAbi, waitForSuccess } from '@sherd/contracts'
import type { MarketClient } from '@sherd/contracts'
import { encodeFunctionData, hexToBytes } from 'viem'
import type { Account, Hex, TransactionReceipt } from 'viem'
import { NodeError } from '../errors.js'

/** Largest transaction a node's pool relays (geth's txpool limit): calldata stays below it. */
export const MAX_TX_CALLDATA_BYTES = 131_072
/** EIP-7825 (Osaka) cap on one transaction's gas limit. */
export const MAX_TX_GAS = 16_777_216n
/** Headroom over the estimate for state that changes between estimate and inclusion, within MAX_TX_GAS. */
export const GAS_HEADROOM_PERCENT = 20n
/** First size tried for lists of deal ids (claims, declarations); halved while the estimate is over the budget. */
export const ID_BATCH_SIZE = 800

/** A transaction would exceed a chain limit: the caller must split it (a prover bug if it reaches the chain). */
export class TxLimitError extends NodeError {
  override name = 'TxLimitError'
}

/** The market calls the prover sends, each typed from the generated ABI. */
export type ProofSetCall =
  | { functionName: 'prove'; args: readonly [bigint, bigint, Hex] }
  | { functionName: 'claim'; args: readonly [readonly bigint[]] }
  | { functionName: 'declareLost'; args: readonly [readonly bigint[]] }
  | { functionName: 'answerAudit'; args: readonly [bigint, Hex] }
  | { functionName: 'commitSeed'; args: readonly [bigint] }
  | { functionName: 'withdraw'; args: readonly [] }

export function encodeCall(call: ProofSetCall): Hex {
  switch (call.functionName) {
    case 'prove':
      return encodeFunctionData({ abi: proofSetMarketAbi, functionName: 'prove', args: call.args })
    case 'claim':
      return encodeFunctionData({ abi: proofSetMarketAbi, functionName: 'claim', args: call.args })
    case 'declareLost':
      return encodeFunctionData({ abi: proofSetMarketAbi, functionName: 'declareLost', args: call.args })
    case 'answerAudit':
      return encodeFunctionData({ abi: proofSetMarketAbi, functionName: 'answerAudit', args: call.args })
    case 'commitSeed':
      return encodeFunctionData({ abi: proofSetMarketAbi, functionName: 'commitSeed', args: call.args })
    case 'withdraw':
      return encodeFunctionData({ abi: proofSetMarketAbi, functionName: 'withdraw' })
  }
}

// Against the pending block, the one the transaction most likely lands in; a revert surfaces as viem's
// ContractFunctionRevertedError naming the market's custom error (`proofSetRevertName` of @sherd/contracts).
async function estimateCall(mc: MarketClient, account: Account, call: ProofSetCall): Promise<bigint> {
  const base = { address: mc.market, abi: proofSetMarketAbi, account, blockTag: 'pending' } as const
  const c = mc.publicClient
  switch (call.functionName) {
    case 'prove':
      return await c.estimateContractGas({ ...base, functionName: 'prove', args: call.args })
    case 'claim':
      return await c.estimateContractGas({ ...base, functionName: 'claim', args: call.args })
    case 'declareLost':
      return await c.estimateContractGas({ ...base, functionName: 'declareLost', args: call.args })
    case 'answerAudit':
      return await c.estimateContractGas({ ...base, functionName: 'answerAudit', args: call.args })
    case 'commitSeed':
      return await c.estimateContractGas({ ...base, functionName: 'commitSeed', args: call.args })
    case 'withdraw':
      return await c.estimateContractGas({ ...base, functionName: 'withdraw' })
  }
}

export interface SentTx {
  receipt: TransactionReceipt
  calldataBytes: number
  gasLimit: bigint
}

/** Calldata bytes of a call, checked against MAX_TX_CALLDATA_BYTES. */
export function checkedCalldata(call: ProofSetCall): { data: Hex; bytes: number } {
  const data = encodeCall(call)
  const bytes = hexToBytes(data).length
  if (bytes > MAX_TX_CALLDATA_BYTES)
    throw new TxLimitError(
      `${call.functionName} would carry ${bytes} bytes of calldata, over the ${MAX_TX_CALLDATA_BYTES}-byte limit: split it`
    )
  return { data, bytes }
}

/** A transaction in the pool: wait for it with `waitForCall`. */
export interface PendingTx {
  hash: Hex
  calldataBytes: number
  gasLimit: bigint
}

/**
 * Estimates, refuses anything over the per-transaction limits (TxLimitError), and sends with the estimate plus
 * headroom (never above MAX_TX_GAS), without waiting: several can be in the pool at once (consecutive nonces).
 */
export async function submitCall(
  mc: MarketClient,
  call: ProofSetCall,
  options: { signal?: AbortSignal } = {}
): Promise<PendingTx> {
  const w = mc.walletClient
  if (w === undefined)
    throw new TypeError('the prover sends transactions: its market client needs a walletClient with an account')
  const { data, bytes } = checkedCalldata(call)
  options.signal?.throwIfAborted()
  const estimate = await estimateCall(mc, w.account, call)
  if (estimate > MAX_TX_GAS)
    throw new TxLimitError(
      `${call.functionName} needs ${estimate} gas, over the ${MAX_TX_GAS} per-transaction cap: split it`
    )
  const padded = estimate + (estimate * GAS_HEADROOM_PERCENT) / 100n
  const gasLimit = padded < MAX_TX_GAS ? padded : MAX_TX_GAS
  const hash = await w.sendTransaction({
    to: mc.market,
    data,
    gas: gasLimit,
    account: w.account,
    chain: w.chain ?? null
  })
  return { hash, calldataBytes: bytes, gasLimit }
}

/**
 * Waits for a successful receipt. The signal bounds the wait: a transaction dropped from the pool is given up
 * when it aborts, and the caller sends it again.
 */
export async function waitForCall(
  mc: MarketClient,
  pending: PendingTx,
  options: { signal?: AbortSignal } = {}
): Promise<SentTx> {
  const receipt = await waitForSuccess(mc.publicClient, pending.hash, options)
  return { receipt, calldataBytes: pending.calldataBytes, gasLimit: pending.gasLimit }
}

/** `submitCall`, then `waitForCall`. */
export async function sendCall(
  mc: MarketClient,
  call: ProofSetCall,
  options: { signal?: AbortSignal } = {}
): Promise<SentTx> {
  return await waitForCall(mc, await submitCall(mc, call, options), options)
}

/** Gas of a call as the pending block would charge it (no transaction sent). */
export async function estimateOnly(mc: MarketClient, call: ProofSetCall): Promise<bigint> {
  const w = mc.walletClient
  if (w === undefined) throw new TypeError('estimating needs a walletClient with an account (the sender)')
  return await estimateCall(mc, w.account, call)
}

/**
 * Cuts `ids` into lists whose call `make(list)` fits one transaction: `size` at a time, halved while the list's
 * estimate (or calldata) is over the budget. Returns the size that fitted, to start from next time.
 */
export async function fitIdBatches(
  mc: MarketClient,
  ids: readonly bigint[],
  make: (list: readonly bigint[]) => ProofSetCall,
  size: number,
  maxGas: bigint = (MAX_TX_GAS * 3n) / 4n
): Promise<{ batches: bigint[][]; size: number }> {
  const batches: bigint[][] = []
  let n = Math.max(1, size)
  for (let i = 0; i < ids.length; ) {
    const list = ids.slice(i, i + n)
    const call = make(list)
    const fits =
      hexToBytes(encodeCall(call)).length <= MAX_TX_CALLDATA_BYTES && (await estimateOnly(mc, call)) <= maxGas
    if (!fits && list.length > 1) {
      n = Math.ceil(list.length / 2)
      continue
    }
    batches.push(list)
    i += list.length
  }
  return { batches, size: n }
}
