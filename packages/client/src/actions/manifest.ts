import { checkSealedManifest, manifestBytesMatch, openManifest, parseManifestCid, sealManifest } from '@sherd/protocol'
import type { Manifest, ManifestKey } from '@sherd/protocol'
import type { CID } from 'multiformats/cid'
import { MANIFEST_FETCH_CONCURRENCY } from '../constants.js'
import type { ClientContext } from '../context.js'
import { ManifestNotFoundError, ManifestStoreError, ProviderMisbehaviourError } from '../errors.js'
import { fetchManifest, storeManifest } from '../transfer.js'

/** The `provider` a manifest read from the local cache reports. */
export const LOCAL_CACHE = 'local-cache'

/** Providers to ask for a manifest: those named in `prefer` first, then fresh ones, then the rest, best score first. */
function manifestCandidates(ctx: ClientContext, prefer: readonly string[] = []): string[] {
  const known = ctx.directory.list().filter((p) => p.addrs.length > 0)
  known.sort((a, b) => Number(b.fresh) - Number(a.fresh) || b.score - a.score)
  return [...new Set([...prefer.filter((id) => ctx.directory.addrsOf(id).length > 0), ...known.map((p) => p.peerId)])]
}

/**
 * Fetches the sealed manifest `cid` from the providers the client knows (a few at a time), checks the bytes
 * against the CID (a provider that serves other bytes is scored down) and decrypts it with `key`.
 */
export async function fetchFileManifest(
  ctx: ClientContext,
  cid: CID,
  key: ManifestKey,
  options: { signal?: AbortSignal; prefer?: readonly string[] } = {}
): Promise<{ manifest: Manifest; provider: string }> {
  const manifestCidValue = parseManifestCid(cid)
  const cached = await ctx.manifestCache?.read(manifestCidValue.toString())
  if (cached !== undefined && manifestBytesMatch(manifestCidValue, cached)) {
    return { manifest: await openManifest(cached, key, manifestCidValue), provider: LOCAL_CACHE }
  }
  const candidates = manifestCandidates(ctx, options.prefer)
  const asked: string[] = []
  for (let i = 0; i < candidates.length; i += MANIFEST_FETCH_CONCURRENCY) {
    const batch = candidates.slice(i, i + MANIFEST_FETCH_CONCURRENCY)
    asked.push(...batch)
    const stop = new AbortController()
    const signal = options.signal === undefined ? stop.signal : AbortSignal.any([options.signal, stop.signal])
    const tries = batch.map(async (provider) => {
      const started = performance.now()
      let bytes: Uint8Array
      try {
        bytes = await fetchManifest(ctx, provider, manifestCidValue.bytes, signal)
      } catch (err) {
        if (!stop.signal.aborted) ctx.scores.failure(provider)
        throw err
      }
      try {
        checkSealedManifest(bytes, manifestCidValue)
      } catch (err) {
        ctx.scores.corruption(provider)
        throw new ProviderMisbehaviourError(
          provider,
          `served manifest bytes that do not match ${manifestCidValue.toString()} (${(err as Error).message})`,
          { cause: err }
        )
      }
      ctx.scores.success(provider, { ms: performance.now() - started })
      // Decryption errors (wrong key) are the caller's, not the provider's: they propagate as they are.
      const manifest = await openManifest(bytes, key, manifestCidValue)
      await ctx.manifestCache?.write(manifestCidValue.toString(), bytes)
      return { manifest, provider }
    })
    try {
      const found = await Promise.any(tries)
      stop.abort()
      return found
    } catch (err) {
      options.signal?.throwIfAborted()
      const reasons = (err as AggregateError).errors ?? []
      const keyError = reasons.find((e: Error) => e.name === 'ManifestDecryptionError' || e.name === 'InvalidKeyError')
      if (keyError !== undefined) throw keyError
    }
  }
  throw new ManifestNotFoundError(manifestCidValue.toString(), asked)
}

/**
 * Seals `manifest` with `key` and stores it on up to `replicas` providers (those holding the file's shards
 * first); returns its CID and where it went. Throws ManifestStoreError if no provider took it.
 */
export async function storeFileManifest(
  ctx: ClientContext,
  manifest: Manifest,
  key: ManifestKey,
  replicas: number,
  options: { signal?: AbortSignal; onStored?: (provider: string, cid: string) => void } = {}
): Promise<{ cid: CID; providers: string[] }> {
  const sealed = await sealManifest(manifest, key)
  await ctx.manifestCache?.write(sealed.cid.toString(), sealed.bytes)
  const holders = manifest.segments
    .flatMap((s) => s.shards.map((sh) => sh.provider))
    .filter((p): p is string => p !== undefined)
  const order = [...new Set([...holders, ...ctx.directory.list().map((p) => p.peerId)])]
    .map((id) => ctx.directory.describe(id))
    .filter((p) => p.addrs.length > 0)
    .sort((a, b) => Number(b.fresh) - Number(a.fresh) || b.score - a.score)
    .map((p) => p.peerId)
  const stored: string[] = []
  const errors: string[] = []
  for (let i = 0; i < order.length && stored.length < replicas; i += replicas - stored.length) {
    const batch = order.slice(i, i + replicas - stored.length)
    await Promise.all(
      batch.map(async (provider) => {
        try {
          await storeManifest(ctx, provider, sealed.cid.bytes, sealed.bytes, options.signal)
          ctx.scores.success(provider)
          stored.push(provider)
          options.onStored?.(provider, sealed.cid.toString())
        } catch (err) {
          options.signal?.throwIfAborted()
          ctx.scores.failure(provider)
          errors.push(`${provider}: ${(err as Error).message}`)
        }
      })
    )
  }
  if (stored.length === 0) {
    throw new ManifestStoreError(
      `the manifest ${sealed.cid.toString()} could not be stored on any of ${order.length} providers (${errors.join('; ')}); the shards are stored, retry once providers are reachable`
    )
  }
  return { cid: sealed.cid, providers: stored }
}
