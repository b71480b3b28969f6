import { openDeal, storageMarketAbi } from '@sherd/contracts'
import { decodeManifest, formatLink, parseLink } from '@sherd/protocol'
import type { Manifest, ManifestSegment } from '@sherd/protocol'
import type { CID } from 'multiformats/cid'
import { decodeFunctionData, hexToBytes } from 'viem'
import type { ChainContext } from '../context.js'
import { ChainActionError } from '../errors.js'
import type { PutProgressEvent } from '../events.js'
import type { JournalDeal, JournalWriter } from '../journal.js'
import { approveOnce, dealConcurrency, mapLimit, requireActiveDeals, shardKey } from './deals.js'
import type { OpenedDeal } from './deals.js'
import { storeFileManifest } from './manifest.js'
import type { PlacedShard } from './place.js'
import { requestShardOffer } from '../transfer.js'

/** Blocks per log query: public RPCs commonly refuse ranges above 10,000 blocks. */
const LOG_PAGE_BLOCKS = 5_000n
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
  readonly journal: { readonly id: string, readonly path?: string }
}

export interface SettleOptions {
  wait: boolean
  timeoutMs: number
  pollingIntervalMs: number
  manifestReplicas: number
  signal: AbortSignal
  emit: (event: PutProgressEvent) => void
}

const escrowOf = (deal: JournalDeal): bigint => deal.offer.pricePerPeriod * BigInt(deal.offer.periods)

function placedOf (deal: JournalDeal): PlacedShard {
  return {
    segmentIndex: deal.segmentIndex, shardIndex: deal.shardIndex, provider: deal.provider, chainAddress: deal.offer.provider,
    offer: deal.offer, signature: deal.signature, bytes: deal.bytes
  }
}

async function nonceUsed (ctx: ChainContext, deal: JournalDeal): Promise<boolean> {
  return await ctx.publicClient.readContract({
    address: ctx.market.market, abi: storageMarketAbi, functionName: 'nonceUsed', args: [deal.offer.provider, deal.offer.nonce]
  })
}

/**
 * Finds on chain the deals of `candidates` that were opened without the journal hearing of it (the process died
 * or was interrupted between sending `openDeal` and recording its receipt). An offer's nonce can be used once:
 * if it is unused, no deal was opened from it; if it is used, the deal is the DealOpened of our account with that
 * provider and root since the entry's start block whose transaction carries that nonce. A used nonce that no deal
 * of ours explains is an offer the provider cancelled: that deal is marked failed (it can never open).
 */
export async function recoverOpenedDeals (ctx: ChainContext, writer: JournalWriter, candidates: readonly JournalDeal[]): Promise<void> {
  if (candidates.length === 0) return
  const used = await mapLimit(candidates, CHAIN_READ_CONCURRENCY, async (deal) => await nonceUsed(ctx, deal))
  const spent = candidates.filter((_, i) => used[i])
  if (spent.length === 0) return
  const head = await ctx.publicClient.getBlockNumber({ cacheTime: 0 })
  const logs = []
  for (let from = writer.entry.startBlock; from <= head; from += LOG_PAGE_BLOCKS) {
    const to = from + LOG_PAGE_BLOCKS - 1n < head ? from + LOG_PAGE_BLOCKS - 1n : head
    logs.push(...await ctx.publicClient.getContractEvents({
      address: ctx.market.market, abi: storageMarketAbi, eventName: 'DealOpened', args: { client: writer.entry.client },
      fromBlock: from, toBlock: to, strict: true
    }))
  }
  const found = new Map<JournalDeal, { dealId: bigint, openedBlock: bigint }>()
  for (const log of logs) {
    const candidates = spent.filter((d) => !found.has(d) && d.offer.provider.toLowerCase() === log.args.provider.toLowerCase() && d.offer.root.toLowerCase() === log.args.root.toLowerCase())
    if (candidates.length === 0) continue
    // Same provider and root can come from two offers (identical padding shards): the nonce in the calldata tells.
    const tx = await ctx.publicClient.getTransaction({ hash: log.transactionHash })
    const call = decodeFunctionData({ abi: storageMarketAbi, data: tx.input })
    if (call.functionName !== 'openDeal') continue
    const nonce = (call.args[0] as { nonce: bigint }).nonce
    const match = candidates.find((d) => d.offer.nonce === nonce)
    if (match !== undefined) found.set(match, { dealId: log.args.dealId, openedBlock: log.blockNumber })
  }
  await writer.update(() => {
    for (const deal of spent) {
      const hit = found.get(deal)
      if (hit !== undefined) { deal.dealId = hit.dealId; deal.openedBlock = hit.openedBlock; delete deal.error }
      else deal.error = `the offer's nonce ${deal.offer.nonce} is used on chain but no deal of this account opened from it: the provider cancelled the offer; run repair on the file to move this shard`
    }
  })
}

