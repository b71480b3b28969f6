import { logger } from '@libp2p/logger'
import type { Startable } from '@libp2p/interface'
import { getProofSetParams, proofSetMarketAbi } from '@sherd/contracts'
import type { MarketClient } from '@sherd/contracts'
import type { Address } from 'viem'
import { NotStartedError } from '../errors.js'
import { pollUntilAborted } from '../polling.js'
import { TxQueue } from './tx-queue.js'
import { AuditAnswerer } from './audits.js'
import type { AnsweredAudit } from './audits.js'
import { ClaimScheduler } from './claims.js'
import type { ClaimRound } from './claims.js'
import { ProofSetClock } from './context.js'
import type { ProverContext, ProverStore } from './context.js'
import { FaultDeclarer } from './faults.js'
import { ProofSetLedger } from './ledger.js'
import type { ProofSetLedgerDb } from './ledger.js'
import { LedgerSync } from './ledger-sync.js'
import type { SyncResult } from './ledger-sync.js'
import { PeriodProver } from './period-proofs.js'
import type { ProvenChunk } from './period-proofs.js'

export { ProofSetClock } from './context.js'
export { TxQueue, MAX_LOG_RANGE_BLOCKS } from './tx-queue.js'
export type { ProverContext, ProverStore } from './context.js'
export {
  ProofSetLedger,
  ProofSetLedgerTx,
  LedgerMismatchError,
  LEDGER_CHECKPOINTS,
  RECENT_PROVEN_PERIODS
} from './ledger.js'
export type {
  ProofSetLedgerDb,
  ProofSetLedgerDeal,
  ProofSetLedgerDealState,
  ProofSetLedgerMeta,
  Checkpoint
} from './ledger.js'
export { LedgerSync } from './ledger-sync.js'
export type { LedgerSyncInit, ProofSetLog, SyncResult } from './ledger-sync.js'
export {
  PeriodProver,
  LedgerBehindError,
  LedgerDivergedError,
  SeedLostError,
  dealAt,
  CHUNK_PIPELINE
} from './period-proofs.js'
export type { ProvenChunk } from './period-proofs.js'
export {
  checkedCalldata,
  encodeCall,
  estimateOnly,
  fitIdBatches,
  GAS_HEADROOM_PERCENT,
  ID_BATCH_SIZE,
  MAX_TX_CALLDATA_BYTES,
  MAX_TX_GAS,
  sendCall,
  submitCall,
  TxLimitError,
  waitForCall
} from './batching.js'
export type { PendingTx, ProofSetCall, SentTx } from './batching.js'
export { FaultDeclarer, isLost, proveDealLeaves } from './faults.js'
export type { Lost } from './faults.js'
export { ClaimScheduler, claimable, CLAIM_EVERY_PERIODS } from './claims.js'
export type { ClaimRound, ClaimsInit } from './claims.js'
export { AuditAnswerer, buildDealProof } from './audits.js'
export type { AnsweredAudit } from './audits.js'

const log = logger('sherd:node:proof-set')

/** Poll for a new block this often. */
export const PROOF_SET_POLL_INTERVAL_MS = 1_000
export const PROOF_SET_RETRY_INITIAL_MS = 250
/** Longest wait between retries: short against a period, so an outage costs no period. */
export const PROOF_SET_RETRY_MAX_MS = 2_000
/** A transaction not mined this long after sending is given up (dropped) and sent again. */
export const PROOF_SET_TX_TIMEOUT_MS = 30_000

export interface ProofSetProverInit {
  pollIntervalMs?: number
  retryMaxBackoffMs?: number
  txTimeoutMs?: number
  /** Blocks below the head the ledger folds to (default 0: to the head, reorgs undone when seen). */
  confirmations?: number
  /** First block to scan when the ledger is empty (default: the market's deployment). */
  fromBlock?: bigint
  claimEveryPeriods?: number
  /** Withdraw after a claim round once this much is withdrawable (0n: never). */
  withdrawMinimum?: bigint
}

