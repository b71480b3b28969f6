import { logger } from '@libp2p/logger'
import {
  LATEST_PROTOCOL,
  deriveRepairKey,
  isRepairKey,
  latestKeyPair,
  parseManifestCid,
  requestLatest,
  signLatestRecord
} from '@sherd/protocol'
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
 * A latest-record exchange is two small frames: a provider that takes longer is skipped (the default of
 * `latestTimeoutMs`).
 */
const LATEST_TIMEOUT_MS = 5_000
/**
 * How long a `get` still waits for the other providers once one has answered (docs/keeper.md, "Follow"): enough for
 * providers that answer at all (an exchange on a live connection takes milliseconds), short enough that one stalled
 * provider adds at most this to a read instead of `latestTimeoutMs`.
 */
export const LATEST_GRACE_MS = 750

export interface LatestOptions {
  /** Follow the file's latest-version record to its newest manifest (default true). docs/keeper.md. */
  followLatest?: boolean
  /** How long one provider may take to answer for the record (default 5 s); the lookup ends sooner (`LATEST_GRACE_MS`). */
  latestTimeoutMs?: number
}

export interface PublishLatestResult {
  readonly seq: number
  /** Providers that now hold this record (or a newer one), and the ones asked. */
  readonly accepted: number
  readonly asked: number
}

function providersOf(manifest: Manifest): string[] {
  return [
    ...new Set(
      manifest.segments.flatMap((s) => s.shards.flatMap((sh) => (sh.provider === undefined ? [] : [sh.provider])))
    )
  ]
}

async function repairKeyOf(target: RepairTarget): Promise<RepairKey> {
  const { manifestKey } = parseRepairTarget(target)
  return isRepairKey(manifestKey) ? manifestKey : await deriveRepairKey(manifestKey)
}

async function ask(
  ctx: ClientContext,
  peerId: string,
  publicKey: Uint8Array,
  record: LatestRecord | undefined,
  signal?: AbortSignal,
  timeoutMs = LATEST_TIMEOUT_MS
): Promise<LatestRecord | undefined> {
  return await withStream(
    ctx,
    peerId,
    LATEST_PROTOCOL,
    'latest-version record',
    timeoutMs,
    signal,
    async (stream, s) =>
      await requestLatest(stream, record === undefined ? { publicKey } : { publicKey, record }, { signal: s })
  )
}

/**
 * Publishes "the newest manifest of this file is `target`'s" to every provider holding a shard of it, and of the
 * older versions `olderCids` (those are the providers a `get` with an old link asks). Signed with the key derived
 * from the repair key, so the keeper can publish with a repair capability. `seq` is the time in ms (at least
 * `afterSeq` + 1), so the newest publish wins whoever made it.
 */
export async function publishLatest(
  ctx: ClientContext,
  target: RepairTarget,
  options: { olderCids?: readonly string[]; afterSeq?: number; signal?: AbortSignal } = {}
): Promise<PublishLatestResult> {
  const { manifest, cid, manifestKey } = await getRepairableManifest(
    ctx,
    target,
    options.signal === undefined ? {} : { signal: options.signal }
  )
  const providers = new Set(providersOf(manifest))
  for (const older of options.olderCids ?? []) {
    try {
      const o = await fetchFileManifest(
        ctx,
        parseManifestCid(older),
        manifestKey,
        options.signal === undefined ? {} : { signal: options.signal }
      )
      for (const p of providersOf(o.manifest)) providers.add(p)
    } catch (err) {
      log('older version %s not readable, its providers are skipped: %s', older, (err as Error).message)
    }
  }
  const seq = Math.max(Date.now(), (options.afterSeq ?? 0) + 1)
  const record = signLatestRecord(await repairKeyOf(target), seq, cid.bytes)
  const answers = await Promise.allSettled(
    [...providers].map(async (p) => await ask(ctx, p, record.publicKey, record, options.signal))
  )
  const accepted = answers.filter((a) => a.status === 'fulfilled' && a.value !== undefined && a.value.seq >= seq).length
  return { seq, accepted, asked: providers.size }
}

