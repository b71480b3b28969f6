// ProofSetMarket's events and reverts, typed from the generated ABI: the one paged log reader every scanner
// (prover ledger, client, stat, devnet) uses, the provider listing built on it, and revert decoding by error name.
import {
  BaseError,
  ContractFunctionRevertedError,
  decodeErrorResult,
  InvalidInputRpcError,
  InvalidParamsRpcError,
  LimitExceededRpcError
} from 'viem'
import type { Address, ContractEventName, GetContractEventsParameters, GetContractEventsReturnType, Hex } from 'viem'
import { proofSetMarketAbi } from './generated/contracts.js'
import type { MarketClient } from './market-client.js'
import { getProofSetProvider } from './proof-set.js'
import type { ProofSetMarketAbi, ProofSetProvider } from './proof-set.js'

/** Name of any ProofSetMarket event. */
export type ProofSetEventName = ContractEventName<ProofSetMarketAbi>

/** A decoded ProofSetMarket log: `args` typed from the ABI for `E` (a union over every event when omitted). */
export type ProofSetEventLog<E extends ProofSetEventName | undefined = undefined> = GetContractEventsReturnType<
  ProofSetMarketAbi,
  E,
  true,
  bigint,
  bigint
>[number]

/**
 * Blocks per eth_getLogs call when the caller does not say: within what public RPC endpoints commonly allow
 * (several cap a range at 2,000–10,000 blocks).
 */
export const PROOF_SET_EVENT_PAGE_BLOCKS = 2_000n

export interface ReadProofSetEventsParameters<E extends ProofSetEventName | undefined> {
  /** The event to read; every ProofSetMarket event when omitted. */
  eventName?: E
  /** Filter on indexed arguments (e.g. `{ provider }`), typed for `eventName`. */
  args?: GetContractEventsParameters<ProofSetMarketAbi, E>['args']
  fromBlock: bigint
  /** Last block read, inclusive; default the latest block when the call starts. Pass it to know your cursor. */
  toBlock?: bigint
  /** Blocks per request (default PROOF_SET_EVENT_PAGE_BLOCKS). */
  pageBlocks?: bigint
  signal?: AbortSignal
}

/**
 * Logs of the market in [fromBlock, toBlock], oldest first, one eth_getLogs request per `pageBlocks` blocks.
 * Logs that do not decode against the ABI are dropped (strict), so every `args` field is present. A page the
 * endpoint refuses as too large (JSON-RPC -32005 limit exceeded, -32602 invalid params, -32000 invalid input:
 * the codes endpoints use for block-range and result-count limits) is halved and retried, down to one block;
 * the smaller size is kept for the pages after it.
 */
export async function readProofSetEvents<E extends ProofSetEventName | undefined = undefined>(
  mc: MarketClient,
  p: ReadProofSetEventsParameters<E>
): Promise<Array<ProofSetEventLog<E>>> {
  const pageBlocks = p.pageBlocks ?? PROOF_SET_EVENT_PAGE_BLOCKS
  if (pageBlocks < 1n) throw new RangeError(`pageBlocks must be at least 1, not ${pageBlocks}`)
  if (p.fromBlock < 0n) throw new RangeError(`fromBlock must be at least 0, not ${p.fromBlock}`)
  p.signal?.throwIfAborted()
  const toBlock = p.toBlock ?? (await mc.publicClient.getBlockNumber({ cacheTime: 0 }))
  const out: Array<ProofSetEventLog<E>> = []
  let size = pageBlocks
  for (let from = p.fromBlock; from <= toBlock; ) {
    p.signal?.throwIfAborted()
    const to = from + size - 1n < toBlock ? from + size - 1n : toBlock
    let logs: Array<ProofSetEventLog<E>>
    try {
      logs = await mc.publicClient.getContractEvents<ProofSetMarketAbi, E, true, bigint, bigint>({
        address: mc.market,
        abi: proofSetMarketAbi,
        eventName: p.eventName,
        args: p.args,
        fromBlock: from,
        toBlock: to,
        strict: true
      })
    } catch (err) {
      if (to > from && isRangeRefusal(err)) {
        size = (to - from + 1n) / 2n
        continue
      }
      throw err
    }
    out.push(...logs)
    from = to + 1n
  }
  return out
}

