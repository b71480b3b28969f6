import type { Startable } from '@libp2p/interface'
import type { Hex } from 'viem'

/*
 * The provider's own record of its deals, in a sublevel (`ledger`) of the node's LevelDB so it shares the data
 * dir's lock and survives restarts. JSON values; bigints as decimal strings. Keys:
 *   d!<dealId, 20 digits>                     LedgerDeal
 *   p!<dealId, 20 digits>!<period, 20 digits>  LedgerPeriod: how that period of that deal settled
 *   meta                                       LedgerMeta: scan cursor, withdrawn, reporter rewards
 * Every change is one atomic batch that also moves the scan cursor, so each market event is folded in exactly
 * once; a period is counted once because its `p!` entry is written in the same batch as the counts it changes.
 */

export type LedgerDealState = 'pending' | 'active' | 'ended' | 'failed' | 'expired' | 'unheld'

export interface LedgerDeal {
  /** Deal id, decimal. */
  id: string
  /** Commitment root the client opened the deal with. */
  root: Hex
  size: number
  /** Token base units, decimal. */
  pricePerPeriod: string
  openedBlock: string
  /** Last block that accepts the activation proof. */
  activationDeadline: string
  /** `unheld`: opened against this provider for a shard it does not hold; left alone. */
  state: LedgerDealState
  /** First proving period, once active. */
  startPeriod?: string
  periods: number
  periodsProven: number
  /** Periods that closed without a valid proof (whether or not someone marked them on chain). */
  periodsMissed: number
  /** Of those, the periods marked missed on chain (each slashed). */
  periodsMarked: number
  /** Payments credited for proven periods, token base units, decimal. */
  earned: string
  slashed: string
  /** Every period of the term up to this one is settled (has a `p!` entry). */
  settledThrough?: string
  /** The latest period with a proof on chain. */
  lastProven?: string
  updatedAtMs: number
}

export interface LedgerPeriod {
  status: 'proven' | 'missed'
  /** Marked missed on chain (slashed). */
  marked?: boolean
  payment?: string
  slashed?: string
  tx?: Hex
  block?: string
}

export interface LedgerMeta {
  /** Last block whose market events are folded in. */
  cursor?: string
  /** Total withdrawn by this provider's address (Withdrawn events), decimal. */
  withdrawn: string
  /** Rewards credited for marking other providers' missed periods, decimal. */
  reporterRewards: string
}

/** What the ledger needs of a LevelDB (a `ShardStore.sublevel`): JSON values, utf8 keys. */
export interface LedgerDb {
  get: (key: string) => Promise<unknown>
  batch: (ops: Array<{ type: 'put', key: string, value: unknown }>, options?: { sync?: boolean }) => Promise<void>
  iterator: (options: { gte: string, lt: string }) => AsyncIterable<[string, unknown]>
}

const pad = (n: string | bigint | number): string => BigInt(n).toString().padStart(20, '0')
const dealKey = (id: string): string => `d!${pad(id)}`
const periodKey = (id: string, period: bigint | string): string => `p!${pad(id)}!${pad(period)}`
const META_KEY = 'meta'

/** Deal summary as `/status` shows it. */
export interface DealSummary {
  id: string
  state: LedgerDealState
  root: Hex
  size: number
  startPeriod?: string
  periods: number
  periodsProven: number
  periodsMissed: number
  earned: string
}

/**
 * The deal ledger: an in-memory copy of every deal record (for status and the prover's loop) backed by the
 * sublevel. Change it through `begin()` … `commit()`.
 */
export class DealLedger implements Startable {
  private db: LedgerDb | undefined
  private readonly dealMap = new Map<string, LedgerDeal>()
  private metaRecord: LedgerMeta = { withdrawn: '0', reporterRewards: '0' }

  constructor (private readonly open: () => LedgerDb) {}

