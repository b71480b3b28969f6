import {
  failProofSetAudit,
  getProofSetAudit,
  proofSetMarketAbi,
  proofSetRevertName,
  readProofSetEvents,
  requestProofSetAudit,
  getProofSetWithdrawable,
  withdrawProofSet
} from '@sherd/contracts'
import type { Manifest } from '@sherd/protocol'
import { parseEventLogs } from 'viem'
import { marketParams } from '../chain.js'
import { withChain } from '../context.js'
import type { ClientContext } from '../context.js'
import { ClientConfigError } from '../errors.js'
import { sleep } from '@sherd/protocol'
import { approveOnce, chainActionError } from './deals.js'
import type { DealChain } from './deals.js'
import { periodStartBlock, readChainClock, readDeals } from './deal-state.js'
import { getManifest } from './get.js'
import type { FileTarget } from './get.js'

/** A shard of a file, by position. */
export interface ShardRef {
  readonly segmentIndex: number
  readonly shardIndex: number
}

export interface AuditOptions {
  signal?: AbortSignal
  /** Only these shards (default: every shard with a live deal). */
  shards?: readonly ShardRef[]
  /** Wait for each audit's period to close and settle it (default true); false only requests. */
  wait?: boolean
  /** Longest the wait lasts (wall clock); audits still open then are returned as `pending`. */
  timeoutMs?: number
  onProgress?: (event: AuditProgressEvent) => void
}

export type AuditProgressEvent =
  | { type: 'audit:requested'; segmentIndex: number; shardIndex: number; dealId: bigint; period: bigint; bond: bigint }
  | { type: 'audit:answered'; segmentIndex: number; shardIndex: number; dealId: bigint; period: bigint }
  | { type: 'audit:failed'; segmentIndex: number; shardIndex: number; dealId: bigint; period: bigint; reward: bigint }

/**
 * One audit: `answered` (the provider proved AUDIT_CHALLENGES leaves of the shard; its bond paid the provider's
 * gas), `failed` (unanswered in its period: the deal faulted, its collateral was slashed, the bond came back with
 * `reward`; run repair), `pending` (its period has not closed yet: run audit again to settle it), `skipped`
 * (not audited, `reason` says why).
 */
export interface AuditOutcome {
  readonly segmentIndex: number
  readonly shardIndex: number
  readonly provider?: string
  readonly dealId?: bigint
  /** The period the provider had to answer in. */
  readonly period?: bigint
  readonly result: 'answered' | 'failed' | 'pending' | 'skipped'
  readonly reason?: string
  readonly reward?: bigint
}

export interface AuditResult {
  readonly audits: readonly AuditOutcome[]
  /** Bonds deposited by this call, base units. */
  readonly bonds: bigint
  /** Tokens withdrawn to the account (returned bonds and rewards of failed audits, and other refunds). */
  readonly withdrawn: bigint
}

/** Default `timeoutMs`: long enough for two devnet periods under load, and for a 256-block period at 12 s. */
const DEFAULT_AUDIT_TIMEOUT_MS = 90 * 60_000

/**
 * On-demand audit of a file's deals: for each chosen shard with a live deal, `requestAudit` (with the market's
 * bond; an audit already open from an earlier call is reused) asks its provider to prove AUDIT_CHALLENGES random
 * leaves of it in the next period. With `wait`, polls until each audit is answered (AuditAnswered) or its period
 * has closed unanswered, then calls `failAudit` for the reward (the deal faults; `repair` moves the shard), and
 * withdraws what came back. Safe to run again: open audits are waited on, not requested twice.
 */
export async function audit(
  context: ClientContext,
  target: FileTarget,
  options: AuditOptions = {}
): Promise<AuditResult> {
  const ctx = withChain(context, 'audit')
  const { manifest } = await getManifest(ctx, target, options.signal === undefined ? {} : { signal: options.signal })
  return await auditManifest({ ...ctx, pollingIntervalMs: ctx.defaults.pollingIntervalMs }, manifest, options)
}