/** Approves what `deals` escrow and opens them, recording each; returns the refused ones with the reason. */
async function openJournalDeals (ctx: ChainContext, writer: JournalWriter, deals: readonly JournalDeal[], options: SettleOptions): Promise<Map<JournalDeal, string>> {
  const { signal, emit } = options
  const failed = new Map<JournalDeal, string>()
  if (deals.length === 0) return failed
  const amount = deals.reduce((sum, d) => sum + escrowOf(d), 0n)
  if (await approveOnce(ctx, amount, signal)) emit({ type: 'put:approved', amount })
  let opened = writer.entry.deals.filter((d) => d.dealId !== undefined).length
  await mapLimit(deals, dealConcurrency(ctx), async (deal) => {
    signal.throwIfAborted()
    try {
      const { dealId, receipt } = await openDeal(ctx.market, { offer: deal.offer, signature: deal.signature }, { signal })
      await writer.update(() => { deal.dealId = dealId; deal.openedBlock = receipt.blockNumber })
      emit({ type: 'put:deal-opened', segmentIndex: deal.segmentIndex, shardIndex: deal.shardIndex, provider: deal.provider, dealId, escrow: escrowOf(deal), dealsOpened: ++opened, dealsTotal: writer.entry.deals.length })
    } catch (err) {
      signal.throwIfAborted()
      failed.set(deal, new ChainActionError(`opening the deal for segment ${deal.segmentIndex} shard ${deal.shardIndex} with ${deal.provider}`, err, deal.provider).message)
    }
  })
  return failed
}

/**
 * Replaces the offers of `deals` that have expired by the chain's clock (offers live OFFER_TTL_SECONDS, an hour;
 * a put resumed later finds them dead) with fresh ones from the same providers for the same shards, recorded
 * before use. Only an offer already past its expiry is replaced, so the old one can never open a second deal.
 * The provider still holds the shard unless its collector removed it (no deal within its grace period, 2 h): then
 * it does not activate the deal and the escrow comes back after the activation deadline (`delete`, `abandon`).
 * Returns the deals that got a fresh offer; one whose provider gives none is marked failed.
 */
async function renewExpiredOffers (ctx: ChainContext, writer: JournalWriter, deals: readonly JournalDeal[], signal: AbortSignal): Promise<JournalDeal[]> {
  if (deals.length === 0) return []
  const head = await ctx.publicClient.getBlock({ blockTag: 'latest' })
  const expired = deals.filter((d) => d.offer.expiry < head.timestamp)
  const renewed: JournalDeal[] = []
  await mapLimit(expired, OFFER_RENEWAL_CONCURRENCY, async (deal) => {
    try {
      const fresh = await requestShardOffer(ctx, deal.provider, deal.offer.provider, {
        root: hexToBytes(deal.offer.root), byteLength: deal.bytes, periods: deal.offer.periods, maxPeriods: deal.offer.maxPeriods
      }, signal)
      await writer.update(() => { deal.offer = fresh.offer; deal.signature = fresh.signature })
      renewed.push(deal)
    } catch (err) {
      signal.throwIfAborted()
      await writer.update(() => { deal.error = `its offer expired and ${deal.provider} gave no new one (${(err as Error).message}); run repair on the file to move this shard` })
    }
  })
  return renewed
}

/** The manifest of the entry with every known deal filled in. */
function finalManifest (writer: JournalWriter): Manifest {
  const base = decodeManifest(Buffer.from(writer.entry.manifest, 'base64'))
  const byShard = new Map(writer.entry.deals.map((d) => [shardKey(d.segmentIndex, d.shardIndex), d]))
  return {
    ...base,
    segments: base.segments.map((segment, s): ManifestSegment => ({
      ...segment,
      shards: segment.shards.map((shard, i) => {
        const deal = byShard.get(shardKey(s, i))
        return {
          commitment: shard.commitment,
          ...(deal === undefined ? {} : { provider: deal.provider }),
          ...(deal?.dealId === undefined ? {} : { deal: deal.dealId })
        }
      })
    }))
  }
}