export interface ProofSetProverComponents {
  store: ProverStore
  /** The ledger's sublevel (`store.sublevel('proof-set')`). */
  db: ProofSetLedgerDb
  /** The ProofSetMarket, with the provider's wallet. */
  mc: MarketClient
  /** Shared with anything else sending from the provider's account. */
  txQueue?: TxQueue
}

export interface ProofSetProverStatus {
  head?: bigint
  cursor?: bigint
  lastError?: string
  chunksProven: number
  reorgs: number
}

type StageName = 'sync' | 'declare' | 'prove' | 'audit' | 'claim'

/**
 * The provider's prover for ProofSetMarket. Each step (every `pollIntervalMs`, sooner with backoff after a
 * failure): folds the market's events into the ledger, undoing reorgs (ledger-sync.ts); declares deals lost whose
 * shards the store no longer holds, before the challenge block (faults.ts); answers every due period's chunks
 * (period-proofs.ts); answers audits (audits.ts); claims and withdraws on a schedule (claims.ts). The chain and
 * the ledger hold everything it needs, so a restart resumes where it was.
 *
 * Events: `synced` (detail SyncResult), `chunk` (ProvenChunk), `audit` (AnsweredAudit), `claimed` (ClaimRound),
 * `declared` (bigint[]), `failed` ({ stage, error }).
 */
export class ProofSetProver implements Startable {
  readonly events = new EventTarget()
  readonly status: ProofSetProverStatus = { chunksProven: 0, reorgs: 0 }
  readonly ledger: ProofSetLedger
  private readonly init: Required<Omit<ProofSetProverInit, 'fromBlock'>> & Pick<ProofSetProverInit, 'fromBlock'>
  private readonly txQueue: TxQueue
  private abort: AbortController | undefined
  private running: Promise<void> | undefined
  private jobs:
    | {
        sync: LedgerSync
        declare: FaultDeclarer
        prove: PeriodProver
        audit: AuditAnswerer
        claim: ClaimScheduler
        clock: ProofSetClock
      }
    | undefined

  constructor(
    private readonly components: ProofSetProverComponents,
    init: ProofSetProverInit = {}
  ) {
    this.init = {
      pollIntervalMs: init.pollIntervalMs ?? PROOF_SET_POLL_INTERVAL_MS,
      retryMaxBackoffMs: init.retryMaxBackoffMs ?? PROOF_SET_RETRY_MAX_MS,
      txTimeoutMs: init.txTimeoutMs ?? PROOF_SET_TX_TIMEOUT_MS,
      confirmations: init.confirmations ?? 0,
      claimEveryPeriods: init.claimEveryPeriods ?? 4,
      withdrawMinimum: init.withdrawMinimum ?? 1n,
      fromBlock: init.fromBlock
    }
    this.txQueue = components.txQueue ?? new TxQueue()
    this.ledger = new ProofSetLedger(components.db)
  }

  get address(): Address {
    const account = this.components.mc.walletClient?.account
    if (account === undefined)
      throw new TypeError("the proof-set prover needs a market client with a walletClient (the provider's key)")
    return account.address
  }

