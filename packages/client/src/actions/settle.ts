import { proofSetMarketAbi, readProofSetEvents } from '@sherd/contracts'
import type { SignedProofSetOffer } from '@sherd/contracts'
import { decodeManifest, parseCapability, RepairKey } from '@sherd/protocol'
import type { Manifest, ManifestSegment } from '@sherd/protocol'
import type { CID } from 'multiformats/cid'
import { decodeFunctionData, hexToBytes, isAddressEqual, parseEventLogs } from 'viem'
import type { Hex } from 'viem'
import { bytesOfBase64, bytesOfHex } from '../bytes.js'
import type { ChainContext } from '../context.js'
import { DealActivationError } from '../errors.js'
import type { PutProgressEvent } from '../events.js'
import { JournalError } from '../journal.js'
import type { JournalDeal, JournalWriter } from '../journal.js'
import { linkFor } from '../capability.js'
import { DEFAULT_BATCH_LIMITS, mapLimit, planBatches, sendApproval, sendBatch, waitForTermStart } from './deals.js'
import type { BatchLimits, DealChain } from './deals.js'
import { storeFileManifest } from './manifest.js'
import { requestShardOffer } from '../transfer.js'

/** Nonce reads in flight at once while looking for deals opened unrecorded. */
const CHAIN_READ_CONCURRENCY = 8
/** Expired offers renewed at once on resume (one control request each). */
const OFFER_RENEWAL_CONCURRENCY = 4

/** One shard's placement as put made it. */
export interface PutDeal {
  readonly segmentIndex: number
  readonly shardIndex: number
  readonly provider: string
  readonly dealId?: bigint
  readonly escrow: bigint
}

export interface PutResult {
  /** CID of the sealed manifest: names the file. */
  readonly cid: CID
  /** The file key. */
  readonly key: Uint8Array
  /** `sherd://<cid>#<key>`: all anyone needs to get the file. */
  readonly link: string
  /** The manifest as stored (providers and deal ids filled in). */
  readonly manifest: Manifest
  readonly deals: readonly PutDeal[]
  /** Token units escrowed in total. */
  readonly escrow: bigint
  /** Providers holding a copy of the manifest. */
  readonly manifestProviders: readonly string[]
  /** The journal entry of this put (its file when the client keeps a journal). */
  readonly journal: { readonly id: string; readonly path?: string }
}

export interface SettleOptions {
  /** Wait until every deal's term has begun (its first period). */
  wait: boolean
  timeoutMs: number
  pollingIntervalMs: number
  manifestReplicas: number
  signal: AbortSignal
  emit: (event: PutProgressEvent) => void
  /** Transaction limits of the batches (the real chain's by default). */
  limits?: BatchLimits
  /**
   * An approval put sent while the shards uploaded, resolving with its amount once mined (undefined if it was not
   * needed or failed; it never rejects): awaited before the allowance is read, so one still pending is not sent
   * twice.
   */
  approvalAhead?: Promise<bigint | undefined>
}

export const escrowOf = (deal: JournalDeal): bigint => deal.offer.pricePerPeriod * BigInt(deal.offer.periods)
const signedOf = (deal: JournalDeal): SignedProofSetOffer => ({ offer: deal.offer, signature: deal.signature })
const sameOffer = (deal: JournalDeal, offer: { provider: Hex; nonce: bigint }): boolean =>
  isAddressEqual(deal.offer.provider, offer.provider) && deal.offer.nonce === offer.nonce

/**
 * Deal ids by (provider, nonce) of the offers an openDeals transaction opened: its DealOpened logs are in offer
 * order, and the calldata names each offer's nonce (the event does not). Empty when the transaction is not an
 * openDeals or reverted.
 */
async function dealsOfTransaction(
  ctx: DealChain,
  hash: Hex
): Promise<Array<{ provider: Hex; nonce: bigint; dealId: bigint; blockNumber: bigint }>> {
  const [tx, receipt] = await Promise.all([
    ctx.publicClient.getTransaction({ hash }),
    ctx.publicClient.getTransactionReceipt({ hash })
  ])
  if (
    receipt.status !== 'success' ||
    tx.to === null ||
    tx.to === undefined ||
    !isAddressEqual(tx.to, ctx.market.market)
  )
    return []
  const call = decodeFunctionData({ abi: proofSetMarketAbi, data: tx.input })
  if (call.functionName !== 'openDeals') return []
  const [offers] = call.args
  const opened = parseEventLogs({ abi: proofSetMarketAbi, logs: receipt.logs, eventName: 'DealOpened' })
  if (opened.length !== offers.length) return []
  return offers.map((o, i) => ({
    provider: o.provider,
    nonce: o.nonce,
    dealId: opened[i]!.args.dealId,
    blockNumber: receipt.blockNumber
  }))
}

