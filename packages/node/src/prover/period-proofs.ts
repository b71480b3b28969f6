import { logger } from '@libp2p/logger'
import {
  buildProofSetChunk,
  getProofSetDeal,
  getProofSetProvider,
  getProofSetSeed,
  getProofSetSnapshotWeight,
  getProofSetSuperRoot,
  isProofSetRevert,
  PROOF_SET_CHUNK,
  ProviderSuperTree,
  proofSetChallengeCount,
  proofSetChallengeIndex,
  proofSetChunkCount,
  proofSetLeafOffset,
  proofSetRevertName
} from '@sherd/contracts'
import type { ProofSetProverDeal, ResolvedChallenge, SuperTreeSnapshot } from '@sherd/contracts'
import { bytesToHex } from 'viem'
import type { Hex, TransactionReceipt } from 'viem'
import { NodeError } from '../errors.js'
import { submitCall, waitForCall } from './batching.js'
import type { PendingTx } from './batching.js'
import type { ProverContext } from './context.js'
import { isLost, proveDealLeaves } from './faults.js'
import type { ProofSetLedgerDeal } from './ledger.js'

const log = logger('sherd:node:proof-set:proofs')

/** Chunk transactions of one period in the pool at once. */
export const CHUNK_PIPELINE = 8

/** The ledger does not (yet) hold every deal of the period's snapshot: sync first. */
export class LedgerBehindError extends NodeError {
  override name = 'LedgerBehindError'
}
/** The ledger disagrees with the chain about a deal: its sync missed a reorg or an event. */
export class LedgerDivergedError extends NodeError {
  override name = 'LedgerDivergedError'
}
/** The seed of the due period can no longer be derived (challenge block older than 256 blocks, never stored). */
export class SeedLostError extends NodeError {
  override name = 'SeedLostError'
}

/** One chunk proven on chain. */
export interface ProvenChunk {
  period: bigint
  chunk: number
  chunks: number
  challenges: ResolvedChallenge[]
  receipt: TransactionReceipt
  calldataBytes: number
  /** From the challenge block to the receipt, in ms (the time a proof takes within its period). */
  elapsedMs: number
  buildMs: number
}

interface BuiltChunk {
  proof: Hex
  challenges: ResolvedChallenge[]
  buildMs: number
}

/** Binary search of the deal whose range holds `index` (deals sorted by rangeStart). */
export function dealAt(deals: readonly ProofSetLedgerDeal[], index: bigint): ProofSetLedgerDeal | undefined {
  return deals[slotAt(deals, index)]
}

/** The position (in a snapshot's deals sorted by rangeStart, which is the super-tree's slot) holding `index`; −1 if none. */
function slotAt(deals: readonly ProofSetLedgerDeal[], index: bigint): number {
  let lo = 0
  let hi = deals.length - 1
  while (lo <= hi) {
    const mid = (lo + hi) >> 1
    const d = deals[mid]!
    const start = BigInt(d.rangeStart)
    if (index < start) hi = mid - 1
    else if (index >= start + BigInt(d.weight)) lo = mid + 1
    else return mid
  }
  return -1
}

/**
 * Answers the provider's due periods: the oldest unanswered period first (a missed period's challenges carry
 * over with its own seed), every chunk not yet proven, until the due period's challenge block is not mined yet.
 * Challenges are derived as the contract does (`proofSetChallengeIndex` over the seed and the frozen snapshot
 * weight); each challenged deal's root, range and voidFrom are read from the chain, its leaves from the store and
 * checked; a deal whose data is lost or corrupt is answered with the fault flag, so it fails alone.
 */
export class PeriodProver {
  private readonly built = new Map<string, BuiltChunk>()
  /** The provider's super-tree over its ledger deals in slot order (a deal's slot is its place in rangeStart order). */
  private readonly superTree = new ProviderSuperTree()
  private checkedSuperRoot?: { period: bigint; snapshot: SuperTreeSnapshot }
  private challengeSeenAt = new Map<bigint, number>()

  constructor(
    private readonly ctx: ProverContext,
    private readonly onChunk: (c: ProvenChunk) => void = () => {}
  ) {}

