import { parseLink, parseManifestCid } from '@sherd/protocol'
import type { Manifest } from '@sherd/protocol'
import type { CID } from 'multiformats/cid'
import type { ClientContext } from '../context.js'
import type { GetProgressEvent } from '../events.js'
import { decodeFile } from '../pipeline/index.js'
import type { ShardRequest } from '../pipeline/index.js'
import { fetchShard } from '../transfer.js'
import { fetchFileManifest } from './manifest.js'

/** A file to read: a `sherd://` link, or its manifest CID and file key. */
export type FileTarget = string | { cid: CID | string, key: Uint8Array }

export function parseTarget (target: FileTarget): { cid: CID, key: Uint8Array } {
  if (typeof target === 'string') return parseLink(target)
  return { cid: parseManifestCid(target.cid), key: target.key }
}

export interface GetOptions {
  signal?: AbortSignal
  onProgress?: (event: GetProgressEvent) => void
  /** Providers to ask for the manifest first (peer ids). */
  manifestProviders?: readonly string[]
}

/** Reads and decrypts a file's manifest (fetched from the providers, checked against its CID). */
export async function getManifest (ctx: ClientContext, target: FileTarget, options: GetOptions = {}): Promise<{ manifest: Manifest, cid: CID, key: Uint8Array }> {
  const { cid, key } = parseTarget(target)
  const { manifest, provider } = await fetchFileManifest(ctx, cid, key, {
    ...(options.signal === undefined ? {} : { signal: options.signal }),
    ...(options.manifestProviders === undefined ? {} : { prefer: options.manifestProviders })
  })
  options.onProgress?.({ type: 'get:manifest', cid: cid.toString(), provider, fileSize: manifest.fileSize, segments: manifest.segments.length })
  return { manifest, cid, key }
}

/**
 * Reads a file: fetches its manifest, then per segment asks the providers for shards in parallel (data shards
 * first), checks every shard against its Merkle commitment, stops once k good ones are in, rebuilds and
 * decrypts. A provider that is down or serves wrong bytes costs a request for another shard, never a wrong byte:
 * it is scored down (failure, or corruption) and reported in `get:shard-failed`. Yields plaintext segment by
 * segment; memory stays at about one stripe. Throws NotEnoughShardsError when fewer than k good shards exist.
 *
 * @example
 * for await (const chunk of client.get(link)) out.write(chunk)
 */
export async function * get (ctx: ClientContext, target: FileTarget, options: GetOptions = {}): AsyncGenerator<Uint8Array, void, undefined> {
  const emit = options.onProgress ?? (() => {})
  const { manifest, key } = await getManifest(ctx, target, options)
  const providerOf = (segmentIndex: number, shardIndex: number): string | undefined =>
    manifest.segments[segmentIndex]?.shards[shardIndex]?.provider
  const samples = new Map<string, { provider: string, ms: number, bytes: number }>()
  let fetchedBytes = 0

  const source = async (request: ShardRequest): Promise<Uint8Array | undefined> => {
    const { segmentIndex, shardIndex, commitment } = request
    const provider = providerOf(segmentIndex, shardIndex)
    if (provider === undefined) {
      emit({ type: 'get:shard-failed', segmentIndex, shardIndex, kind: 'missing', reason: 'the manifest names no provider for this shard' })
      return undefined
    }
    const started = performance.now()
    let bytes: Uint8Array
    try {
      bytes = await fetchShard(ctx, provider, commitment.root, commitment.byteLength, request.signal)
    } catch (err) {
      if (request.signal.aborted) throw err
      ctx.scores.failure(provider)
      emit({ type: 'get:shard-failed', segmentIndex, shardIndex, provider, kind: 'unreachable', reason: (err as Error).message })
      throw err
    }
    const ms = performance.now() - started
    fetchedBytes += bytes.byteLength
    samples.set(`${segmentIndex}/${shardIndex}`, { provider, ms, bytes: bytes.byteLength })
    emit({ type: 'get:shard-fetched', segmentIndex, shardIndex, provider, bytes: bytes.byteLength, fetchedBytes, ms })
    return bytes
  }

  try {
    yield * decodeFile(manifest, key, source, {
      ...(options.signal === undefined ? {} : { signal: options.signal }),
      onProgress: (e) => {
        const at = `${e.segmentIndex}/${'shardIndex' in e ? e.shardIndex : ''}`
        if (e.type === 'decode:shard-verified') {
          const s = samples.get(at)
          if (s !== undefined) ctx.scores.success(s.provider, { ms: s.ms, bytes: s.bytes })
          samples.delete(at)
        } else if (e.type === 'decode:shard-bad') {
          const provider = providerOf(e.segmentIndex, e.shardIndex)
          if (provider !== undefined) ctx.scores.corruption(provider)
          samples.delete(at)
          emit({ type: 'get:shard-failed', segmentIndex: e.segmentIndex, shardIndex: e.shardIndex, ...(provider === undefined ? {} : { provider }), kind: 'corrupt', reason: e.reason })
        } else if (e.type === 'decode:segment') {
          emit({ type: 'get:segment', segmentIndex: e.segmentIndex, decodedBytes: e.decodedBytes, fileSize: manifest.fileSize, shardsUsed: e.shardsUsed })
        }
      }
    })
  } finally {
    await ctx.scores.save()
  }
}