/**
 * The highest-seq record `providers` answer for `publicKey`. Ends when every provider has answered or failed, or
 * `LATEST_GRACE_MS` after the first answer (with a record or without), whichever comes first; the asks still
 * running then are aborted. A provider that fails (refused, reset, bad record) starts no grace: it says nothing.
 */
async function newestRecord(
  ctx: ClientContext,
  providers: readonly string[],
  publicKey: Uint8Array,
  options: { signal?: AbortSignal; timeoutMs?: number }
): Promise<LatestRecord | undefined> {
  if (providers.length === 0) return undefined
  const done = new AbortController()
  const signal = options.signal === undefined ? done.signal : AbortSignal.any([options.signal, done.signal])
  let best: LatestRecord | undefined
  let pending = providers.length
  let grace: ReturnType<typeof setTimeout> | undefined
  return await new Promise<LatestRecord | undefined>((resolve) => {
    const finish = (): void => {
      clearTimeout(grace)
      done.abort(new Error('the latest-record lookup has its answer'))
      resolve(best)
    }
    for (const p of providers) {
      ask(ctx, p, publicKey, undefined, signal, options.timeoutMs)
        .then(
          (r) => {
            if (r !== undefined && (best === undefined || r.seq > best.seq)) best = r
            grace ??= setTimeout(finish, LATEST_GRACE_MS)
          },
          (err: unknown) => {
            if (!done.signal.aborted) log('%s gave no latest-version record: %s', p, (err as Error).message)
          }
        )
        .finally(() => {
          if (--pending === 0) finish()
        })
    }
  })
}

/**
 * The newest version of a file as its providers know it: asks every provider of `target`'s manifest for the
 * file's latest-version record and returns the target with the CID of the highest verified `seq` (the target itself
 * when none is newer or no provider answers). A provider can withhold a record, not forge or alter one. It returns
 * once all have answered or `LATEST_GRACE_MS` after the first answer: a stalled provider does not hold up a read.
 */
export async function resolveLatest(
  ctx: ClientContext,
  target: FileTarget,
  options: Pick<GetOptions, 'signal' | 'manifestProviders'> & Pick<LatestOptions, 'latestTimeoutMs'> = {}
): Promise<{ cid: CID; key: Uint8Array }> {
  const { cid, key } = parseTarget(target)
  const { manifest } = await getRepairableManifest(ctx, { cid, key }, options)
  const { publicKey } = latestKeyPair(await deriveRepairKey(key))
  const best = await newestRecord(ctx, providersOf(manifest), publicKey, {
    ...(options.signal === undefined ? {} : { signal: options.signal }),
    ...(options.latestTimeoutMs === undefined ? {} : { timeoutMs: options.latestTimeoutMs })
  })
  if (best === undefined) return { cid, key }
  const newest = CID.decode(best.cid)
  return newest.equals(cid) ? { cid, key } : { cid: newest, key }
}

/**
 * `get`, following the file's latest-version record first (unless `followLatest: false`): an old link reads the
 * newest version a repair wrote. If the newest version cannot be read at all, the link's own version is read.
 */
export async function* getLatest(
  ctx: ClientContext,
  target: FileTarget,
  options: GetOptions & LatestOptions = {}
): AsyncGenerator<Uint8Array, void, undefined> {
  const { followLatest, latestTimeoutMs, ...getOptions } = options
  let resolved: FileTarget = target
  if (followLatest !== false) {
    try {
      resolved = await resolveLatest(ctx, target, {
        ...getOptions,
        ...(latestTimeoutMs === undefined ? {} : { latestTimeoutMs })
      })
    } catch (err) {
      options.signal?.throwIfAborted()
      log('no latest-version record followed for %s: %s', parseTarget(target).cid, (err as Error).message)
    }
  }
  yield* get(ctx, resolved, getOptions)
}
