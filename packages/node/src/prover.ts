import { logger } from '@libp2p/logger'
import type { Startable } from '@libp2p/interface'
import { challengeIndices } from '@sherd/proofs'
import type { ChunkTree, MerkleProof } from '@sherd/proofs'
import {
  activateDeal, deriveChallengeSeed, encodeProof, endDeal, expireDeal, getActivationSeed, getDeal, getMarketParams,
  getWithdrawable, submitProofs
} from '@sherd/contracts'
import type { DealState, MarketParams, ProofBatchItem } from '@sherd/contracts'
import { hexToBytes } from 'viem'
import type { Hex } from 'viem'
import type { ChainConnection } from './chain.js'
import { withdrawEarnings } from './chain.js'
import { newLedgerDeal } from './deal-ledger.js'
import type { DealLedger, LedgerTx } from './deal-ledger.js'
import type { ChainStatus } from './http-api.js'
import type { NodeMetrics } from './metrics.js'
import {
  fetchMarketLogs, isGasLimitError, lower, MarketClock, MAX_LOG_RANGE_BLOCKS, readGenesisBlock, revertOf, sleep, TxQueue
} from './prover-chain.js'
import type { MarketLog } from './prover-chain.js'
import type { ShardStore } from './store.js'

const log = logger('sherd:node:prover')

/** Poll for a new block this often: devnet blocks come every second, Ethereum's every 12 s. */
export const PROVER_POLL_INTERVAL_MS = 1_000
/** First retry after a failed step; doubles per failure up to the maximum. */
export const PROVER_RETRY_INITIAL_MS = 250
/** Longest wait between retries: short against a period (≥ 8 s on the devnet), so an outage costs no period. */
export const PROVER_RETRY_MAX_MS = 2_000
/** A proof or activation transaction not mined this long after sending is given up and sent again (dropped). */
export const PROOF_TX_TIMEOUT_MS = 30_000
/**
 * EIP-7825 caps one transaction at 2^24 gas (Osaka); a batch also takes at most half the block so it is not
 * crowded out.
 */
export const TX_GAS_CAP = 16_777_216
export const BATCH_BLOCK_FRACTION = 0.5
/**
 * Gas a deal's proof costs in a batch besides its calldata: keccak seeds, SHA-256 precompile calls per level, the
 * period bit and the deal's counters (~60–90k measured at depth 16–20, c = 10); rounded up.
 */
export const PROOF_EXECUTION_GAS_PER_DEAL = 100_000
/** EIP-7623 calldata floor per non-zero byte (10 gas × 4 tokens): proofs are hashes, so nearly every byte counts. */
export const CALLDATA_FLOOR_GAS_PER_BYTE = 40
export const TX_BASE_GAS = 21_000
/** Decoded chunk trees kept in memory (≈ 64 bytes per 64 KiB chunk: 64 MiB holds ~64 TiB of shards' trees). */
export const TREE_CACHE_BYTES = 64 * 1024 * 1024
/** Deals listed one by one in /status (most recent first); totals cover all. */
export const STATUS_DEALS_MAX = 100

export interface ProverInit {
  pollIntervalMs?: number
  retryMaxBackoffMs?: number
  txTimeoutMs?: number
  /** Gas budget of one proof batch (default: min(TX_GAS_CAP, half the block gas limit)). */
  maxBatchGas?: number
  /** Withdraw earnings every this many periods (0 or absent: only on request). */
  withdrawEveryPeriods?: number
  /** Scheduled withdrawals wait until at least this much is withdrawable (token base units). */
  withdrawMinimum?: bigint
  /** First block to scan for this provider's deals when the ledger is empty (default: the market's deployment). */
  fromBlock?: bigint
  /**
   * Settle own deals once they can be: endDeal when a term is over, expireDeal when a deal was never activated
   * (default on: until then the deal holds the provider's collateral and capacity, and `exit` is refused).
   */
  settleDeals?: boolean
}

export interface ProverComponents {
  store: Pick<ShardStore, 'has' | 'getInfo' | 'getTree' | 'readChunk'>
  ledger: DealLedger
  /** The market connection; the prover idles while there is none. */
  connection: () => ChainConnection | undefined
  metrics: NodeMetrics
  /** Updated in place after every step (the node's /status). */
  status: ChainStatus
  txQueue: TxQueue
}

