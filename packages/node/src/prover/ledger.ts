import type { Address, Hex } from 'viem'
import { NodeError } from '../errors.js'

/*
 * The proof-set prover's record of its deals, in a sublevel of the node's LevelDB (JSON values, bigints as decimal
 * strings). Keys:
 *   d!<dealId, 20 digits>   ProofSetLedgerDeal: the deal as the chain had it at the cursor block
 *   b!<block, 20 digits>    Checkpoint: hash of a block the ledger was folded up to, and the undo of that batch
 *   meta                    ProofSetLedgerMeta: cursor (block and hash), counters
 * Each fold of a block range is one atomic batch that writes the deals it changed, the meta, and a checkpoint
 * holding the values those keys had before. A reorg is undone by replaying checkpoints' undo newest first down to
 * the newest checkpoint whose block hash the chain still has; the range after it is then scanned again.
 */

export type ProofSetLedgerDealState = 'live' | 'declared' | 'faulted' | 'failed' | 'ended'

export interface ProofSetLedgerDeal {
  id: string
  root: Hex
  size: string
  leafCount: string
  rangeStart: string
  weight: string
  client: Address
  pricePerPeriod: string
  startPeriod: string
  endPeriod: string
  /** First period the deal is void in (end, or earlier after a fault, declaration or failure). */
  voidFrom: string
  /** First period not yet paid or refunded (claims move it). */
  paidFrom: string
  state: ProofSetLedgerDealState
  /** Off the books (DealSettled): nothing about it can change. */
  settled: boolean
  /** Period of an open on-demand audit. */
  auditPeriod?: string
  openedBlock: string
}

export interface ProofSetLedgerMeta {
  /** Last block whose market events are folded in, and its hash (absent: nothing folded yet). */
  cursor?: string
  cursorHash?: Hex
  periodsProven: number
  periodsProvenLate: number
  periodsMarkedMissed: number
  /**
   * The latest periods proven on time (at most RECENT_PROVEN_PERIODS, oldest first): what a claim will pay for
   * deals not claimed since, so status can show unclaimed earnings without a chain read per deal.
   */
  provenPeriods?: string[]
  /** Token base units, decimal. */
  paid: string
  slashed: string
  withdrawn: string
  /** Reorgs undone so far (for status and tests). */
  reorgs: number
}

export interface Checkpoint {
  block: string
  hash: Hex
  /** Keys this batch wrote, with their value before it (null: absent). */
  undo: Array<[string, unknown]>
}

type Op = { type: 'put'; key: string; value: unknown } | { type: 'del'; key: string }

/** What the ledger needs of a LevelDB sublevel: JSON values, utf8 keys. */
export interface ProofSetLedgerDb {
  get: (key: string) => Promise<unknown>
  batch: (ops: Op[], options?: { sync?: boolean }) => Promise<void>
  iterator: (options: {
    gte?: string
    lt?: string
    lte?: string
    reverse?: boolean
    limit?: number
  }) => AsyncIterable<[string, unknown]>
}

/** The ledger on disk was written for another market or provider: refuse rather than mix two books. */
export class LedgerMismatchError extends NodeError {
  override name = 'LedgerMismatchError'
}

const pad = (n: string | bigint | number): string => BigInt(n).toString().padStart(20, '0')
export const dealKey = (id: string | bigint): string => `d!${pad(id)}`
const checkpointKey = (block: string | bigint): string => `b!${pad(block)}`
const META_KEY = 'meta'
const OWNER_KEY = 'owner'
/** Proven periods the meta remembers: claims run every few periods, so unclaimed ones are far fewer than this. */
export const RECENT_PROVEN_PERIODS = 256
/** Checkpoints kept: a reorg deeper than this many folded ranges rebuilds the ledger from the start. */
export const LEDGER_CHECKPOINTS = 128

function emptyMeta(): ProofSetLedgerMeta {
  return {
    periodsProven: 0,
    periodsProvenLate: 0,
    periodsMarkedMissed: 0,
    paid: '0',
    slashed: '0',
    withdrawn: '0',
    reorgs: 0
  }
}

/**
 * The deals in memory (read once at start; every change goes through a `ProofSetLedgerTx`), backed by the sublevel.
 */
export class ProofSetLedger {
  private deals = new Map<string, ProofSetLedgerDeal>()
  private sortedCache: ProofSetLedgerDeal[] | undefined
  meta: ProofSetLedgerMeta = emptyMeta()
  started = false

  constructor(private readonly db: ProofSetLedgerDb) {}

  /** Loads the ledger; `owner` (market and provider address) must match what it was written for. */
  async start(owner: { market: Address; provider: Address }): Promise<void> {
    const id = `${owner.market.toLowerCase()}/${owner.provider.toLowerCase()}`
    const stored = (await this.db.get(OWNER_KEY)) as string | undefined
    if (stored !== undefined && stored !== id) {
      throw new LedgerMismatchError(
        `this data dir's proof-set ledger belongs to ${stored}, not ${id}: use the data dir of that market and key, or a fresh one`
      )
    }
    if (stored === undefined) await this.db.batch([{ type: 'put', key: OWNER_KEY, value: id }], { sync: true })
    await this.reload()
    this.started = true
  }

