import { BaseError, ContractFunctionRevertedError } from 'viem'
import type { Hex } from 'viem'
import { storageMarketAbi } from '@sherd/contracts'
import type { MarketClient, MarketParams } from '@sherd/contracts'

/** Many RPC providers refuse eth_getLogs over more blocks than this in one call. */
export const MAX_LOG_RANGE_BLOCKS = 2_000n

/** Block arithmetic of the market's periods, as the contract does it (no RPC per question). */
export class MarketClock {
  constructor (readonly genesisBlock: bigint, readonly params: Readonly<MarketParams>) {}

  /** The period `block` belongs to (a transaction sent now lands in the pending block, head + 1). */
  periodOf (block: bigint): bigint {
    if (block < this.genesisBlock) return -1n
    return (block - this.genesisBlock) / BigInt(this.params.periodBlocks)
  }

  startBlock (period: bigint): bigint {
    return this.genesisBlock + period * BigInt(this.params.periodBlocks)
  }

  challengeBlock (period: bigint): bigint {
    return this.startBlock(period) + BigInt(this.params.challengeDelayBlocks)
  }

  firstProofBlock (period: bigint): bigint {
    return this.challengeBlock(period) + 1n
  }

  lastProofBlock (period: bigint): bigint {
    return this.startBlock(period + 1n) - 1n
  }

  /** The last period no proof can land in any more once `head` is mined (its window ended at or before head + 1). */
  closedThrough (head: bigint): bigint {
    return this.periodOf(head + 1n) - 1n
  }
}

/** Reads the market's deployment block (periods count from it) and parameters. */
export async function readGenesisBlock (mc: MarketClient): Promise<bigint> {
  return await mc.publicClient.readContract({ address: mc.market, abi: storageMarketAbi, functionName: 'genesisBlock' })
}

/** A market event, decoded. */
export interface MarketLog {
  eventName: string
  args: Record<string, unknown>
  blockNumber: bigint
  transactionHash: Hex
  logIndex: number
}

/** Every market event in [from, to], in chain order, in calls of at most MAX_LOG_RANGE_BLOCKS blocks. */
export async function fetchMarketLogs (mc: MarketClient, from: bigint, to: bigint, options: { signal?: AbortSignal } = {}): Promise<MarketLog[]> {
  const out: MarketLog[] = []
  for (let start = from; start <= to; start += MAX_LOG_RANGE_BLOCKS) {
    options.signal?.throwIfAborted()
    const end = start + MAX_LOG_RANGE_BLOCKS - 1n < to ? start + MAX_LOG_RANGE_BLOCKS - 1n : to
    const logs = await mc.publicClient.getContractEvents({ address: mc.market, abi: storageMarketAbi, fromBlock: start, toBlock: end, strict: true })
    for (const log of logs) {
      out.push({
        eventName: log.eventName,
        args: log.args as Record<string, unknown>,
        blockNumber: log.blockNumber,
        transactionHash: log.transactionHash,
        logIndex: log.logIndex
      })
    }
  }
  return out
}

/** The market's custom error behind a failed simulation (`{ name: 'PeriodAlreadyProven', args: [dealId, period] }`). */
export function revertOf (err: unknown): { name: string, args: readonly unknown[] } | undefined {
  if (!(err instanceof BaseError)) return undefined
  const reverted = err.walk((e) => e instanceof ContractFunctionRevertedError)
  if (!(reverted instanceof ContractFunctionRevertedError)) return undefined
  const name = reverted.data?.errorName
  if (name === undefined) return undefined
  return { name, args: reverted.data?.args ?? [] }
}

/** The transaction was refused for its gas (over the block or per-transaction cap): a smaller batch may pass. */
export function isGasLimitError (err: unknown): boolean {
  return /exceeds (the )?block gas limit|gas limit (too high|reached)|gas required exceeds|intrinsic gas too (high|low)|exceeds.*gas cap|gas cap/i.test(String((err as Error)?.message))
}

/**
 * Runs the node's transactions one at a time: the prover, the miss reporter and withdrawals send from one account,
 * and concurrent sends would read the same pending nonce.
 */
export class TxQueue {
  private tail: Promise<unknown> = Promise.resolve()

  async run<T> (fn: () => Promise<T>): Promise<T> {
    const result = this.tail.then(fn, fn)
    this.tail = result.catch(() => {})
    return await result
  }
}

/** Resolves after `ms`, or rejects with the signal's reason when it aborts first. */
export async function sleep (ms: number, signal?: AbortSignal): Promise<void> {
  signal?.throwIfAborted()
  await new Promise<void>((resolve, reject) => {
    const onAbort = (): void => { clearTimeout(timer); reject(signal?.reason) }
    const timer = setTimeout(() => { signal?.removeEventListener('abort', onAbort); resolve() }, ms)
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}

export function lower (value: unknown): string {
  return String(value).toLowerCase()
}
