import type { Account, Address, Chain, Hex, PublicClient, TransactionReceipt, Transport, WalletClient } from 'viem'
import { TransactionFailedError } from './errors.js'

/** What every market helper works over: the market's address, a public client, and (for writes) a wallet with an account. */
export interface MarketClient {
  readonly market: Address
  readonly publicClient: PublicClient
  readonly walletClient?: WalletClient<Transport, Chain | undefined, Account>
}

export interface ActionOptions {
  signal?: AbortSignal
}

// viem's receipt wait takes no signal; without this an aborted command would sit until the receipt arrived.
async function abortable<T>(promise: Promise<T>, signal?: AbortSignal): Promise<T> {
  if (signal === undefined) return await promise
  signal.throwIfAborted()
  return await new Promise<T>((resolve, reject) => {
    const onAbort = (): void => {
      reject(signal.reason)
    }
    signal.addEventListener('abort', onAbort, { once: true })
    promise.then(resolve, reject).finally(() => {
      signal.removeEventListener('abort', onAbort)
    })
  })
}

/** Waits for `hash` and throws `TransactionFailedError` if it reverted. */
export async function waitForSuccess(
  publicClient: PublicClient,
  hash: Hex,
  options: ActionOptions = {}
): Promise<TransactionReceipt> {
  const receipt = await abortable(publicClient.waitForTransactionReceipt({ hash }), options.signal)
  if (receipt.status !== 'success') throw new TransactionFailedError(`transaction ${hash} reverted`)
  return receipt
}