/** What `buildDealProof` reads: a stored shard's chunks. */
export interface ChunkSource {
  readChunk: (root: Uint8Array, chunkIndex: number) => Promise<Uint8Array>
}

/**
 * The proof of one deal for `seed`: the `count` challenged leaves, each proven from its re-read 64 KiB chunk and the
 * cached chunk tree, encoded as the market verifies it.
 */
export async function buildDealProof (store: ChunkSource, root: Uint8Array, tree: ChunkTree, seed: Hex, count: number): Promise<Hex> {
  const indices = challengeIndices(hexToBytes(seed), count, tree.leafCount)
  const chunks = new Map<number, Promise<Uint8Array>>()
  for (const i of indices) {
    const { chunkIndex } = tree.chunkRange(i)
    if (!chunks.has(chunkIndex)) chunks.set(chunkIndex, store.readChunk(root, chunkIndex))
  }
  const items: MerkleProof[] = []
  for (const i of indices) items.push(tree.proveFromChunk(i, await chunks.get(tree.chunkRange(i).chunkIndex)!))
  return encodeProof(items, tree.depth)
}

/**
 * Gas one deal's proof is budgeted at in a batch: the calldata floor of its bytes plus its execution
 * (`proofLength(depth, c)` bytes: 7,040 for a 64 MiB shard at c = 10, so ≈ 380k gas and ~40 deals per 15M batch).
 */
export function estimateProofGas (proofBytes: number): number {
  return CALLDATA_FLOOR_GAS_PER_BYTE * proofBytes + PROOF_EXECUTION_GAS_PER_DEAL
}

/** Cuts items into batches whose budgeted gas (base + Σ item gas) stays within `maxGas`; at least one item each. */
export function packBatches<T extends { gas: number }> (items: readonly T[], maxGas: number): T[][] {
  const batches: T[][] = []
  let current: T[] = []
  let gas = TX_BASE_GAS
  for (const item of items) {
    if (current.length > 0 && gas + item.gas > maxGas) {
      batches.push(current)
      current = []
      gas = TX_BASE_GAS
    }
    current.push(item)
    gas += item.gas
  }
  if (current.length > 0) batches.push(current)
  return batches
}

/** Decoded chunk trees by root, least recently used dropped first past a byte budget. */
class TreeCache {
  private readonly trees = new Map<string, { tree: ChunkTree, bytes: number }>()
  private bytes = 0

  constructor (private readonly maxBytes: number) {}

  async get (root: Hex, load: () => Promise<ChunkTree>): Promise<ChunkTree> {
    const hit = this.trees.get(root)
    if (hit !== undefined) {
      this.trees.delete(root)
      this.trees.set(root, hit)
      return hit.tree
    }
    const tree = await load()
    const bytes = tree.chunkCount * 64
    this.trees.set(root, { tree, bytes })
    this.bytes += bytes
    for (const [key, entry] of this.trees) {
      if (this.bytes <= this.maxBytes || key === root) break
      this.trees.delete(key)
      this.bytes -= entry.bytes
    }
    return tree
  }
}

interface DueItem extends ProofBatchItem {
  gas: number
}

/** What the prover has done in the period it is proving (in memory: the chain and the ledger are the record). */
interface PeriodWork {
  period: bigint
  seedBlockHash?: Hex
  proofs: Map<string, DueItem>
  /** Deals this period needs no more work for (proven, or refused for a reason retrying cannot fix). */
  done: Set<string>
}

/**
 * The provider's prover. Each step (every `pollIntervalMs`, sooner after a failure):
 *  1. folds the market's events since the last step into the deal ledger (new deals for this provider,
 *     activations, proofs, misses, ends, withdrawals) and settles periods that closed unproven as missed;
 *  2. activates pending deals whose shard it holds, with the activation proof, before their deadline;
 *  3. when the current period's proof window is open, proves every active deal due in it from the stored chunk
 *     tree and submits the proofs in batches within the gas budget, retrying until the window closes;
 *  4. settles its deals whose term is over (endDeal) or that were never activated in time (expireDeal), releasing
 *     their collateral and capacity: the market leaves this to anyone, and nobody else needs it done;
 *  5. withdraws earnings on its schedule.
 * Everything it needs after a restart is on chain or in the ledger, so a restart mid-period resumes proving.
 */
