import { logger } from '@libp2p/logger'
import { LATEST_PROTOCOL, deriveRepairKey, isRepairKey, latestKeyPair, parseManifestCid, requestLatest, signLatestRecord } from '@sherd/protocol'
import type { LatestRecord, Manifest, RepairKey } from '@sherd/protocol'
import { CID } from 'multiformats/cid'
import type { ClientContext } from './context.js'
import { get, parseTarget } from './actions/get.js'
import type { FileTarget, GetOptions } from './actions/get.js'
import { fetchFileManifest } from './actions/manifest.js'
import { getRepairableManifest, parseRepairTarget } from './capability.js'
import type { RepairTarget } from './capability.js'
import { withStream } from './transfer.js'

const log = logger('sherd:client:latest')

/**
 * A latest-record exchange is two small frames: a provider that takes longer is skipped. Every `get` waits for
 * the slowest of its manifest's providers up to this, so it is kept short; a get that gives up on all of them reads
 * the link's own version, as before.
 */
const LATEST_TIMEOUT_MS = 5_000

export interface LatestOptions {
  /** Follow the file's latest-version record to its newest manifest (default true). docs/keeper.md. */
  followLatest?: boolean
}

export interface PublishLatestResult {
  readonly seq: number
  /** Providers that now hold this record (or a newer one), and the ones asked. */
  readonly accepted: number
  readonly asked: number
}

function providersOf (manifest: Manifest): string[] {
  return [...new Set(manifest.segments.flatMap((s) => s.shards.flatMap((sh) => sh.provider === undefined ? [] : [sh.provider])))]
}

async function repairKeyOf (target: RepairTarget): Promise<RepairKey> {
  const { manifestKey } = parseRepairTarget(target)
  return isRepairKey(manifestKey) ? manifestKey : await deriveRepairKey(manifestKey)
}

async function ask (ctx: ClientContext, peerId: string, publicKey: Uint8Array, record: LatestRecord | undefined, signal?: AbortSignal): Promise<LatestRecord | undefined> {
  return await withStream(ctx, peerId, LATEST_PROTOCOL, 'latest-version record', LATEST_TIMEOUT_MS, signal,
    async (stream, s) => await requestLatest(stream, record === undefined ? { publicKey } : { publicKey, record }, { signal: s }))
}

/**
 * Publishes "the newest manifest of this file is `target`'s" to every provider holding a shard of it, and of the
 * older versions `olderCids` (those are the providers a `get` with an old link asks). Signed with the key derived
 * from the repair key, so the keeper can publish with a repair capability. `seq` is the time in ms (at least
 * `afterSeq` + 1), so the newest publish wins whoever made it.
 */
export async function publishLatest (
  ctx: ClientContext, target: RepairTarget, options: { olderCids?: readonly string[], afterSeq?: number, signal?: AbortSignal } = {}
): Promise<PublishLatestResult> {
  const { manifest, cid, manifestKey } = await getRepairableManifest(ctx, target, options.signal === undefined ? {} : { signal: options.signal })
  const providers = new Set(providersOf(manifest))
  for (const older of options.olderCids ?? []) {
    try {
      const o = await fetchFileManifest(ctx, parseManifestCid(older), manifestKey, options.signal === undefined ? {} : { signal: options.signal })
      for (const p of providersOf(o.manifest)) providers.add(p)
    } catch (err) {
      log('older version %s not readable, its providers are skipped: %s', older, (err as Error).message)
    }
  }
  const seq = Math.max(Date.now(), (options.afterSeq ?? 0) + 1)
  const record = signLatestRecord(await repairKeyOf(target), seq, cid.bytes)
  const answers = await Promise.allSettled([...providers].map(async (p) => await ask(ctx, p, record.publicKey, record, options.signal)))
  const accepted = answers.filter((a) => a.status === 'fulfilled' && a.value !== undefined && a.value.seq >= seq).length
  return { seq, accepted, asked: providers.size }
}

/**
 * The newest version of a file as its providers know it: asks every provider of `target`'s manifest for the
 * file's latest-version record and returns the target with the CID of the highest verified `seq` (the target itself
 * when none is newer or no provider answers). A provider can withhold a record, not forge or alter one.
 */
export async function resolveLatest (ctx: ClientContext, target: FileTarget, options: Pick<GetOptions, 'signal' | 'manifestProviders'> = {}): Promise<{ cid: CID, key: Uint8Array }> {
  const { cid, key } = parseTarget(target)
  const { manifest } = await getRepairableManifest(ctx, { cid, key }, options)
  const { publicKey } = latestKeyPair(await deriveRepairKey(key))
  const answers = await Promise.allSettled(providersOf(manifest).map(async (p) => await ask(ctx, p, publicKey, undefined, options.signal)))
  let best: LatestRecord | undefined
  for (const a of answers) {
    if (a.status === 'fulfilled' && a.value !== undefined && (best === undefined || a.value.seq > best.seq)) best = a.value
  }
  if (best === undefined) return { cid, key }
  const newest = CID.decode(best.cid)
  return newest.equals(cid) ? { cid, key } : { cid: newest, key }
}

/**
 * `get`, following the file's latest-version record first (unless `followLatest: false`): an old link reads the
 * newest version a repair wrote. If the newest version cannot be read at all, the link's own version is read.
 */
export async function * getLatest (ctx: ClientContext, target: FileTarget, options: GetOptions & LatestOptions = {}): AsyncGenerator<Uint8Array, void, undefined> {
  const { followLatest, ...getOptions } = options
  let resolved: FileTarget = target
  if (followLatest !== false) {
    try {
      resolved = await resolveLatest(ctx, target, getOptions)
    } catch (err) {
      options.signal?.throwIfAborted()
      log('no latest-version record followed for %s: %s', parseTarget(target).cid, (err as Error).message)
    }
  }
  yield * get(ctx, resolved, getOptions)
}