function isRangeRefusal(err: unknown): boolean {
  return (
    err instanceof BaseError &&
    err.walk(
      (e) =>
        e instanceof LimitExceededRpcError || e instanceof InvalidParamsRpcError || e instanceof InvalidInputRpcError
    ) !== null
  )
}

export interface ListProofSetProvidersParameters {
  /** Block to scan from: the market's deployment block (`MarketDeploymentRecord.genesisBlock`). */
  fromBlock: bigint
  toBlock?: bigint
  pageBlocks?: bigint
  signal?: AbortSignal
}

/**
 * Every registered provider, in registration order, from `ProviderRegistered` logs (the contract keeps no list:
 * enumeration would cost every registration storage and no transaction needs it) and each one's current
 * `getProvider`. Price and free capacity are not on chain: they come from gossip and the signed offer.
 */
export async function listProofSetProviders(
  mc: MarketClient,
  p: ListProofSetProvidersParameters
): Promise<Array<ProofSetProvider & { address: Address }>> {
  const logs = await readProofSetEvents(mc, {
    eventName: 'ProviderRegistered',
    fromBlock: p.fromBlock,
    toBlock: p.toBlock,
    pageBlocks: p.pageBlocks,
    signal: p.signal
  })
  const addresses = [...new Set(logs.map((l) => l.args.provider))]
  return await Promise.all(addresses.map(async (address) => ({ address, ...(await getProofSetProvider(mc, address)) })))
}

/** Name of any custom error ProofSetMarket declares. */
export type ProofSetErrorName = Extract<ProofSetMarketAbi[number], { type: 'error' }>['name']

/** A decoded revert: the custom error's name and its arguments (typed by the ABI entry they came from). */
export interface ProofSetRevert {
  errorName: string
  args: readonly unknown[]
}

/**
 * The custom error a ProofSetMarket call reverted with and its arguments, decoded from the ABI, or undefined
 * when `err` is not a revert with decodable data (an RPC failure, a timeout). A revert carrying
 * `Error(string)` or `Panic(uint256)` gives `'Error'` or `'Panic'`; an error of another contract on the call path
 * (the token) gives its own name when viem decoded it with that contract's ABI.
 */
export function decodeProofSetRevert(err: unknown): ProofSetRevert | undefined {
  if (!(err instanceof BaseError)) return undefined
  const reverted = err.walk((e) => e instanceof ContractFunctionRevertedError)
  if (reverted instanceof ContractFunctionRevertedError) {
    if (reverted.data !== undefined) return { errorName: reverted.data.errorName, args: reverted.data.args ?? [] }
    if (reverted.raw !== undefined) return decodeRaw(reverted.raw)
  }
  // Errors from calls that did not go through a typed contract call (call, sendTransaction) carry raw data.
  const raw = err.walk((e) => hasHexData(e))
  return hasHexData(raw) ? decodeRaw(raw.data) : undefined
}

/** The name of the custom error `err` reverted with (`'NonceUsed'`, `'TermTooLong'`, …); see decodeProofSetRevert. */
export function proofSetRevertName(err: unknown): string | undefined {
  return decodeProofSetRevert(err)?.errorName
}

/** Whether `err` is a ProofSetMarket revert with custom error `name` (checked against the ABI's error names). */
export function isProofSetRevert(err: unknown, name: ProofSetErrorName): boolean {
  return proofSetRevertName(err) === name
}

function hasHexData(e: unknown): e is { data: Hex } {
  return (
    typeof e === 'object' &&
    e !== null &&
    'data' in e &&
    typeof e.data === 'string' &&
    /^0x[0-9a-fA-F]{8,}$/.test(e.data)
  )
}

function decodeRaw(data: Hex): ProofSetRevert | undefined {
  try {
    const decoded = decodeErrorResult({ abi: proofSetMarketAbi, data })
    return { errorName: decoded.errorName, args: decoded.args ?? [] }
  } catch {
    return undefined
  }
}