export class Prover implements Startable {
  private readonly init: Required<Omit<ProverInit, 'maxBatchGas' | 'fromBlock'>> & Pick<ProverInit, 'maxBatchGas' | 'fromBlock'>
  private abort: AbortController | undefined
  private running: Promise<void> | undefined
  private clock: MarketClock | undefined
  private params: MarketParams | undefined
  private batchGas = TX_GAS_CAP
  private readonly trees = new TreeCache(TREE_CACHE_BYTES)
  private work: PeriodWork | undefined
  private readonly activated = new Set<string>()
  private readonly notHeldLogged = new Set<string>()
  /** Deals whose settlement is done (or was refused for good); the scan records their final state. */
  private readonly settled = new Set<string>()
  private lastWithdrawPeriod: bigint | undefined
  private head: bigint | undefined
  /**
   * Dispatches `scanned` after every step whose scan folded the market's events up to the head into the ledger:
   * from then on the ledger knows every deal opened until that block (the shard collector waits for this).
   */
  readonly events = new EventTarget()

  constructor (private readonly components: ProverComponents, init: ProverInit = {}) {
    this.init = {
      pollIntervalMs: init.pollIntervalMs ?? PROVER_POLL_INTERVAL_MS,
      retryMaxBackoffMs: init.retryMaxBackoffMs ?? PROVER_RETRY_MAX_MS,
      txTimeoutMs: init.txTimeoutMs ?? PROOF_TX_TIMEOUT_MS,
      withdrawEveryPeriods: init.withdrawEveryPeriods ?? 0,
      withdrawMinimum: init.withdrawMinimum ?? 1n,
      settleDeals: init.settleDeals ?? true,
      maxBatchGas: init.maxBatchGas,
      fromBlock: init.fromBlock
    }
  }

  async start (): Promise<void> {
    this.refreshStatus()
    if (this.components.connection() === undefined) return
    this.abort = new AbortController()
    const signal = this.abort.signal
    this.running = this.loop(signal).catch((err) => { if (!signal.aborted) log.error('prover stopped: %e', err) })
  }

  async stop (): Promise<void> {
    this.abort?.abort(new Error('the prover is stopping'))
    await this.running
    this.abort = undefined
    this.running = undefined
  }

  /** Withdraws everything withdrawable now (the `withdraw` command's in-process form). */
  async withdraw (options: { signal?: AbortSignal } = {}): Promise<{ amount: bigint, tx?: Hex }> {
    const conn = this.connection()
    return await this.components.txQueue.run(async () => await withdrawEarnings(conn, options))
  }

  private connection (): ChainConnection {
    const conn = this.components.connection()
    if (conn === undefined) throw new Error('the node has no chain connection: start it with --rpc-url and --contract')
    return conn
  }

  private async loop (signal: AbortSignal): Promise<void> {
    let failures = 0
    while (!signal.aborted) {
      let failed = false
      try {
        await this.prepare()
        failed = !await this.step(signal)
      } catch (err) {
        if (signal.aborted) return
        this.failed('prepare', err)
        failed = true
      }
      failures = failed ? failures + 1 : 0
      const delay = failures === 0
        ? this.init.pollIntervalMs
        : Math.min(PROVER_RETRY_INITIAL_MS * 2 ** (failures - 1), this.init.retryMaxBackoffMs)
      try { await sleep(delay, signal) } catch { return }
    }
  }

  private async prepare (): Promise<void> {
    if (this.clock !== undefined) return
    const { mc } = this.connection()
    const [params, genesis, block] = await Promise.all([
      getMarketParams(mc), readGenesisBlock(mc), mc.publicClient.getBlock({ blockTag: 'latest' })
    ])
    this.params = params
    this.clock = new MarketClock(genesis, params)
    this.batchGas = this.init.maxBatchGas ?? Math.min(TX_GAS_CAP, Math.floor(Number(block.gasLimit) * BATCH_BLOCK_FRACTION))
    log('market %s: %d-block periods from block %d, c = %d, batch gas budget %d', mc.market, params.periodBlocks, String(genesis), params.challengeCount, this.batchGas)
  }

  private failed (stage: string, err: unknown): void {
    this.components.metrics.proverErrors.inc({ stage })
    const message = (err as Error)?.message?.split('\n')[0] ?? String(err)
    this.components.status.lastError = `${stage}: ${message}`
    log.error('%s failed (retrying): %s', stage, message)
  }

