import { defaultCoder } from '@sherd/erasure'
import { merkleRoot } from '@sherd/proofs'
import { encodeManifest, isRepairKey, parseShardCid } from '@sherd/protocol'
import type { Manifest, ManifestShard } from '@sherd/protocol'
import type { CID } from 'multiformats/cid'
import { base64Of, hexOf } from '../bytes.js'
import { withChain } from '../context.js'
import type { ClientContext } from '../context.js'
import { CorruptShardError, RepairError } from '../errors.js'
import { decideSegment, excludedProviders, mayPlace } from '../repair-policy.js'
import type { PolicyShard } from '../repair-policy.js'
import type { PutProgressEvent } from '../events.js'
import { fetchShard } from '../transfer.js'
import { JOURNAL_FORMAT, JournalWriter, marketTag, PutJournal } from '../journal.js'
import type { JournalEntry } from '../journal.js'
import { getRepairableManifest, linkFor } from '../capability.js'
import type { RepairTarget } from '../capability.js'
import { verifyAdoptedDeals } from '../repair-adopt.js'
import type { AdoptedDeal } from '../repair-adopt.js'
import { placeShards } from './place.js'
import { settleEntry, shardKey } from './settle.js'
import type { PlacedShard } from './place.js'
import { inspectManifest } from './stat.js'
import type { FileStat, SegmentStat, ShardState } from './stat.js'

/** Repair's own events, besides the put events of re-placing shards. */
export type RepairProgressEvent =
  | PutProgressEvent
  | { type: 'repair:inspected'; unhealthy: number; segments: number }
  | { type: 'repair:rebuilt'; segmentIndex: number; shardIndexes: readonly number[]; from: readonly number[] }

export interface RepairOptions {
  signal?: AbortSignal
  onProgress?: (event: RepairProgressEvent) => void
  /** Term of the new deals (default the client's). */
  periods?: number
  /**
   * Also move shards whose deal missed a period recently (live, not failed yet: `recentMissedPeriods`, the last
   * `maxMissedPeriods` closed periods; an old miss followed by proofs is not a reason to move). Default false.
   */
  includeMissed?: boolean
  /**
   * Leave shards whose deal ran its paid term (`ended`) as they are instead of rebuilding them into new deals: the
   * keeper's repair restores what failed during the term, it does not renew what the user paid to end (docs/keeper.md).
   * Default false: an explicit repair renews them too.
   */
  leaveEnded?: boolean
  /** Wait for the new deals' terms to begin (default the client's). */
  waitForActivation?: boolean
  manifestReplicas?: number
  extraUploads?: number
  /**
   * Deals an interrupted repair of this file already opened for rebuilt shards (recorded from its `put:deal-opened`
   * events): each one still live and matching its shard goes into the new manifest instead of a new deal.
   */
  adopt?: readonly AdoptedDeal[]
}

export interface RepairedShard {
  readonly segmentIndex: number
  readonly shardIndex: number
  /** Previous provider, if any. */
  readonly from?: string
  readonly previousState: ShardState
  readonly to: string
  readonly dealId?: bigint
}

export interface RepairResult {
  /** CID of the new manifest version (the previous one if nothing needed repair). */
  readonly cid: CID
  readonly link: string
  readonly previousCid: string
  readonly manifest: Manifest
  readonly repaired: readonly RepairedShard[]
  /** The file's state before the repair. */
  readonly before: FileStat
  /** The journal entry the repair's deals were recorded in (resume it like a put if the repair was interrupted). */
  readonly journal?: { readonly id: string; readonly path?: string }
}

type ShardStat = SegmentStat['shards'][number]

function leftEnded(s: ShardStat, options: RepairOptions): boolean {
  return options.leaveEnded === true && s.state === 'ended'
}

function needsRepair(s: ShardStat, options: RepairOptions): boolean {
  return !leftEnded(s, options) && (!s.healthy || (options.includeMissed === true && (s.recentMissedPeriods ?? 0) > 0))
}