/**
 * Finds on chain the deals of `candidates` that were opened without the journal hearing of it (the process died
 * or was interrupted between sending a batch and recording its receipt). An offer's nonce opens at most one deal:
 * if it is unused, no deal was opened from it. If it is used, the deal is in the transaction the batch recorded,
 * or else in an openDeals of our account since the entry's start block (DealOpened logs, read page by page). A
 * used nonce no deal of ours explains was cancelled by its provider: that deal can never open (marked failed).
 */
export async function recoverOpenedDeals(
  ctx: DealChain,
  writer: JournalWriter,
  candidates: readonly JournalDeal[],
  signal?: AbortSignal
): Promise<void> {
  if (candidates.length === 0) return
  const used = await mapLimit(
    candidates,
    CHAIN_READ_CONCURRENCY,
    async (deal) =>
      await ctx.publicClient.readContract({
        address: ctx.market.market,
        abi: proofSetMarketAbi,
        functionName: 'nonceUsed',
        args: [deal.offer.provider, deal.offer.nonce]
      })
  )
  const spent = candidates.filter((_, i) => used[i])
  if (spent.length === 0) return
  const found = new Map<JournalDeal, { dealId: bigint; openedBlock: bigint }>()
  const take = (opened: Awaited<ReturnType<typeof dealsOfTransaction>>): void => {
    for (const o of opened) {
      const deal = spent.find((d) => !found.has(d) && sameOffer(d, o))
      if (deal !== undefined) found.set(deal, { dealId: o.dealId, openedBlock: o.blockNumber })
    }
  }
  const seen = new Set<Hex>()
  for (const hash of new Set(
    spent
      .flatMap((d) => (d.batch === undefined ? [] : [writer.entry.batches[d.batch]?.txHash]))
      .filter((h): h is Hex => h !== undefined)
  )) {
    seen.add(hash)
    try {
      take(await dealsOfTransaction(ctx, hash))
    } catch {
      /* dropped from the chain (a reorg): the log scan below decides */
    }
  }
  if (spent.some((d) => !found.has(d))) {
    const logs = await readProofSetEvents(ctx.market, {
      eventName: 'DealOpened',
      args: { client: writer.entry.client },
      fromBlock: writer.entry.startBlock,
      ...(signal === undefined ? {} : { signal })
    })
    for (const log of logs) {
      if (seen.has(log.transactionHash)) continue
      if (
        !spent.some(
          (d) =>
            !found.has(d) &&
            isAddressEqual(d.offer.provider, log.args.provider) &&
            d.offer.root.toLowerCase() === log.args.root.toLowerCase()
        )
      )
        continue
      seen.add(log.transactionHash)
      take(await dealsOfTransaction(ctx, log.transactionHash))
    }
  }
  await writer.update(() => {
    for (const deal of spent) {
      const hit = found.get(deal)
      if (hit !== undefined) {
        deal.dealId = hit.dealId
        deal.openedBlock = hit.openedBlock
        delete deal.error
      } else
        deal.error = `the offer's nonce ${deal.offer.nonce} is used on chain but no deal of this account opened from it: the provider cancelled the offer; run repair on the file to move this shard`
    }
  })
}

/** Why a deal could not be opened: the market's revert name when it gave one. */
interface Refusal {
  reason: string
  revert?: string
}

/**
 * Opens `deals` in openDeals batches: approves their escrow once, then per batch (each within the calldata,
 * gas and size limits) records the batch in the journal, sends it, records its transaction hash, and records
 * every deal id once the receipt is in. A batch over the gas cap or refused by the market is split in two and
 * tried again, down to single offers, so one bad offer does not hold up the others. Returns the offers refused
 * alone, with the reason.
 */