  /** One pass; false if a stage failed (the loop then retries sooner, with backoff). */
  private async step (signal: AbortSignal): Promise<boolean> {
    const { mc } = this.connection()
    let head: bigint
    try {
      head = await mc.publicClient.getBlockNumber({ cacheTime: 0 })
    } catch (err) {
      this.failed('head', err)
      return false
    }
    let ok = true
    for (const [stage, run] of [
      ['scan', async () => { await this.scan(head, signal); this.events.dispatchEvent(new Event('scanned')) }],
      ['activate', async () => { await this.activatePending(head, signal) }],
      ['prove', async () => { await this.prove(head, signal) }],
      ['settle', async () => { await this.settleDeals(head, signal) }],
      ['withdraw', async () => { await this.scheduledWithdraw(head) }]
    ] as const) {
      if (signal.aborted) return true
      try {
        await run()
      } catch (err) {
        if (signal.aborted) return true
        this.failed(stage, err)
        // A failed scan does not stop proving: the deals already known are still due (a proof the ledger has not
        // seen yet is refused as PeriodAlreadyProven), and only a scan settles periods as missed.
        ok = false
      }
    }
    this.head = head
    if (ok) this.components.status.lastError = undefined
    this.refreshStatus()
    return ok
  }

  // ---------------------------------------------------------------- 1. events → ledger

  private async scan (head: bigint, signal: AbortSignal): Promise<void> {
    const clock = this.clock!
    const { mc } = this.connection()
    const { ledger } = this.components
    const cursor = ledger.meta.cursor !== undefined ? BigInt(ledger.meta.cursor) : (this.init.fromBlock ?? clock.genesisBlock) - 1n
    // One committed batch per log range, so a long catch-up (a node down for days) keeps its progress.
    for (let from = cursor + 1n; from <= head; from += MAX_LOG_RANGE_BLOCKS) {
      const to = from + MAX_LOG_RANGE_BLOCKS - 1n < head ? from + MAX_LOG_RANGE_BLOCKS - 1n : head
      const logs = await fetchMarketLogs(mc, from, to, { signal })
      const tx = ledger.begin()
      for (const entry of logs) await this.fold(tx, entry)
      // Settling up to `to` is safe: every proof of a period closed by then is in the logs just folded.
      await this.settle(tx, to)
      tx.meta.cursor = to.toString()
      await tx.commit()
    }
  }

  private async fold (tx: LedgerTx, entry: MarketLog): Promise<void> {
    const me = lower(this.connection().address)
    const a = entry.args
    const id = String(a.dealId)
    switch (entry.eventName) {
      case 'DealOpened':
        if (lower(a.provider) !== me || tx.peek(id) !== undefined) return
        tx.putDeal(newLedgerDeal({
          id: a.dealId as bigint,
          root: a.root as Hex,
          size: a.size as bigint,
          pricePerPeriod: a.pricePerPeriod as bigint,
          periods: Number(a.periods),
          openedBlock: entry.blockNumber,
          activationBlocks: this.params!.activationBlocks
        }))
        log('deal %s opened for root %s (%d bytes, %d periods)', id, a.root, String(a.size), Number(a.periods))
        return
      case 'DealActivated': {
        if (lower(a.provider) !== me) return
        const d = tx.deal(id)
        if (d === undefined) return
        d.state = 'active'
        d.startPeriod = String(a.startPeriod)
        d.periods = Number((a.endPeriod as bigint) - (a.startPeriod as bigint))
        log('deal %s active from period %s to %s', id, String(a.startPeriod), String(a.endPeriod))
        return
      }
      case 'DealExtended': {
        const d = tx.deal(id)
        if (d !== undefined) d.periods = Number(a.periods)
        return
      }
      case 'PeriodProven':
        if (lower(a.provider) !== me) return
        await tx.proven(id, a.period as bigint, { payment: a.payment as bigint, tx: entry.transactionHash, block: entry.blockNumber })
        return
      case 'PeriodMissed':
        if (lower(a.reporter) === me) tx.meta.reporterRewards = (BigInt(tx.meta.reporterRewards) + (a.reward as bigint)).toString()
        if (tx.peek(id) === undefined) return
        await tx.missed(id, a.period as bigint, { slashed: a.slashed as bigint, tx: entry.transactionHash })
        log.error('deal %s: period %s marked missed, %s slashed', id, String(a.period), String(a.slashed))
        return
      case 'DealFailed': case 'DealEnded': case 'DealExpired': {
        const d = tx.deal(id)
        if (d === undefined) return
        d.state = entry.eventName === 'DealFailed' ? 'failed' : entry.eventName === 'DealEnded' ? 'ended' : 'expired'
        log('deal %s %s', id, d.state)
        return
      }
      case 'Withdrawn':
        if (lower(a.account) !== me) return
        tx.meta.withdrawn = (BigInt(tx.meta.withdrawn) + (a.amount as bigint)).toString()
        return
      default:
    }
  }

