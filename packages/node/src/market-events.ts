import { proofSetMarketAbi } from '@sherd/contracts'
import type { MarketClient } from '@sherd/contracts'
import type { ContractEventArgs, ContractEventName, GetContractEventsReturnType } from 'viem'
import { MAX_LOG_RANGE_BLOCKS } from './prover/tx-queue.js'

type Abi = typeof proofSetMarketAbi
export type MarketEventName = ContractEventName<Abi>

/**
 * The market's `eventName` events in [fromBlock, toBlock] (default: the head), typed from the generated ABI, read in
 * pages of MAX_LOG_RANGE_BLOCKS blocks (what RPC endpoints accept).
 */
export async function readMarketEvents<N extends MarketEventName> (
  mc: Pick<MarketClient, 'market' | 'publicClient'>,
  p: { eventName: N, args?: ContractEventArgs<Abi, N>, fromBlock: bigint, toBlock?: bigint, signal?: AbortSignal }
): Promise<GetContractEventsReturnType<Abi, N, true>> {
  const to = p.toBlock ?? await mc.publicClient.getBlockNumber({ cacheTime: 0 })
  const out: GetContractEventsReturnType<Abi, N, true> = []
  for (let start = p.fromBlock; start <= to; start += MAX_LOG_RANGE_BLOCKS) {
    p.signal?.throwIfAborted()
    const end = start + MAX_LOG_RANGE_BLOCKS - 1n < to ? start + MAX_LOG_RANGE_BLOCKS - 1n : to
    const logs = await mc.publicClient.getContractEvents({
      address: mc.market, abi: proofSetMarketAbi, eventName: p.eventName, args: p.args, fromBlock: start, toBlock: end, strict: true
    } as never) as GetContractEventsReturnType<Abi, N, true>
    out.push(...logs)
  }
  return out
}