/** What `audit` does once it has the file's manifest: chain only. */
export async function auditManifest(
  ctx: DealChain & { pollingIntervalMs: number },
  manifest: Manifest,
  options: AuditOptions = {}
): Promise<AuditResult> {
  const signal = options.signal ?? new AbortController().signal
  const emit = options.onProgress ?? (() => {})
  const wanted =
    options.shards === undefined ? undefined : new Set(options.shards.map((s) => `${s.segmentIndex}/${s.shardIndex}`))
  const refs = manifest.segments
    .flatMap((seg, segmentIndex) => seg.shards.map((sh, shardIndex) => ({ segmentIndex, shardIndex, sh })))
    .filter((r) => wanted === undefined || wanted.has(`${r.segmentIndex}/${r.shardIndex}`))
  if (wanted !== undefined && refs.length < wanted.size) {
    throw new ClientConfigError(
      `the file has ${manifest.segments.length} segment(s) of ${manifest.k + manifest.m} shards: ${[...wanted].filter((w) => !refs.some((r) => `${r.segmentIndex}/${r.shardIndex}` === w)).join(', ')} is not one of them`
    )
  }
  const clock = await readChainClock(ctx.publicClient, ctx.market)
  const views = await readDeals(
    ctx.market,
    clock,
    refs.flatMap((r) => (r.sh.deal === undefined ? [] : [r.sh.deal])),
    signal
  )
  const outcomes: AuditOutcome[] = []
  const open: Array<{
    segmentIndex: number
    shardIndex: number
    provider?: string
    dealId: bigint
    period: bigint
    fromBlock: bigint
  }> = []
  const toRequest: typeof open = []
  for (const r of refs) {
    const base = {
      segmentIndex: r.segmentIndex,
      shardIndex: r.shardIndex,
      ...(r.sh.provider === undefined ? {} : { provider: r.sh.provider })
    }
    if (r.sh.deal === undefined) {
      outcomes.push({ ...base, result: 'skipped', reason: 'the shard has no deal: run repair' })
      continue
    }
    const v = views.get(r.sh.deal)
    if (v === undefined || v.status !== 'live') {
      outcomes.push({
        ...base,
        dealId: r.sh.deal,
        result: 'skipped',
        reason: `the deal is ${v?.status ?? 'unknown'}: only a live deal can be audited`
      })
      continue
    }
    const existing = await getProofSetAudit(ctx.market, v.id)
    const item = { ...base, dealId: v.id, period: existing?.period ?? 0n, fromBlock: clock.head }
    if (existing !== undefined) open.push(item)
    else toRequest.push(item)
  }
  const { auditBond } = await marketParams(ctx.market)
  const bond = auditBond === 0n ? 1n : auditBond
  await approveOnce(ctx, bond * BigInt(toRequest.length), signal)
  let bonds = 0n
  for (const item of toRequest) {
    signal.throwIfAborted()
    try {
      const receipt = await requestProofSetAudit(ctx.market, item.dealId, { signal })
      const [log] = parseEventLogs({ abi: proofSetMarketAbi, logs: receipt.logs, eventName: 'AuditRequested' })
      const period = log?.args.period ?? (await getProofSetAudit(ctx.market, item.dealId))?.period ?? 0n
      bonds += log?.args.bond ?? bond
      open.push({ ...item, period, fromBlock: receipt.blockNumber })
      emit({
        type: 'audit:requested',
        segmentIndex: item.segmentIndex,
        shardIndex: item.shardIndex,
        dealId: item.dealId,
        period,
        bond: log?.args.bond ?? bond
      })
    } catch (err) {
      signal.throwIfAborted()
      const name = proofSetRevertName(err)
      const reason =
        name === 'AuditPastTerm'
          ? 'its term ends before the next period: nothing left to audit'
          : chainActionError(`requesting an audit of deal ${item.dealId}`, err, item.provider).message
      outcomes.push({
        segmentIndex: item.segmentIndex,
        shardIndex: item.shardIndex,
        ...(item.provider === undefined ? {} : { provider: item.provider }),
        dealId: item.dealId,
        result: 'skipped',
        reason
      })
    }
  }
  const wait = options.wait ?? true
  const deadline = Date.now() + (options.timeoutMs ?? DEFAULT_AUDIT_TIMEOUT_MS)
  const params = await marketParams(ctx.market)
  const pending = [...open]
  while (pending.length > 0) {
    signal.throwIfAborted()
    const head = await ctx.publicClient.getBlockNumber({ cacheTime: 0 })
    for (const item of [...pending]) {
      const base = {
        segmentIndex: item.segmentIndex,
        shardIndex: item.shardIndex,
        ...(item.provider === undefined ? {} : { provider: item.provider }),
        dealId: item.dealId,
        period: item.period
      }
      const still = await getProofSetAudit(ctx.market, item.dealId)
      const closesAt = periodStartBlock(params, item.period + 1n)
      if (still === undefined) {
        // Settled by its provider's answer, or by someone else's failAudit: the events tell which.
        const answered = await readProofSetEvents(ctx.market, {
          eventName: 'AuditAnswered',
          args: { dealId: item.dealId },
          fromBlock: item.fromBlock,
          signal
        })
        if (answered.some((l) => l.args.period === item.period)) {
          outcomes.push({ ...base, result: 'answered' })
          emit({ type: 'audit:answered', ...base })
        } else {
          const failed = await readProofSetEvents(ctx.market, {
            eventName: 'AuditFailed',
            args: { dealId: item.dealId },
            fromBlock: item.fromBlock,
            signal
          })
          const reward = failed.at(-1)?.args.reward ?? 0n
          outcomes.push({
            ...base,
            result: 'failed',
            reward,
            reason: 'its provider did not answer in time: the deal faulted; run repair'
          })
          emit({ type: 'audit:failed', ...base, reward })
        }
        pending.splice(pending.indexOf(item), 1)
      } else if (wait && head + 1n >= closesAt) {
        // The next block is past the audit's period: unanswered, so it fails for the reward.
        try {
          const receipt = await failProofSetAudit(ctx.market, item.dealId, { signal })
          const [log] = parseEventLogs({ abi: proofSetMarketAbi, logs: receipt.logs, eventName: 'AuditFailed' })
          const reward = log?.args.reward ?? 0n
          outcomes.push({
            ...base,
            result: 'failed',
            reward,
            reason: 'its provider did not answer in time: the deal faulted; run repair'
          })
          emit({ type: 'audit:failed', ...base, reward })
          pending.splice(pending.indexOf(item), 1)
        } catch (err) {
          signal.throwIfAborted()
          // Answered or failed by someone else in the meantime, or the block was not there yet: look again.
          if (proofSetRevertName(err) !== 'NoAudit' && proofSetRevertName(err) !== 'AuditNotExpired')
            throw chainActionError(`failing the audit of deal ${item.dealId}`, err, item.provider)
        }
      }
    }
    if (pending.length === 0 || !wait || Date.now() > deadline) break
    await sleep(ctx.pollingIntervalMs, signal)
  }
  for (const item of pending) {
    outcomes.push({
      segmentIndex: item.segmentIndex,
      shardIndex: item.shardIndex,
      ...(item.provider === undefined ? {} : { provider: item.provider }),
      dealId: item.dealId,
      period: item.period,
      result: 'pending',
      reason: `its provider may answer until period ${item.period} closes: run audit again after that to settle it`
    })
  }
  let withdrawn = 0n
  if (outcomes.some((o) => o.result === 'failed') && (await getProofSetWithdrawable(ctx.market, ctx.account)) > 0n) {
    withdrawn = (await withdrawProofSet(ctx.market, { signal })).amount
  }
  outcomes.sort((a, b) => a.segmentIndex - b.segmentIndex || a.shardIndex - b.shardIndex)
  return { audits: outcomes, bonds, withdrawn }
}