  /** Periods of active deals that closed with no proof on chain are missed (whether or not anyone marks them). */
  private async settle (tx: LedgerTx, head: bigint): Promise<void> {
    const closed = this.clock!.closedThrough(head)
    for (const id of tx.dealIds()) {
      const view = tx.peek(id)
      if (view === undefined || view.state !== 'active' || view.startPeriod === undefined) continue
      const start = BigInt(view.startPeriod)
      const from = view.settledThrough !== undefined ? BigInt(view.settledThrough) + 1n : start
      const last = start + BigInt(view.periods) - 1n
      const to = closed < last ? closed : last
      if (from > to) continue
      const d = tx.deal(id)!
      for (let p = from; p <= to; p++) {
        if (await tx.period(id, p) === undefined) {
          await tx.missed(id, p)
          log.error('deal %s: period %s closed without a proof', id, String(p))
        }
      }
      d.settledThrough = to.toString()
    }
  }

  // ---------------------------------------------------------------- 2. activation

  private async activatePending (head: bigint, signal: AbortSignal): Promise<void> {
    const { store, ledger, metrics, txQueue } = this.components
    const { mc } = this.connection()
    for (const d of ledger.deals()) {
      if (d.state !== 'pending' || this.activated.has(d.id)) continue
      const root = hexToBytes(d.root)
      const held = await store.has(root)
      if (head + 1n > BigInt(d.activationDeadline)) {
        if (!held) await this.setState(d.id, 'unheld')
        this.activated.add(d.id)
        log.error('deal %s: activation deadline (block %s) passed without activation%s', d.id, d.activationDeadline, held ? '' : ': the shard was never stored here')
        continue
      }
      if (!held) {
        if (!this.notHeldLogged.has(d.id)) log('deal %s: shard %s is not stored here (yet); not activating', d.id, d.root)
        this.notHeldLogged.add(d.id)
        continue
      }
      const info = await store.getInfo(root)
      if (info.byteLength !== d.size) {
        log.error('deal %s: its size %d differs from the stored shard\'s %d; leaving it alone', d.id, d.size, info.byteLength)
        await this.setState(d.id, 'unheld')
        continue
      }
      const id = BigInt(d.id)
      const proof = await this.proofFor(d.root, await getActivationSeed(mc, id))
      try {
        await txQueue.run(async () => await activateDeal(mc, { dealId: id, proof }, { signal: this.attemptSignal(signal) }))
        metrics.proofsSubmitted.inc({ kind: 'activation' })
        log('deal %s activated', d.id)
        this.activated.add(d.id)
      } catch (err) {
        const revert = revertOf(err)
        if (revert === undefined) throw err
        // Already active, expired or failed (the scan will record it), or past the deadline: nothing to retry.
        log.error('deal %s: activation refused (%s)', d.id, revert.name)
        this.activated.add(d.id)
        if (revert.name === 'InvalidProof' || revert.name === 'BadProofLength') metrics.proverErrors.inc({ stage: 'invalid-proof' })
      }
    }
  }

  private async setState (id: string, state: 'unheld'): Promise<void> {
    const tx = this.components.ledger.begin()
    const d = tx.deal(id)
    if (d === undefined) return
    d.state = state
    await tx.commit()
  }

  // ---------------------------------------------------------------- 3. proofs

  private async proofFor (root: Hex, seed: Hex): Promise<Hex> {
    const { store, metrics } = this.components
    const rootBytes = hexToBytes(root)
    const started = performance.now()
    const tree = await this.trees.get(root, async () => await store.getTree(rootBytes))
    const proof = await buildDealProof(store, rootBytes, tree, seed, this.params!.challengeCount)
    metrics.proofGenerationSeconds.observe((performance.now() - started) / 1000)
    return proof
  }