/**
 * The shards of one segment a repair rebuilds, by the repair policy. An explicit repair rebuilds every unhealthy
 * shard (threshold k + m − 1); the keeper waits for its own threshold before it starts one. With `leaveEnded`, the
 * policy also sees each deal's end (`now`, ms): a segment whose paid term is over (its deals ended, or failed and
 * past their own end) gets nothing rebuilt, so a whole-file repair the keeper started for another segment never
 * renews it. Below k every unhealthy shard is returned: the fetch loop still tries every candidate and reports
 * what it found.
 */
export function shardsToRebuild(
  seg: SegmentStat,
  k: number,
  m: number,
  options: Pick<RepairOptions, 'leaveEnded' | 'includeMissed'>,
  now: number
): { view: PolicyShard[]; bad: Set<number> } {
  const view = seg.shards.map(
    (s): PolicyShard => ({
      shardIndex: s.shardIndex,
      health: leftEnded(s, options) ? 'ended' : needsRepair(s, options) ? 'failed' : 'healthy',
      ...(s.provider === undefined ? {} : { provider: s.provider }),
      ...(options.leaveEnded !== true || s.endsAtMs === undefined ? {} : { dealEnd: s.endsAtMs })
    })
  )
  const decision = decideSegment({ k, m, shards: view, threshold: k + m - 1, now })
  const bad = new Set(
    decision.belowK
      ? view.filter((s) => s.health !== 'healthy' && s.health !== 'ended').map((s) => s.shardIndex)
      : decision.rebuild
  )
  return { view, bad }
}

/**
 * Brings every segment back to k + m healthy shards: shards whose deal faulted (DealFaulted), was declared lost
 * (DealDeclaredLost), failed (DealFailed, or as many misses as fail it at its next claim), ended or was never
 * opened, or whose provider does not answer, are rebuilt from k good shards (each verified against its commitment;
 * the rebuilt bytes must match the original commitment), placed on providers holding no other shard of the
 * segment, and funded with new deals opened through the put journal like a put's (recorded before every
 * transaction, so an interrupted repair is finished by `resume`). Writes a new manifest version and returns its
 * CID and link.
 */