  async start(): Promise<void> {
    const { mc, store } = this.components
    const address = this.address
    await this.ledger.start({ market: mc.market, provider: address })
    const [params, genesis] = await Promise.all([
      getProofSetParams(mc),
      mc.publicClient.readContract({ address: mc.market, abi: proofSetMarketAbi, functionName: 'genesisBlock' })
    ])
    const clock = new ProofSetClock(genesis, params)
    const abort = new AbortController()
    const ctx: ProverContext = {
      mc,
      address,
      ledger: this.ledger,
      store,
      txQueue: this.txQueue,
      clock,
      attempt: () => AbortSignal.any([abort.signal, AbortSignal.timeout(this.init.txTimeoutMs)])
    }
    this.jobs = {
      clock,
      sync: new LedgerSync(this.ledger, mc, address, genesis, {
        confirmations: this.init.confirmations,
        fromBlock: this.init.fromBlock
      }),
      declare: new FaultDeclarer(ctx),
      prove: new PeriodProver(ctx, (c) => {
        this.status.chunksProven++
        this.emit('chunk', c)
      }),
      audit: new AuditAnswerer(ctx),
      claim: new ClaimScheduler(ctx, {
        everyPeriods: this.init.claimEveryPeriods,
        withdrawMinimum: this.init.withdrawMinimum
      })
    }
    log(
      'proving for %s on %s: %d-block periods from block %s, challenge %d blocks in',
      address,
      mc.market,
      params.periodBlocks,
      String(genesis),
      params.challengeDelayBlocks
    )
    this.abort = abort
    this.running = pollUntilAborted(
      async (signal) => await this.step(signal),
      {
        intervalMs: this.init.pollIntervalMs,
        retryInitialMs: PROOF_SET_RETRY_INITIAL_MS,
        retryMaxBackoffMs: this.init.retryMaxBackoffMs
      },
      abort.signal
    ).catch((err) => {
      if (!abort.signal.aborted) log.error('proof-set prover stopped: %e', err)
    })
  }

  async stop(): Promise<void> {
    this.abort?.abort(new Error('the prover is stopping'))
    await this.running
    this.abort = undefined
    this.running = undefined
  }

  /** Claims (and withdraws) now, off schedule. */
  async claimNow(): Promise<ClaimRound> {
    const jobs = this.jobs
    if (jobs === undefined) throw new NotStartedError('the prover is not started: start the node (with a chain) first')
    return await jobs.claim.claimNow(async () => await this.components.mc.publicClient.getBlockNumber({ cacheTime: 0 }))
  }

  private emit(type: string, detail: unknown): void {
    this.events.dispatchEvent(new CustomEvent(type, { detail }))
  }

  /** One pass; false if a stage failed (retried sooner). A failed stage does not stop the later ones. */
  private async step(signal: AbortSignal): Promise<boolean> {
    const jobs = this.jobs!
    let head: bigint
    try {
      head = await this.components.mc.publicClient.getBlockNumber({ cacheTime: 0 })
    } catch (err) {
      this.failed('sync', err)
      return false
    }
    this.status.head = head
    let ok = true
    const stages: Array<[StageName, () => Promise<void>]> = [
      [
        'sync',
        async () => {
          const r: SyncResult = await jobs.sync.sync(head, signal)
          this.status.cursor = r.cursor
          this.status.reorgs = this.ledger.meta.reorgs
          this.emit('synced', r)
        }
      ],
      [
        'declare',
        async () => {
          const before = jobs.declare.declared.length
          await jobs.declare.step(head)
          if (jobs.declare.declared.length > before) this.emit('declared', jobs.declare.declared.slice(before))
        }
      ],
      [
        'prove',
        async () => {
          await jobs.prove.step(head)
        }
      ],
      [
        'audit',
        async () => {
          for (const a of await jobs.audit.step(head)) this.emit('audit', a satisfies AnsweredAudit)
        }
      ],
      [
        'claim',
        async () => {
          const r = await jobs.claim.step(head)
          if (r !== undefined) this.emit('claimed', r)
        }
      ]
    ]
    for (const [stage, run] of stages) {
      if (signal.aborted) return true
      try {
        await run()
      } catch (err) {
        if (signal.aborted) return true
        this.failed(stage, err)
        ok = false
      }
    }
    if (ok) this.status.lastError = undefined
    return ok
  }

  private failed(stage: StageName, err: unknown): void {
    const message = (err as Error)?.message?.split('\n')[0] ?? String(err)
    this.status.lastError = `${stage}: ${message}`
    log.error('%s failed (retrying): %s', stage, message)
    this.emit('failed', { stage, error: err })
  }
}

export function proofSetProver(
  init: ProofSetProverInit = {}
): (components: ProofSetProverComponents) => ProofSetProver {
  return (components) => new ProofSetProver(components, init)
}

export type { ProvenChunk as ProofSetProvenChunk }