  async start (): Promise<void> {
    const db = this.open()
    this.dealMap.clear()
    for await (const [, value] of db.iterator({ gte: 'd!', lt: 'd!~' })) {
      const deal = value as LedgerDeal
      this.dealMap.set(deal.id, deal)
    }
    const meta = await db.get(META_KEY) as LedgerMeta | undefined
    this.metaRecord = { withdrawn: '0', reporterRewards: '0', ...meta }
    this.db = db
  }

  async stop (): Promise<void> {
    this.db = undefined
  }

  get started (): boolean { return this.db !== undefined }

  deal (id: string | bigint): LedgerDeal | undefined {
    return this.dealMap.get(id.toString())
  }

  /** Number of deals recorded (deals are never removed, so this changes exactly when one is added). */
  get dealCount (): number { return this.dealMap.size }

  deals (): LedgerDeal[] {
    return [...this.dealMap.values()]
  }

  get meta (): Readonly<LedgerMeta> { return this.metaRecord }

  async period (id: string | bigint, period: bigint): Promise<LedgerPeriod | undefined> {
    return await this.level.get(periodKey(id.toString(), period)) as LedgerPeriod | undefined
  }

  private get level (): LedgerDb {
    if (this.db === undefined) throw new Error('the deal ledger is not started')
    return this.db
  }

  begin (): LedgerTx {
    return new LedgerTx(this, this.level)
  }

  /** @internal applied by LedgerTx after its batch is durable */
  applied (deals: Map<string, LedgerDeal>, meta: LedgerMeta | undefined): void {
    for (const [id, d] of deals) this.dealMap.set(id, d)
    if (meta !== undefined) this.metaRecord = meta
  }

  /** Totals over all deals, for `/status`. */
  totals (): { deals: number, periodsProven: number, periodsMissed: number, earned: bigint, slashed: bigint, byState: Record<string, number> } {
    let periodsProven = 0; let periodsMissed = 0; let earned = 0n; let slashed = 0n
    const byState: Record<string, number> = {}
    for (const d of this.dealMap.values()) {
      periodsProven += d.periodsProven
      periodsMissed += d.periodsMissed
      earned += BigInt(d.earned)
      slashed += BigInt(d.slashed)
      byState[d.state] = (byState[d.state] ?? 0) + 1
    }
    return { deals: this.dealMap.size, periodsProven, periodsMissed, earned, slashed, byState }
  }

  /** The `limit` most recent deals (highest ids first). */
  summaries (limit: number): DealSummary[] {
    return this.deals()
      .sort((a, b) => (BigInt(b.id) > BigInt(a.id) ? 1 : -1))
      .slice(0, limit)
      .map((d) => {
        const s: DealSummary = { id: d.id, state: d.state, root: d.root, size: d.size, periods: d.periods, periodsProven: d.periodsProven, periodsMissed: d.periodsMissed, earned: d.earned }
        if (d.startPeriod !== undefined) s.startPeriod = d.startPeriod
        return s
      })
  }
}

/** One atomic change to the ledger: reads see its own writes; nothing is visible until `commit()`. */
export class LedgerTx {
  private readonly deals = new Map<string, LedgerDeal>()
  private readonly periods = new Map<string, LedgerPeriod>()
  private metaDraft: LedgerMeta | undefined

  constructor (private readonly ledger: DealLedger, private readonly db: LedgerDb) {}

  deal (id: string | bigint): LedgerDeal | undefined {
    const key = id.toString()
    const pending = this.deals.get(key)
    if (pending !== undefined) return pending
    const stored = this.ledger.deal(key)
    if (stored === undefined) return undefined
    const copy = { ...stored }
    this.deals.set(key, copy)
    return copy
  }

  /** A deal as it stands in this change, without taking a draft copy (read only). */
  peek (id: string): Readonly<LedgerDeal> | undefined {
    return this.deals.get(id) ?? this.ledger.deal(id)
  }