/**
 * Takes a put whose shards are uploaded and whose entry is on disk to the end, from wherever it stopped: learns
 * from the chain which deals are already open, approves and opens the others (each recorded as it opens), stores
 * the manifest, records the link and (with `wait`) waits for activation. Safe to run again at any point: no
 * offer can open two deals (the market burns its nonce), and deals opened unrecorded are found on chain first.
 */
export async function settlePut (ctx: ChainContext, writer: JournalWriter, options: SettleOptions): Promise<PutResult> {
  const { signal, emit } = options
  const entry = writer.entry
  const unknown = (): JournalDeal[] => entry.deals.filter((d) => d.dealId === undefined && d.error === undefined)
  await recoverOpenedDeals(ctx, writer, unknown())

  await renewExpiredOffers(ctx, writer, unknown(), signal)
  const refused = await openJournalDeals(ctx, writer, unknown(), options)
  if (refused.size > 0) {
    // A refused open may be a deal an earlier run's transaction opened meanwhile, or an offer that expired while
    // it waited: look on chain again, renew what has expired, and try those once more.
    const retry = [...refused.keys()]
    await recoverOpenedDeals(ctx, writer, retry)
    const renewed = await renewExpiredOffers(ctx, writer, retry.filter((d) => d.dealId === undefined && d.error === undefined), signal)
    const again = await openJournalDeals(ctx, writer, renewed, options)
    for (const deal of renewed) {
      const reason = again.get(deal)
      if (reason === undefined) refused.delete(deal)
      else refused.set(deal, reason)
    }
    await writer.update(() => {
      for (const [deal, message] of refused) {
        if (deal.dealId !== undefined || deal.error !== undefined) continue
        deal.error = `${message}; run repair on the file to move this shard`
      }
    })
    for (const deal of retry) {
      if (deal.dealId === undefined) emit({ type: 'put:deal-failed', segmentIndex: deal.segmentIndex, shardIndex: deal.shardIndex, provider: deal.provider, error: deal.error ?? 'not opened' })
    }
  }

  const manifest = finalManifest(writer)
  let link = entry.link
  let manifestProviders = entry.manifestProviders ?? []
  if (entry.state !== 'stored' || link === undefined) {
    const key = Buffer.from(entry.key, 'hex')
    const stored = await storeFileManifest(ctx, manifest, key, options.manifestReplicas, {
      signal, onStored: (provider, cid) => { emit({ type: 'put:manifest-stored', provider, cid }) }
    })
    link = formatLink(stored.cid, key)
    manifestProviders = stored.providers
    const finalLink = link
    await writer.update((e) => { e.state = 'stored'; e.cid = stored.cid.toString(); e.link = finalLink; e.manifestProviders = stored.providers })
    emit({ type: 'put:journal', id: entry.id, state: 'stored', ...(writer.path === undefined ? {} : { path: writer.path }) })
  }
  await ctx.scores.save()

  const deals: OpenedDeal[] = entry.deals.map((d) => ({
    placed: placedOf(d),
    ...(d.dealId === undefined ? {} : { dealId: d.dealId }),
    ...(d.openedBlock === undefined ? {} : { openedBlock: d.openedBlock })
  }))
  await requireActiveDeals(ctx, deals, link, {
    wait: options.wait, timeoutMs: options.timeoutMs, pollingIntervalMs: options.pollingIntervalMs, signal, emit
  })
  const parsed = parseLink(link)
  return {
    cid: parsed.cid,
    key: parsed.key,
    link,
    manifest,
    deals: entry.deals.map((d) => ({
      segmentIndex: d.segmentIndex, shardIndex: d.shardIndex, provider: d.provider,
      ...(d.dealId === undefined ? {} : { dealId: d.dealId }),
      escrow: escrowOf(d)
    })),
    escrow: entry.escrow,
    manifestProviders,
    journal: { id: entry.id, ...(writer.path === undefined ? {} : { path: writer.path }) }
  }
}