  private attemptSignal (signal: AbortSignal): AbortSignal {
    return AbortSignal.any([signal, AbortSignal.timeout(this.init.txTimeoutMs)])
  }

  private async prove (head: bigint, signal: AbortSignal): Promise<void> {
    const clock = this.clock!
    const pending = head + 1n
    const period = clock.periodOf(pending)
    if (pending < clock.firstProofBlock(period) || pending > clock.lastProofBlock(period)) return
    if (this.work?.period !== period) this.work = { period, proofs: new Map(), done: new Set() }
    const work = this.work
    const due = this.components.ledger.deals().filter((d) => {
      if (d.state !== 'active' || d.startPeriod === undefined || work.done.has(d.id)) return false
      const start = BigInt(d.startPeriod)
      if (period < start || period >= start + BigInt(d.periods)) return false
      return d.lastProven === undefined || BigInt(d.lastProven) < period
    })
    if (due.length === 0) return
    const { mc } = this.connection()
    work.seedBlockHash ??= (await mc.publicClient.getBlock({ blockNumber: clock.challengeBlock(period) })).hash
    const items: DueItem[] = []
    for (const d of due) {
      let item = work.proofs.get(d.id)
      if (item === undefined) {
        const dealId = BigInt(d.id)
        try {
          const proof = await this.proofFor(d.root, deriveChallengeSeed(work.seedBlockHash, dealId, period))
          item = { dealId, proof, gas: estimateProofGas((proof.length - 2) / 2) }
          work.proofs.set(d.id, item)
        } catch (err) {
          // The shard is gone or corrupt: retrying cannot help; the period will settle as missed.
          log.error('deal %s: cannot build the proof for period %s: %e', d.id, String(period), err)
          this.components.metrics.proverErrors.inc({ stage: 'build-proof' })
          work.done.add(d.id)
          continue
        }
      }
      items.push(item)
    }
    for (const batch of packBatches(items, this.batchGas)) {
      await this.submit(period, batch, signal)
    }
  }

  /** Submits one batch; drops the deals the market names as not provable now and resubmits the rest. */
  private async submit (period: bigint, batch: DueItem[], signal: AbortSignal): Promise<void> {
    const { metrics, txQueue } = this.components
    const work = this.work!
    const { mc } = this.connection()
    let items = batch
    while (items.length > 0) {
      try {
        const receipt = await txQueue.run(async () => await submitProofs(mc, { period, items }, { signal: this.attemptSignal(signal) }))
        for (const i of items) work.done.add(i.dealId.toString())
        metrics.proofsSubmitted.inc({ kind: 'period' }, items.length)
        metrics.proofBatches.inc({ outcome: 'success' })
        metrics.proofBatchGas.observe(Number(receipt.gasUsed))
        log('period %s: proved %d deal(s) in %s (%d gas)', String(period), items.length, receipt.transactionHash, Number(receipt.gasUsed))
        return
      } catch (err) {
        metrics.proofBatches.inc({ outcome: 'failure' })
        const revert = revertOf(err)
        if (revert === undefined) {
          if (isGasLimitError(err) && items.length > 1) {
            const half = Math.ceil(items.length / 2)
            // Learn: from now on pack below what the chain just refused.
            this.batchGas = Math.min(this.batchGas, items.reduce((sum, i) => sum + i.gas, TX_BASE_GAS) - 1)
            log('period %s: a batch of %d is over the gas limit; splitting (budget now %d gas)', String(period), items.length, this.batchGas)
            await this.submit(period, items.slice(0, half), signal)
            await this.submit(period, items.slice(half), signal)
            return
          }
          throw err
        }
        if (revert.name === 'ProofWindowClosed') return
        const named = revert.args[0]
        if (typeof named !== 'bigint' || !items.some((i) => i.dealId === named)) throw err
        const id = named.toString()
        work.done.add(id)
        items = items.filter((i) => i.dealId !== named)
        if (revert.name === 'PeriodAlreadyProven') continue
        log.error('deal %s: proof for period %s refused (%s); dropped from the batch', id, String(period), revert.name)
        if (revert.name === 'InvalidProof' || revert.name === 'BadProofLength') metrics.proverErrors.inc({ stage: 'invalid-proof' })
        if (revert.name === 'WrongDealState') await this.reconcile(id)
      }
    }
  }