  /** Ids of every deal, stored or added in this change. */
  dealIds (): string[] {
    return [...new Set([...this.ledger.deals().map((d) => d.id), ...this.deals.keys()])]
  }

  /** Adds a deal (or replaces the draft of one). */
  putDeal (deal: LedgerDeal): void {
    this.deals.set(deal.id, deal)
  }

  async period (id: string, period: bigint): Promise<LedgerPeriod | undefined> {
    return this.periods.get(periodKey(id, period)) ?? await this.db.get(periodKey(id, period)) as LedgerPeriod | undefined
  }

  get meta (): LedgerMeta {
    this.metaDraft ??= { ...this.ledger.meta }
    return this.metaDraft
  }

  /** Counts a proven period once (a second report of the same period changes nothing). */
  async proven (id: string, period: bigint, p: { payment: bigint, tx?: Hex, block?: bigint }): Promise<void> {
    const deal = this.deal(id)
    if (deal === undefined) return
    const existing = await this.period(id, period)
    if (existing?.status === 'proven') return
    const entry: LedgerPeriod = { status: 'proven', payment: p.payment.toString() }
    if (p.tx !== undefined) entry.tx = p.tx
    if (p.block !== undefined) entry.block = p.block.toString()
    this.periods.set(periodKey(id, period), entry)
    deal.periodsProven++
    if (existing?.status === 'missed') deal.periodsMissed-- // settled too early; the chain says proven
    deal.earned = (BigInt(deal.earned) + p.payment).toString()
    if (deal.lastProven === undefined || BigInt(deal.lastProven) < period) deal.lastProven = period.toString()
  }

  /** Counts a missed period once; `slashed` (a PeriodMissed event) also marks it. */
  async missed (id: string, period: bigint, p: { slashed?: bigint, tx?: Hex } = {}): Promise<void> {
    const deal = this.deal(id)
    if (deal === undefined) return
    const existing = await this.period(id, period)
    if (existing?.status === 'proven') return
    const entry: LedgerPeriod = existing ?? { status: 'missed' }
    if (existing === undefined) deal.periodsMissed++
    if (p.slashed !== undefined && entry.marked !== true) {
      entry.marked = true
      entry.slashed = p.slashed.toString()
      if (p.tx !== undefined) entry.tx = p.tx
      deal.periodsMarked++
      deal.slashed = (BigInt(deal.slashed) + p.slashed).toString()
    }
    this.periods.set(periodKey(id, period), entry)
  }

  /** Writes everything in one synced batch, then updates the in-memory copy. */
  async commit (): Promise<void> {
    const now = Date.now()
    const ops: Array<{ type: 'put', key: string, value: unknown }> = []
    for (const d of this.deals.values()) {
      d.updatedAtMs = now
      ops.push({ type: 'put', key: dealKey(d.id), value: d })
    }
    for (const [key, value] of this.periods) ops.push({ type: 'put', key, value })
    if (this.metaDraft !== undefined) ops.push({ type: 'put', key: META_KEY, value: this.metaDraft })
    if (ops.length === 0) return
    await this.db.batch(ops, { sync: true })
    this.ledger.applied(this.deals, this.metaDraft)
  }
}

/** A new pending deal record. */
export function newLedgerDeal (p: { id: bigint, root: Hex, size: bigint, pricePerPeriod: bigint, periods: number, openedBlock: bigint, activationBlocks: number }): LedgerDeal {
  return {
    id: p.id.toString(),
    root: p.root,
    size: Number(p.size),
    pricePerPeriod: p.pricePerPeriod.toString(),
    openedBlock: p.openedBlock.toString(),
    activationDeadline: (p.openedBlock + BigInt(p.activationBlocks)).toString(),
    state: 'pending',
    periods: p.periods,
    periodsProven: 0,
    periodsMissed: 0,
    periodsMarked: 0,
    earned: '0',
    slashed: '0',
    updatedAtMs: Date.now()
  }
}