export async function openJournalDeals(
  ctx: DealChain,
  writer: JournalWriter,
  deals: readonly JournalDeal[],
  options: Pick<SettleOptions, 'signal' | 'emit' | 'limits' | 'approvalAhead'>
): Promise<Map<JournalDeal, Refusal>> {
  const { signal, emit } = options
  const limits = options.limits ?? DEFAULT_BATCH_LIMITS
  const refused = new Map<JournalDeal, Refusal>()
  if (deals.length === 0) return refused
  const amount = deals.reduce((sum, d) => sum + escrowOf(d), 0n)
  const approvedAhead = await options.approvalAhead
  // No batch is sent until the approval is mined. One sent right behind it (a block sooner) would wait behind a
  // nonce gap if the approval were dropped, or run without the allowance if it were replaced: the put would fail,
  // yet that batch could still open its deals whenever a later transaction of the account filled the gap.
  const approval = await sendApproval(ctx, amount, signal)
  if (approval !== undefined) {
    await approval.mined
    emit({ type: 'put:approved', amount })
  } else if (approvedAhead !== undefined) emit({ type: 'put:approved', amount: approvedAhead })
  const entry = writer.entry
  let opened = entry.deals.filter((d) => d.dealId !== undefined).length
  const queue: JournalDeal[][] = planBatches(deals.map(signedOf), limits).map((batch) => batch.map((i) => deals[i]!))
  while (queue.length > 0) {
    signal.throwIfAborted()
    const batch = queue.shift()!
    const index = entry.batches.length
    // The whole batch is on disk before its transaction exists: a crash from here on leaves deals resume looks for.
    await writer.update((e) => {
      e.batches.push({ deals: batch.map((d) => e.deals.indexOf(d)), recordedAt: new Date().toISOString() })
      for (const d of batch) d.batch = index
    })
    emit({ type: 'put:batch-recorded', batch: index, deals: batch.length })
    const outcome = await sendBatch(ctx, batch.map(signedOf), limits, signal, async (txHash) => {
      await writer.update((e) => {
        e.batches[index]!.txHash = txHash
      })
      emit({ type: 'put:batch-sent', batch: index, deals: batch.length, txHash })
    })
    if (outcome.kind === 'opened') {
      await writer.update((e) => {
        batch.forEach((d, i) => {
          d.dealId = outcome.dealIds[i]!
          d.openedBlock = outcome.blockNumber
        })
        e.batches[index]!.openedBlock = outcome.blockNumber
      })
      batch.forEach((d, i) => {
        emit({
          type: 'put:deal-opened',
          segmentIndex: d.segmentIndex,
          shardIndex: d.shardIndex,
          provider: d.provider,
          dealId: outcome.dealIds[i]!,
          escrow: escrowOf(d),
          dealsOpened: ++opened,
          dealsTotal: entry.deals.length
        })
      })
      continue
    }
    if (batch.length > 1) {
      const half = Math.ceil(batch.length / 2)
      queue.unshift(batch.slice(0, half), batch.slice(half))
      continue
    }
    const [deal] = batch
    // A lone offer refused after its transaction reached the chain may still have opened (a receipt lost to a
    // dropped connection): the chain decides.
    await recoverOpenedDeals(ctx, writer, [deal!], signal)
    if (deal!.dealId !== undefined) {
      emit({
        type: 'put:deal-opened',
        segmentIndex: deal!.segmentIndex,
        shardIndex: deal!.shardIndex,
        provider: deal!.provider,
        dealId: deal!.dealId,
        escrow: escrowOf(deal!),
        dealsOpened: ++opened,
        dealsTotal: entry.deals.length
      })
      continue
    }
    if (deal!.error !== undefined) continue
    refused.set(
      deal!,
      outcome.kind === 'refused'
        ? { reason: outcome.reason, ...(outcome.revert === undefined ? {} : { revert: outcome.revert }) }
        : { reason: `one offer needs ${outcome.gas} gas, above the cap of ${limits.maxGas}` }
    )
  }
  return refused
}

/** Gets a fresh signed offer for a deal's shard (over the wire in the SDK; tests sign as the provider). */
export type OfferRenewal = (deal: JournalDeal, signal: AbortSignal) => Promise<SignedProofSetOffer>

/**
 * Replaces the offers of `deals` that have expired by the chain's clock (a put resumed later finds them dead) with
 * fresh ones from the same providers for the same shards, recorded before use. Only an offer already past its
 * expiry is replaced, so the old one can never open a second deal. The provider signs again only while it still
 * holds the shard: it deletes a shard no deal claims within its grace time (offer expiry plus a margin), and then
 * answers UnknownShard. Returns the deals that got a fresh offer; one whose provider gives none is marked failed.
 */