export async function repair(
  context: ClientContext,
  target: RepairTarget,
  options: RepairOptions = {}
): Promise<RepairResult> {
  const ctx = withChain(context, 'repair')
  const d = ctx.defaults
  const signal = options.signal ?? new AbortController().signal
  const emit = options.onProgress ?? (() => {})
  await ctx.directory.refreshRegistry({ signal })
  // The repair key opens and re-seals the manifest; shards are rebuilt over ciphertext, so nothing is decrypted.
  const { manifest, cid, manifestKey: key } = await getRepairableManifest(ctx, target, { signal })
  const before = await inspectManifest(ctx, manifest, cid, { signal, probe: true })
  const unhealthy = before.segments.reduce((n, s) => n + s.shards.filter((sh) => needsRepair(sh, options)).length, 0)
  emit({ type: 'repair:inspected', unhealthy, segments: before.segments.length })
  if (unhealthy === 0) {
    return { cid, link: linkFor(cid, key), previousCid: cid.toString(), manifest, repaired: [], before }
  }

  const { k, m } = manifest
  const coder = defaultCoder()
  const periods = options.periods ?? d.periods
  const placeOptions = {
    periods,
    committed: new Map<string, bigint>(),
    extraUploads: options.extraUploads ?? d.extraUploads,
    signal,
    onProgress: emit,
    load: new Map<string, number>(),
    avoid: new Set<string>(),
    stored: { bytes: 0 },
    ...(d.maxPricePerMiB === undefined ? {} : { maxPricePerMiB: d.maxPricePerMiB })
  }
  const placed: PlacedShard[] = []
  const adopted = await verifyAdoptedDeals(ctx, manifest, options.adopt ?? [])
  const repairedFrom = new Map<string, { from?: string; state: ShardState }>()
  /** The adopted deals this repair put in the manifest (`segment/shard`). */
  const taken = new Set<string>()

  const judgedAt = Date.now()
  for (const seg of before.segments) {
    const { view, bad } = shardsToRebuild(seg, k, m, options, judgedAt)
    if (bad.size === 0) continue
    // An adopted deal must still keep the segment's shards on distinct providers.
    const adoptedHere = [...bad].filter((i) => {
      const a = adopted.get(shardKey(seg.index, i))
      return a !== undefined && mayPlace(view, a.provider)
    })
    for (const i of adoptedHere) {
      taken.add(shardKey(seg.index, i))
      const old = seg.shards[i]!
      repairedFrom.set(shardKey(seg.index, i), {
        ...(old.provider === undefined ? {} : { from: old.provider }),
        state: old.state
      })
    }
    const segment = manifest.segments[seg.index]!
    const { shardSize } = segment
    const stripe = new Uint8Array((k + m) * shardSize)
    const present = new Array<boolean>(k + m).fill(false)
    const candidates = seg.shards.filter((s) => !bad.has(s.shardIndex) && s.provider !== undefined)
    if (adoptedHere.length === bad.size) continue
    // Fetch k good shards, a failed or wrong one makes room for the next candidate (and joins the shards to move).
    let next = 0
    let good = 0
    const worker = async (): Promise<void> => {
      while (good < k && next < candidates.length) {
        const s = candidates[next++]!
        const { root, byteLength } = parseShardCid(segment.shards[s.shardIndex]!.commitment)
        try {
          // Verified against the commitment by the protocol layer: a lie is a CorruptShardError.
          const bytes = await fetchShard(ctx, s.provider!, root, byteLength, signal)
          if (good >= k) return
          stripe.set(bytes, s.shardIndex * shardSize)
          present[s.shardIndex] = true
          good++
          ctx.scores.success(s.provider!)
        } catch (err) {
          signal.throwIfAborted()
          if (err instanceof CorruptShardError) ctx.scores.corruption(s.provider!)
          else ctx.scores.failure(s.provider!)
          bad.add(s.shardIndex)
        }
      }
    }
    await Promise.all(Array.from({ length: k }, worker))
    if (good < k) {
      throw new RepairError(
        `segment ${seg.index} has only ${good} good shards of the ${k} needed to rebuild it: the file cannot be repaired ` +
          '(bring back providers that held its shards, then run repair again)'
      )
    }
    coder.reconstruct(stripe, k, m, present)
    const toPlace = [...bad]
      .filter((i) => !adoptedHere.includes(i))
      .sort((a, b) => a - b)
      .map((shardIndex) => {
        const bytes = stripe.subarray(shardIndex * shardSize, (shardIndex + 1) * shardSize)
        const { root } = parseShardCid(segment.shards[shardIndex]!.commitment)
        const rebuilt = merkleRoot(bytes)
        if (!rebuilt.every((b, i) => b === root[i])) {
          throw new RepairError(
            `segment ${seg.index} shard ${shardIndex} rebuilt to bytes that do not match its commitment: the manifest's code parameters are inconsistent`
          )
        }
        const old = seg.shards[shardIndex]!
        repairedFrom.set(shardKey(seg.index, shardIndex), {
          ...(old.provider === undefined ? {} : { from: old.provider }),
          state: old.state
        })
        return { segmentIndex: seg.index, shardIndex, bytes, root }
      })
    emit({
      type: 'repair:rebuilt',
      segmentIndex: seg.index,
      shardIndexes: toPlace.map((s) => s.shardIndex),
      from: present.flatMap((p, i) => (p ? [i] : []))
    })
    // Keep away from every provider already holding a shard of this segment, and from the ones being replaced.
    const exclude = excludedProviders(view)
    for (const i of adoptedHere) exclude.add(adopted.get(shardKey(seg.index, i))!.provider)
    placed.push(...(await placeShards(ctx, toPlace, exclude, placeOptions)))
  }

  const withAdopted: Manifest = {
    ...manifest,
    segments: manifest.segments.map((segment, s) => ({
      ...segment,
      shards: segment.shards.map((shard, i): ManifestShard => {
        const a = adopted.get(shardKey(s, i))
        return a !== undefined && taken.has(shardKey(s, i))
          ? { commitment: shard.commitment, provider: a.provider, deal: a.dealId }
          : shard
      })
    }))
  }
  // The entry holds the file key and the manifest as it stands (the shards not moved keep their deals), so the
  // new deals are on disk before the first transaction, as a put's are.
  const prior =
    ctx.journal === undefined ? undefined : (await ctx.journal.list()).entries.find((e) => e.cid === cid.toString())
  const now = new Date().toISOString()
  const entry: JournalEntry = {
    format: JOURNAL_FORMAT,
    id: PutJournal.newId(),
    kind: 'repair',
    state: 'opening',
    createdAt: now,
    updatedAt: now,
    ...(prior?.name === undefined ? {} : { name: prior.name }),
    chainId: ctx.chainId,
    market: ctx.market.market,
    marketTag: await marketTag(ctx.publicClient, ctx.market.market),
    client: ctx.account,
    fileSize: manifest.fileSize,
    key: hexOf(isRepairKey(key) ? key.bytes() : key),
    ...(isRepairKey(key) ? { keyKind: 'repair' as const } : {}),
    // The adopted deals are already paid for: they go into the manifest as they are, not into this entry's deals.
    manifest: base64Of(encodeManifest(withAdopted)),
    previousCid: cid.toString(),
    startBlock: await ctx.publicClient.getBlockNumber({ cacheTime: 0 }),
    escrow: placed.reduce((sum, p) => sum + p.offer.pricePerPeriod * BigInt(p.offer.periods), 0n),
    deals: placed.map((p) => ({
      segmentIndex: p.segmentIndex,
      shardIndex: p.shardIndex,
      provider: p.provider,
      bytes: p.bytes,
      offer: p.offer,
      signature: p.signature
    })),
    batches: []
  }
  const writer = new JournalWriter(entry, ctx.journal)
  await writer.update(() => {})
  emit({
    type: 'put:journal',
    id: entry.id,
    state: 'opening',
    ...(writer.path === undefined ? {} : { path: writer.path })
  })
  const result = await settleEntry(ctx, writer, {
    wait: options.waitForActivation ?? d.waitForActivation,
    timeoutMs: d.activationTimeoutMs,
    pollingIntervalMs: d.pollingIntervalMs,
    manifestReplicas: options.manifestReplicas ?? d.manifestReplicas,
    signal,
    emit
  })
  return {
    cid: result.cid,
    link: result.link,
    previousCid: cid.toString(),
    manifest: result.manifest,
    repaired: [
      ...[...adopted.values()]
        .filter((a) => taken.has(shardKey(a.segmentIndex, a.shardIndex)))
        .map((a) => {
          const prior = repairedFrom.get(shardKey(a.segmentIndex, a.shardIndex))
          return {
            segmentIndex: a.segmentIndex,
            shardIndex: a.shardIndex,
            ...(prior?.from === undefined ? {} : { from: prior.from }),
            previousState: prior?.state ?? 'unknown',
            to: a.provider,
            dealId: a.dealId
          }
        }),
      ...entry.deals.map((deal) => {
        const prior = repairedFrom.get(shardKey(deal.segmentIndex, deal.shardIndex))
        return {
          segmentIndex: deal.segmentIndex,
          shardIndex: deal.shardIndex,
          ...(prior?.from === undefined ? {} : { from: prior.from }),
          previousState: prior?.state ?? 'unknown',
          to: deal.provider,
          ...(deal.dealId === undefined ? {} : { dealId: deal.dealId })
        }
      })
    ],
    before,
    journal: result.journal
  }
}