  async step(head: bigint): Promise<ProvenChunk[]> {
    const { mc, address, clock } = this.ctx
    const out: ProvenChunk[] = []
    let lastDue: bigint | undefined
    for (;;) {
      let p
      try {
        p = await getProofSetProvider(mc, address)
      } catch (err) {
        if (isProofSetRevert(err, 'NotRegistered')) return out
        throw err
      }
      if (p.firstPeriod === 0n || p.weight === 0n) return out
      const due = p.due
      if (head + 1n <= clock.challengeBlock(due)) return out
      // A full pass that did not move `due` (every chunk refused as already proven, say): re-read next step.
      if (lastDue === due) return out
      lastDue = due
      if (!this.challengeSeenAt.has(due)) this.challengeSeenAt = new Map([[due, Date.now()]])
      const weight = await getProofSetSnapshotWeight(mc, address, due)
      if (weight === 0n) return out
      const chunks = proofSetChunkCount(proofSetChallengeCount(weight))
      const deals = this.snapshotDeals(due, weight)
      // Nothing of the period can be paid or slashed: idle (the market restarts `due` at the next opening).
      if (p.locked === 0n && deals.every((d) => due >= BigInt(d.voidFrom))) return out
      const seed = await this.seed(due)
      const superTree = await this.superSnapshot(due, deals)
      for (const key of this.built.keys()) if (!key.startsWith(`${due}:${seed}:`)) this.built.delete(key)
      const todo: number[] = []
      for (let chunk = 0; chunk < chunks; chunk++) if (((p.chunksDone >> BigInt(chunk)) & 1n) === 0n) todo.push(chunk)
      // Up to CHUNK_PIPELINE chunk transactions in the pool at once, so a large set's period is not one block per chunk.
      for (let i = 0; i < todo.length; i += CHUNK_PIPELINE) {
        const proven = await this.proveChunks(
          due,
          seed,
          weight,
          todo.slice(i, i + CHUNK_PIPELINE),
          chunks,
          deals,
          superTree
        )
        for (const ch of proven) {
          out.push(ch)
          this.onChunk(ch)
        }
        if (proven.length < Math.min(CHUNK_PIPELINE, todo.length - i)) break
      }
    }
  }

  private async seed(period: bigint): Promise<Hex> {
    try {
      return await getProofSetSeed(this.ctx.mc, period)
    } catch (err) {
      if (isProofSetRevert(err, 'SeedUnavailable')) {
        throw new SeedLostError(
          `the seed of period ${period} is gone (its challenge block is more than 256 blocks old and nobody stored it): this proof set cannot answer it; see docs/operations.md`
        )
      }
      throw err
    }
  }

  /**
   * The period's super-tree over the snapshot's deals, checked once per period against the chain's `superRootOf`:
   * a ledger that lost or reordered a deal is caught before any proof is built on it.
   */
  private async superSnapshot(period: bigint, deals: readonly ProofSetLedgerDeal[]): Promise<SuperTreeSnapshot> {
    for (const [slot, d] of deals.entries()) this.superTree.set(slot, BigInt(d.id), d.root)
    const snapshot = this.superTree.snapshot(deals.length)
    if (this.checkedSuperRoot?.period === period && this.checkedSuperRoot.snapshot === snapshot) return snapshot
    const chain = await getProofSetSuperRoot(this.ctx.mc, this.ctx.address, period)
    if (chain.slots !== deals.length || chain.root !== bytesToHex(snapshot.root)) {
      throw new LedgerDivergedError(
        `period ${period}: the chain's super-root is ${chain.root} over ${chain.slots} deals, the ledger's ${bytesToHex(snapshot.root)} over ${deals.length}`
      )
    }
    this.checkedSuperRoot = { period, snapshot }
    return snapshot
  }

  /** The ledger's deals in the period's snapshot (opened before it began), checked to cover the snapshot weight. */
  snapshotDeals(period: bigint, weight: bigint): ProofSetLedgerDeal[] {
    const deals = this.ctx.ledger.sorted().filter((d) => BigInt(d.startPeriod) <= period)
    let end = 0n
    for (const d of deals) {
      if (BigInt(d.rangeStart) !== end)
        throw new LedgerBehindError(
          `the ledger's deals leave a gap at range ${end} (deal ${d.id} starts at ${d.rangeStart}): it is still syncing`
        )
      end += BigInt(d.weight)
    }
    if (end !== weight)
      throw new LedgerBehindError(
        `the ledger covers ${end} of period ${period}'s snapshot weight ${weight}: it is still syncing`
      )
    return deals
  }