async function renewExpiredOffers(
  ctx: DealChain,
  writer: JournalWriter,
  deals: readonly JournalDeal[],
  renew: OfferRenewal,
  signal: AbortSignal
): Promise<JournalDeal[]> {
  if (deals.length === 0) return []
  const head = await ctx.publicClient.getBlock({ blockTag: 'latest' })
  const expired = deals.filter((d) => d.offer.expiry < head.timestamp)
  const renewed: JournalDeal[] = []
  await mapLimit(expired, OFFER_RENEWAL_CONCURRENCY, async (deal) => {
    try {
      const fresh = await renew(deal, signal)
      await writer.update(() => {
        deal.offer = fresh.offer
        deal.signature = fresh.signature
        delete deal.batch
      })
      renewed.push(deal)
    } catch (err) {
      signal.throwIfAborted()
      await writer.update(() => {
        deal.error = `its offer expired and ${deal.provider} gave no new one (${(err as Error).message}); run repair on the file to move this shard`
      })
    }
  })
  return renewed
}

/** Renewal over the wire: the provider that holds the shard is asked again, for the same root, size and term. */
export function wireRenewal(ctx: ChainContext): OfferRenewal {
  return async (deal, signal) =>
    await requestShardOffer(
      ctx,
      deal.provider,
      deal.offer.provider,
      {
        root: hexToBytes(deal.offer.root),
        byteLength: deal.bytes,
        periods: deal.offer.periods
      },
      signal
    )
}

/**
 * Opens every deal of the entry that is not known to be open and can still be: first learns from the chain which
 * ones already are (batches sent before a crash), renews expired offers, opens the rest in batches, and renews and
 * retries once the offers that expired while waiting. Deals that cannot open get their `error` recorded (the shard
 * is unfunded; `repair` moves it). Safe to run again at any point.
 */
export async function openEntryDeals(
  ctx: DealChain,
  writer: JournalWriter,
  renew: OfferRenewal,
  options: Pick<SettleOptions, 'signal' | 'emit' | 'limits' | 'approvalAhead'>
): Promise<void> {
  const { signal, emit } = options
  const entry = writer.entry
  const unknown = (): JournalDeal[] => entry.deals.filter((d) => d.dealId === undefined && d.error === undefined)
  // A deal never put in a batch was never sent: only batched ones can be open unrecorded.
  await recoverOpenedDeals(
    ctx,
    writer,
    unknown().filter((d) => d.batch !== undefined),
    signal
  )
  await renewExpiredOffers(ctx, writer, unknown(), renew, signal)
  const refused = await openJournalDeals(ctx, writer, unknown(), options)
  if (refused.size === 0) return
  // An offer can expire while earlier batches are mined: renew those and try them once more.
  const expired = [...refused.keys()].filter((d) => refused.get(d)?.revert === 'OfferExpired')
  const renewed = await renewExpiredOffers(ctx, writer, expired, renew, signal)
  for (const deal of renewed) refused.delete(deal)
  // The early approval was reported by the first round.
  for (const [deal, reason] of await openJournalDeals(ctx, writer, renewed, { ...options, approvalAhead: undefined }))
    refused.set(deal, reason)
  await writer.update(() => {
    for (const [deal, r] of refused) {
      if (deal.dealId !== undefined || deal.error !== undefined) continue
      deal.error = `the market refused its offer (${r.revert ?? r.reason}); run repair on the file to move this shard`
    }
  })
  for (const deal of refused.keys()) {
    if (deal.dealId === undefined)
      emit({
        type: 'put:deal-failed',
        segmentIndex: deal.segmentIndex,
        shardIndex: deal.shardIndex,
        provider: deal.provider,
        error: deal.error ?? 'not opened'
      })
  }
}

/** The shard key of a segment's shard. */
export function shardKey(segmentIndex: number, shardIndex: number): string {
  return `${segmentIndex}/${shardIndex}`
}

/**
 * The manifest of the entry with its deals filled in. A shard the entry does not place keeps what the recorded
 * manifest says (a repair moves only some shards).
 */
