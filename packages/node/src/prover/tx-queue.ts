/** Many RPC providers refuse eth_getLogs over more blocks than this in one call. */
export const MAX_LOG_RANGE_BLOCKS = 2_000n

/**
 * Runs the node's transactions one at a time: the prover, the miss reporter and withdrawals send from one account,
 * and concurrent sends would read the same pending nonce.
 */
export class TxQueue {
  private tail: Promise<unknown> = Promise.resolve()

  async run<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.tail.then(fn, fn)
    this.tail = result.catch(() => {})
    return await result
  }
}