  private async build(
    period: bigint,
    seed: Hex,
    weight: bigint,
    chunk: number,
    deals: readonly ProofSetLedgerDeal[],
    superTree: SuperTreeSnapshot
  ): Promise<BuiltChunk> {
    const started = performance.now()
    const k = proofSetChallengeCount(weight)
    const from = BigInt(chunk * PROOF_SET_CHUNK)
    const to = from + BigInt(PROOF_SET_CHUNK) < k ? from + BigInt(PROOF_SET_CHUNK) : k
    const leaves = new Map<string, { deal: ProofSetLedgerDeal; slot: number; leaves: number[] }>()
    for (let i = from; i < to; i++) {
      const index = proofSetChallengeIndex(seed, this.ctx.address, i, weight)
      const slot = slotAt(deals, index)
      const deal = deals[slot]
      if (deal === undefined)
        throw new LedgerBehindError(
          `challenge ${i} of period ${period} (index ${index}) lands on no deal in the ledger`
        )
      const entry = leaves.get(deal.id) ?? { deal, slot, leaves: [] }
      entry.leaves.push(Number(proofSetLeafOffset(index, BigInt(deal.rangeStart), BigInt(deal.leafCount))))
      leaves.set(deal.id, entry)
    }
    const proverDeals = await Promise.all(
      [...leaves.values()].map(async ({ deal, slot, leaves }): Promise<ProofSetProverDeal> => {
        const id = BigInt(deal.id)
        // The chain's word on the deal's range and state, so a void or faulted deal is never answered with a proof.
        const chain = await getProofSetDeal(this.ctx.mc, id)
        if (
          chain.root !== deal.root ||
          chain.rangeStart !== BigInt(deal.rangeStart) ||
          chain.leafCount !== BigInt(deal.leafCount)
        ) {
          throw new LedgerDivergedError(
            `deal ${id}: the chain has root ${chain.root} at range ${chain.rangeStart}, the ledger ${deal.root} at ${deal.rangeStart}`
          )
        }
        const base = {
          dealId: id,
          slot,
          rangeStart: chain.rangeStart,
          leafCount: chain.leafCount,
          voidFrom: chain.voidFrom
        }
        if (period >= chain.voidFrom) return base
        const data = await proveDealLeaves(this.ctx.store, { root: deal.root, size: BigInt(deal.size) }, leaves)
        if (isLost(data)) {
          log.error(
            'period %s: deal %s is challenged and its data is lost (%s): answering with the fault flag',
            String(period),
            deal.id,
            data.reason
          )
          return base
        }
        return { ...base, tree: data }
      })
    )
    const { proof, challenges } = buildProofSetChunk({
      seed,
      provider: this.ctx.address,
      period,
      weight,
      chunk,
      deals: proverDeals,
      superTree
    })
    return { proof, challenges, buildMs: performance.now() - started }
  }

  /** Submits the chunks' transactions back to back, then waits for them; the proven ones, in order. */
  private async proveChunks(
    period: bigint,
    seed: Hex,
    weight: bigint,
    list: readonly number[],
    chunks: number,
    deals: readonly ProofSetLedgerDeal[],
    superTree: SuperTreeSnapshot
  ): Promise<ProvenChunk[]> {
    const sent: Array<{ chunk: number; key: string; built: BuiltChunk; pending: PendingTx }> = []
    for (const chunk of list) {
      const key = `${period}:${seed}:${chunk}`
      let built = this.built.get(key)
      if (built === undefined) {
        built = await this.build(period, seed, weight, chunk, deals, superTree)
        this.built.set(key, built)
      }
      const proof = built.proof
      try {
        const pending = await this.ctx.txQueue.run(
          async () =>
            await submitCall(
              this.ctx.mc,
              { functionName: 'prove', args: [period, BigInt(chunk), proof] },
              { signal: this.ctx.attempt() }
            )
        )
        sent.push({ chunk, key, built, pending })
      } catch (err) {
        if (!this.refused(err, key)) throw err
        break
      }
    }
    const out: ProvenChunk[] = []
    for (const { chunk, key, built, pending } of sent) {
      const { receipt, calldataBytes } = await waitForCall(this.ctx.mc, pending, { signal: this.ctx.attempt() })
      this.built.delete(key)
      const faults = built.challenges.filter((c) => c.kind === 'fault').length
      log(
        'period %s chunk %d/%d proven in %s (%d gas, %d bytes%s)',
        String(period),
        chunk + 1,
        chunks,
        receipt.transactionHash,
        Number(receipt.gasUsed),
        calldataBytes,
        faults > 0 ? `, ${faults} fault flag(s)` : ''
      )
      out.push({
        period,
        chunk,
        chunks,
        challenges: built.challenges,
        receipt,
        calldataBytes,
        buildMs: built.buildMs,
        elapsedMs: Date.now() - (this.challengeSeenAt.get(period) ?? Date.now())
      })
    }
    return out
  }

  /** A refusal that means the period moved on (a reorg, an earlier attempt mined after all): re-read it. */
  private refused(err: unknown, key: string): boolean {
    const revert = proofSetRevertName(err)
    if (revert === undefined) return false
    this.built.delete(key)
    return revert === 'ChunkAlreadyProven' || revert === 'NotDuePeriod'
  }
}