export function finalManifest(writer: JournalWriter): Manifest {
  const base = decodeManifest(bytesOfBase64(writer.entry.manifest))
  const byShard = new Map(writer.entry.deals.map((d) => [shardKey(d.segmentIndex, d.shardIndex), d]))
  return {
    ...base,
    segments: base.segments.map(
      (segment, s): ManifestSegment => ({
        ...segment,
        shards: segment.shards.map((shard, i) => {
          const deal = byShard.get(shardKey(s, i))
          if (deal === undefined) return shard
          return {
            commitment: shard.commitment,
            provider: deal.provider,
            ...(deal.dealId === undefined ? {} : { deal: deal.dealId })
          }
        })
      })
    )
  }
}

/**
 * Takes a put (or repair) whose shards are uploaded and whose entry is on disk to the end, from wherever it
 * stopped: opens the deals still missing (`openEntryDeals`), stores the manifest, records the link and (with
 * `wait`) waits for the deals' terms to begin. A shard left without a deal is a DealActivationError carrying the
 * link (the file is stored and readable; `repair` moves that shard).
 */
export async function settlePut(
  ctx: ChainContext,
  writer: JournalWriter,
  options: SettleOptions,
  renew: OfferRenewal = wireRenewal(ctx)
): Promise<PutResult> {
  const result = await settleEntry(ctx, writer, options, renew)
  const parsed = parseCapability(result.link)
  if (parsed.kind !== 'read') {
    throw new JournalError(
      `journal entry ${writer.entry.id} is a repair made with a repair capability: it has no file key to return; its link is ${result.link}`
    )
  }
  return { ...result, key: parsed.key }
}

/** `settlePut` for any entry, also a repair made with a repair key (which has no file key to return). */
export async function settleEntry(
  ctx: ChainContext,
  writer: JournalWriter,
  options: SettleOptions,
  renew: OfferRenewal = wireRenewal(ctx)
): Promise<Omit<PutResult, 'key'>> {
  const { signal, emit } = options
  const entry = writer.entry
  await openEntryDeals(ctx, writer, renew, options)

  const manifest = finalManifest(writer)
  let link = entry.link
  let manifestProviders = entry.manifestProviders ?? []
  if (entry.state !== 'stored' || link === undefined) {
    const bytes = bytesOfHex(entry.key)
    const key = entry.keyKind === 'repair' ? RepairKey.fromBytes(bytes) : bytes
    const stored = await storeFileManifest(ctx, manifest, key, options.manifestReplicas, {
      signal,
      onStored: (provider, cid) => {
        emit({ type: 'put:manifest-stored', provider, cid })
      }
    })
    link = linkFor(stored.cid, key)
    manifestProviders = stored.providers
    const finalLink = link
    await writer.update((e) => {
      e.state = 'stored'
      e.cid = stored.cid.toString()
      e.link = finalLink
      e.manifestProviders = stored.providers
    })
    emit({
      type: 'put:journal',
      id: entry.id,
      state: 'stored',
      ...(writer.path === undefined ? {} : { path: writer.path })
    })
  }
  await ctx.scores.save()

  const unfunded = entry.deals.filter((d) => d.dealId === undefined)
  if (unfunded.length > 0)
    throw new DealActivationError(
      unfunded.map((d) => ({ provider: d.provider })),
      link
    )
  if (options.wait) {
    const opened = entry.deals.map((d) => ({ dealId: d.dealId!, openedBlock: d.openedBlock! }))
    const late = await waitForTermStart(ctx, opened, {
      timeoutMs: options.timeoutMs,
      pollingIntervalMs: options.pollingIntervalMs,
      signal,
      onStarted: (dealId, started) => {
        emit({ type: 'put:deal-activated', dealId, activated: started, total: opened.length })
      }
    })
    if (late.length > 0) {
      const byId = new Map(entry.deals.map((d) => [d.dealId, d.provider]))
      throw new DealActivationError(
        late.map((dealId) => ({ dealId, provider: byId.get(dealId) ?? '?' })),
        link
      )
    }
  }
  return {
    cid: parseCapability(link).cid,
    link,
    manifest,
    deals: entry.deals.map((d) => ({
      segmentIndex: d.segmentIndex,
      shardIndex: d.shardIndex,
      provider: d.provider,
      ...(d.dealId === undefined ? {} : { dealId: d.dealId }),
      escrow: escrowOf(d)
    })),
    escrow: entry.escrow,
    manifestProviders,
    journal: { id: entry.id, ...(writer.path === undefined ? {} : { path: writer.path }) }
  }
}
