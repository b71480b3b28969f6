import type { MarketClient, ProofSetParams } from '@sherd/contracts'
import type { Address } from 'viem'
import type { TxQueue } from './tx-queue.js'
import type { ShardStore } from '../storage/store.js'
import type { ProofSetLedger } from './ledger.js'

/** What the prover reads of the store: committed shards' chunk trees and chunks. */
export type ProverStore = Pick<ShardStore, 'has' | 'getTree' | 'readChunk'>

/** Period arithmetic of a ProofSetMarket, as the contract does it (no RPC per question). */
export class ProofSetClock {
  constructor(
    readonly genesisBlock: bigint,
    readonly params: Readonly<Pick<ProofSetParams, 'periodBlocks' | 'challengeDelayBlocks'>>
  ) {}

  /** The period `block` is in (a transaction sent now lands in the pending block, head + 1). */
  periodOf(block: bigint): bigint {
    if (block < this.genesisBlock) return 0n
    return (block - this.genesisBlock) / BigInt(this.params.periodBlocks)
  }

  startBlock(period: bigint): bigint {
    return this.genesisBlock + period * BigInt(this.params.periodBlocks)
  }

  challengeBlock(period: bigint): bigint {
    return this.startBlock(period) + BigInt(this.params.challengeDelayBlocks)
  }

  /** Last block a proof of `period` counts as on time (and an audit of it can be answered). */
  lastBlock(period: bigint): bigint {
    return this.startBlock(period + 1n) - 1n
  }
}

/** Shared by the prover's jobs. */
export interface ProverContext {
  mc: MarketClient
  /** The provider's address (the wallet's account). */
  address: Address
  ledger: ProofSetLedger
  store: ProverStore
  txQueue: TxQueue
  clock: ProofSetClock
  /** A signal for one transaction attempt: the prover's, bounded by the dropped-transaction timeout. */
  attempt: () => AbortSignal
}
