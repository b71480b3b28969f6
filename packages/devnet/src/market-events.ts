import { readProofSetEvents } from '@sherd/contracts'
import type { ProofSetEventLog } from '@sherd/contracts'
import type { Address, PublicClient } from 'viem'

/** A ProofSetMarket event, typed from the generated ABI (the union narrows on `eventName`). */
export type MarketEvent = ProofSetEventLog

/** Poll the chain this often: a fraction of a 1 s block, so the story follows the chain closely. */
const MARKET_POLL_INTERVAL_MS = 500

/**
 * Follows the market's events block by block (HTTP polling, as a client would, through the market's one paged
 * event reader) and hands each new one to `onEvent`, in chain order. Used by the demo to tell what the providers
 * and the contract do.
 */
export class MarketEvents {
  private timer: NodeJS.Timeout | undefined
  private next: bigint | undefined
  private polling: Promise<void> | undefined
  /** The newest block read so far. */
  head = 0n

  constructor(
    private readonly publicClient: PublicClient,
    private readonly market: Address,
    private readonly onEvent: (event: MarketEvent) => void,
    private readonly onError: (err: Error) => void = () => {}
  ) {}

  /** Starts from `fromBlock` (default: the next block). */
  async start(fromBlock?: bigint): Promise<void> {
    this.next = fromBlock ?? (await this.publicClient.getBlockNumber({ cacheTime: 0 })) + 1n
    this.timer = setInterval(() => {
      this.polling ??= this.poll().finally(() => {
        this.polling = undefined
      })
    }, MARKET_POLL_INTERVAL_MS)
  }

  async stop(): Promise<void> {
    clearInterval(this.timer)
    this.timer = undefined
    await this.polling
  }

  private async poll(): Promise<void> {
    try {
      const head = await this.publicClient.getBlockNumber({ cacheTime: 0 })
      if (this.next === undefined || head < this.next) return
      const events = await readProofSetEvents(
        { market: this.market, publicClient: this.publicClient },
        { fromBlock: this.next, toBlock: head }
      )
      this.next = head + 1n
      this.head = head
      for (const event of events) this.onEvent(event)
    } catch (err) {
      this.onError(err as Error)
    }
  }
}