  private async reload(): Promise<void> {
    this.deals = new Map()
    this.sortedCache = undefined
    for await (const [, value] of this.db.iterator({ gte: 'd!', lt: 'd!~' })) {
      const d = value as ProofSetLedgerDeal
      this.deals.set(d.id, d)
    }
    this.meta = { ...emptyMeta(), ...((await this.db.get(META_KEY)) as ProofSetLedgerMeta | undefined) }
  }

  deal(id: string | bigint): ProofSetLedgerDeal | undefined {
    return this.deals.get(String(id))
  }

  get size(): number {
    return this.deals.size
  }

  /** Every deal, by range start (= by id: ranges are appended in opening order). */
  sorted(): readonly ProofSetLedgerDeal[] {
    this.sortedCache ??= [...this.deals.values()].sort((a, b) => Number(BigInt(a.id) - BigInt(b.id)))
    return this.sortedCache
  }

  begin(): ProofSetLedgerTx {
    return new ProofSetLedgerTx(this, this.db, this.meta)
  }

  /** @internal a committed transaction's changes */
  applied(deals: Map<string, ProofSetLedgerDeal>, meta: ProofSetLedgerMeta): void {
    for (const [id, d] of deals) this.deals.set(id, d)
    if (deals.size > 0) this.sortedCache = undefined
    this.meta = meta
  }

  /** Checkpoints, newest first. */
  async *checkpoints(): AsyncGenerator<Checkpoint> {
    for await (const [, value] of this.db.iterator({ gte: 'b!', lt: 'b!~', reverse: true })) yield value as Checkpoint
  }

  /**
   * Undoes every batch folded after block `ancestor` (newest first, in one atomic batch), so the cursor is back at
   * `ancestor`. With `ancestor` undefined the ledger is emptied (a reorg deeper than every checkpoint).
   */
  async rollBack(ancestor: bigint | undefined): Promise<void> {
    const ops: Op[] = []
    const restored = new Map<string, unknown>()
    const reorgs = this.meta.reorgs + 1
    if (ancestor === undefined) {
      for await (const [key] of this.db.iterator({ gte: 'b!', lt: 'b!~' })) ops.push({ type: 'del', key })
      for await (const [key] of this.db.iterator({ gte: 'd!', lt: 'd!~' })) ops.push({ type: 'del', key })
      ops.push({ type: 'put', key: META_KEY, value: { ...emptyMeta(), reorgs } })
    } else {
      for await (const cp of this.checkpoints()) {
        if (BigInt(cp.block) <= ancestor) break
        // Newest first: the value a key had before the oldest undone batch is the one that stays.
        for (const [key, prev] of cp.undo) restored.set(key, prev)
        ops.push({ type: 'del', key: checkpointKey(cp.block) })
      }
      for (const [key, prev] of restored) {
        if (key === META_KEY) ops.push({ type: 'put', key, value: { ...(prev as ProofSetLedgerMeta), reorgs } })
        else ops.push(prev === null ? { type: 'del', key } : { type: 'put', key, value: prev })
      }
      if (!restored.has(META_KEY)) ops.push({ type: 'put', key: META_KEY, value: { ...this.meta, reorgs } })
    }
    await this.db.batch(ops, { sync: true })
    await this.reload()
  }
}

/** Changes to the ledger, committed in one atomic batch with the cursor and the undo checkpoint. */
export class ProofSetLedgerTx {
  private readonly changed = new Map<string, ProofSetLedgerDeal>()
  readonly meta: ProofSetLedgerMeta

  constructor(
    private readonly ledger: ProofSetLedger,
    private readonly db: ProofSetLedgerDb,
    meta: ProofSetLedgerMeta
  ) {
    this.meta = { ...meta }
  }

  /** A mutable copy of the deal, written back at commit. */
  deal(id: string | bigint): ProofSetLedgerDeal | undefined {
    const key = String(id)
    const pending = this.changed.get(key)
    if (pending !== undefined) return pending
    const current = this.ledger.deal(key)
    if (current === undefined) return undefined
    const copy = { ...current }
    this.changed.set(key, copy)
    return copy
  }

  put(d: ProofSetLedgerDeal): void {
    this.changed.set(d.id, d)
  }

  /** Writes the changes, moves the cursor to `block` (`hash`) and keeps the undo as its checkpoint. */
  async commit(block: bigint, hash: Hex): Promise<void> {
    const ops: Op[] = []
    const undo: Array<[string, unknown]> = []
    for (const [id, d] of this.changed) {
      const key = dealKey(id)
      undo.push([key, this.ledger.deal(id) ?? null])
      ops.push({ type: 'put', key, value: d })
    }
    undo.push([META_KEY, this.ledger.meta])
    this.meta.cursor = block.toString()
    this.meta.cursorHash = hash
    ops.push({ type: 'put', key: META_KEY, value: this.meta })
    ops.push({
      type: 'put',
      key: checkpointKey(block),
      value: { block: block.toString(), hash, undo } satisfies Checkpoint
    })
    let kept = 0
    for await (const [key] of this.db.iterator({ gte: 'b!', lt: checkpointKey(block), reverse: true })) {
      if (++kept >= LEDGER_CHECKPOINTS) ops.push({ type: 'del', key })
    }
    await this.db.batch(ops, { sync: true })
    this.ledger.applied(this.changed, this.meta)
  }
}