  /** Re-reads a deal the market refused and records a final state (the events will say the same later); returns it. */
  private async reconcile (id: string): Promise<DealState> {
    const deal = await getDeal(this.connection().mc, BigInt(id))
    if (deal.state === 'active' || deal.state === 'pending' || deal.state === 'none') return deal.state
    const tx = this.components.ledger.begin()
    const d = tx.deal(id)
    if (d === undefined) return deal.state
    d.state = deal.state
    await tx.commit()
    return deal.state
  }

  // ---------------------------------------------------------------- 4. settlement

  private async settleDeals (head: bigint, signal: AbortSignal): Promise<void> {
    if (!this.init.settleDeals) return
    const clock = this.clock!
    const { metrics, txQueue } = this.components
    const { mc } = this.connection()
    // The transaction lands in the next block at the earliest.
    const pending = head + 1n
    for (const d of this.components.ledger.deals()) {
      if (this.settled.has(d.id)) continue
      let action: 'end' | 'expire' | undefined
      if (d.state === 'active' && d.startPeriod !== undefined && pending >= clock.startBlock(BigInt(d.startPeriod) + BigInt(d.periods))) {
        action = 'end'
      } else if ((d.state === 'pending' || d.state === 'unheld') && pending > BigInt(d.activationDeadline)) {
        action = 'expire'
      }
      if (action === undefined) continue
      const id = BigInt(d.id)
      try {
        const receipt = await txQueue.run(async () => action === 'end'
          ? await endDeal(mc, id, { signal: this.attemptSignal(signal) })
          : await expireDeal(mc, id, { signal: this.attemptSignal(signal) }))
        metrics.dealsSettled.inc({ action })
        log('deal %s %s in %s: its collateral and capacity are released', d.id, action === 'end' ? 'ended' : 'expired', receipt.transactionHash)
      } catch (err) {
        const revert = revertOf(err)
        if (revert === undefined) throw err
        // Not yet (this node's clock ahead of the chain's view): try again next step.
        if (revert.name === 'DealNotOver' || revert.name === 'ActivationPending') continue
        // WrongDealState: settled already (by the client, or failed by misses); the chain has the final word.
        log('deal %s: %s refused (%s); recording its state from the chain', d.id, action === 'end' ? 'endDeal' : 'expireDeal', revert.name)
      }
      // Done only once the chain shows a final state: a ledger behind the chain (a failed scan) may have asked to
      // expire a deal that was in fact activated, and that deal still has to be ended when its term is over.
      const state = await this.reconcile(d.id)
      if (state !== 'active' && state !== 'pending') this.settled.add(d.id)
    }
  }

  // ---------------------------------------------------------------- 5. withdrawals

  private async scheduledWithdraw (head: bigint): Promise<void> {
    const every = this.init.withdrawEveryPeriods
    if (every <= 0) return
    const period = this.clock!.periodOf(head + 1n)
    if (period % BigInt(every) !== 0n || this.lastWithdrawPeriod === period) return
    const conn = this.connection()
    if (await getWithdrawable(conn.mc, conn.address) < this.init.withdrawMinimum) {
      this.lastWithdrawPeriod = period
      return
    }
    const { amount, tx } = await this.withdraw()
    this.lastWithdrawPeriod = period
    log('withdrew %s (%s)', String(amount), tx)
  }

  // ---------------------------------------------------------------- status

  private refreshStatus (): void {
    const { ledger, status } = this.components
    if (!ledger.started) return
    const t = ledger.totals()
    status.deals = t.deals
    status.periodsProven = t.periodsProven
    status.periodsMissed = t.periodsMissed
    status.earnings = t.earned.toString()
    status.withdrawn = ledger.meta.withdrawn
    status.slashed = t.slashed.toString()
    status.reporterRewards = ledger.meta.reporterRewards
    status.dealStates = t.byState
    status.dealList = ledger.summaries(STATUS_DEALS_MAX)
    if (this.head !== undefined) {
      status.block = this.head.toString()
      if (this.clock !== undefined) status.period = this.clock.periodOf(this.head + 1n).toString()
    }
  }
}

export function prover (init: ProverInit = {}): (components: ProverComponents) => Prover {
  return (components) => new Prover(components, init)
}
