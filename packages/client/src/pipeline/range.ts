import { defaultCoder } from '@sherd/erasure'
import type { ErasureCoder } from '@sherd/erasure'
import {
  CHUNK_PLAINTEXT_BYTES,
  checkFileKey,
  parseShardCid,
  SEALED_CHUNK_BYTES,
  validateManifest
} from '@sherd/protocol'
import type { Manifest, ShardRef } from '@sherd/protocol'
import { segmentCipher } from './chunk-cipher.js'
import type { SegmentCipher } from './chunk-cipher.js'
import { InvalidRangeError, NotEnoughShardsError } from './errors.js'
import { planRange, segmentLayout } from './layout.js'
import type { RangePlan, SegmentLayout, ShardPiece } from './layout.js'
import type { DecodeProgressEvent } from './progress.js'

/** Bytes [start, end) of one shard, wanted by decodeRange. */
export interface ShardRangeRequest {
  readonly segmentIndex: number
  readonly shardIndex: number
  /** The shard's commitment (a fetcher asks for it by CID); a range cannot be checked against it, its chunks' tags are. */
  readonly commitment: ShardRef
  readonly start: number
  readonly end: number
  /**
   * Set when the decoder will go on to ask for this shard's bytes [end, spanEnd) in order, piece after piece (the
   * next stripes' pieces of the range): a source may fetch [start, spanEnd) on one request and serve the pieces as
   * they are asked for. Absent for a piece asked on its own (a rebuild's column).
   */
  readonly spanEnd?: number
  /**
   * end - start bytes of the decoder's own stripe buffer, where these bytes go: a source may read the range into it
   * and return it, which saves a buffer and a copy per piece. Returning other bytes is as good. Bytes written into it
   * before a failure (a throw, undefined) are discarded.
   */
  readonly into?: Uint8Array
  readonly signal: AbortSignal
}

/** The bytes of the range, or undefined when this source has none. A throw counts as missing; bytes need no checking. */
export type ShardRangeSource = (request: ShardRangeRequest) => Promise<Uint8Array | undefined>

export interface DecodeRangeOptions {
  /** First plaintext byte of the file wanted; default 0. */
  offset?: number
  /** Bytes wanted; default the rest of the file. */
  length?: number
  coder?: ErasureCoder
  signal?: AbortSignal
  /** decode:shard-missing / decode:shard-bad for pieces that failed; their reason names the byte range. */
  onProgress?: (event: DecodeProgressEvent) => void
}

/** One stripe's share of a range plan. */
type StripePlan = RangePlan['stripes'][number]

interface SegmentContext {
  readonly segmentIndex: number
  readonly layout: SegmentLayout
  readonly commitments: readonly ShardRef[]
  readonly cipher: SegmentCipher
  readonly source: ShardRangeSource
  readonly coder: ErasureCoder
  readonly signal: AbortSignal
  readonly onProgress: ((event: DecodeProgressEvent) => void) | undefined
  /** Shards seen missing or bad in this segment, for the error if the range cannot be rebuilt. */
  readonly missing: Set<number>
  readonly bad: Set<number>
  /** Buffers reused stripe after stripe, so a long read makes no stripe-sized garbage (what drives peak RSS). */
  readonly buffers: RangeBuffers
}

class RangeBuffers {
  /** The sealed bytes of a stripe, two of them: the next stripe's pieces are read into one while the other is opened. */
  readonly sealed: readonly [Uint8Array, Uint8Array]
  readonly fetched: Uint8Array
  readonly rebuild: Uint8Array
  constructor(k: number, m: number, stripeChunks: number) {
    const width = stripeChunks * SEALED_CHUNK_BYTES
    this.sealed = [new Uint8Array(k * width), new Uint8Array(k * width)]
    this.fetched = new Uint8Array(k * width)
    this.rebuild = new Uint8Array((k + m) * width)
  }
}

async function fetchRange(
  ctx: SegmentContext,
  shardIndex: number,
  start: number,
  end: number,
  spanEnd?: number,
  into?: Uint8Array
): Promise<Uint8Array | undefined> {
  const { segmentIndex, signal, onProgress } = ctx
  let bytes: Uint8Array | undefined
  try {
    bytes = await ctx.source({
      segmentIndex,
      shardIndex,
      commitment: ctx.commitments[shardIndex]!,
      start,
      end,
      ...(spanEnd !== undefined && spanEnd > end ? { spanEnd } : {}),
      ...(into === undefined ? {} : { into }),
      signal
    })
  } catch (err) {
    signal.throwIfAborted()
    ctx.missing.add(shardIndex)
    onProgress?.({
      type: 'decode:shard-missing',
      segmentIndex,
      shardIndex,
      reason: `bytes ${start}..${end}: source failed: ${(err as Error).message}`
    })
    return undefined
  }
  signal.throwIfAborted()
  if (bytes === undefined) {
    ctx.missing.add(shardIndex)
    onProgress?.({
      type: 'decode:shard-missing',
      segmentIndex,
      shardIndex,
      reason: `bytes ${start}..${end}: source has no such range`
    })
    return undefined
  }
  if (!(bytes instanceof Uint8Array) || bytes.length !== end - start) {
    ctx.bad.add(shardIndex)
    onProgress?.({
      type: 'decode:shard-bad',
      segmentIndex,
      shardIndex,
      reason: `bytes ${start}..${end}: got ${bytes instanceof Uint8Array ? `${bytes.length} bytes` : 'no bytes'}`
    })
    return undefined
  }
  return bytes
}

/** The pieces of `pieces` that overlap sealed bytes [start, end). */
function covering(pieces: readonly ShardPiece[], start: number, end: number): ShardPiece[] {
  return pieces.filter((p) => p.sealedOffset < end && p.sealedOffset + p.length > start)
}

/**
 * Fetches a stripe plan's data pieces (undefined where missing or the wrong length), all at once, each offered its
 * place in `sealed` (the buffer `decodeStripe` opens this stripe in) to be read into.
 */
async function fetchPieces(
  ctx: SegmentContext,
  plan: StripePlan,
  spanEnds: ReadonlyMap<number, number>,
  sealed: Uint8Array
): Promise<Array<Uint8Array | undefined>> {
  const sealedStart = plan.firstChunk * SEALED_CHUNK_BYTES
  return await Promise.all(
    plan.pieces.map(async (p) => {
      const at = p.sealedOffset - sealedStart
      return await fetchRange(
        ctx,
        p.shardIndex,
        p.shardStart,
        p.shardStart + p.length,
        spanEnds.get(p.shardIndex),
        sealed.subarray(at, at + p.length)
      )
    })
  )
}

/** True when `a` is `b`'s very bytes (a view of the same memory), so copying one to the other is nothing. */
function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.buffer === b.buffer && a.byteOffset === b.byteOffset && a.byteLength === b.byteLength
}

/**
 * Per stripe of a plan, per data shard, where the run of its pieces that this stripe's piece begins ends: a piece
 * that reaches its stripe's edge continues into the next stripe's piece of the same shard when that starts there.
 */
function spanEndsOf(plan: RangePlan): Array<Map<number, number>> {
  const ends = plan.stripes.map(() => new Map<number, number>())
  for (let j = plan.stripes.length - 1; j >= 0; j--) {
    for (const p of plan.stripes[j]!.pieces) {
      const pieceEnd = p.shardStart + p.length
      const next = plan.stripes[j + 1]?.pieces.find((q) => q.shardIndex === p.shardIndex && q.shardStart === pieceEnd)
      ends[j]!.set(p.shardIndex, next === undefined ? pieceEnd : ends[j + 1]!.get(p.shardIndex)!)
    }
  }
  return ends
}

/**
 * Plaintext of chunks [firstChunk, endChunk) of one stripe: given the data pieces holding them (`fetchPieces`), each
 * chunk is opened with its tag. A chunk whose piece is missing or whose tag fails marks the shards under it as
 * suspect; their bytes are then rebuilt from the same column of k other shards (data, then parity), and if the
 * rebuilt chunk fails too, one shard of the rebuild set at a time is swapped for an unused one.
 */
async function decodeStripe(
  ctx: SegmentContext,
  plan: StripePlan,
  fetched: Array<Uint8Array | undefined>,
  stripeBuffer: Uint8Array
): Promise<Uint8Array> {
  const { layout, cipher, segmentIndex } = ctx
  const { k, m } = layout
  const sealedStart = plan.firstChunk * SEALED_CHUNK_BYTES
  const sealedEnd = Math.min(layout.sealedSize, plan.endChunk * SEALED_CHUNK_BYTES)
  const sealed = stripeBuffer.subarray(0, sealedEnd - sealedStart)
  const plainStart = plan.firstChunk * CHUNK_PLAINTEXT_BYTES
  const plaintext = new Uint8Array(Math.min(layout.size, plan.endChunk * CHUNK_PLAINTEXT_BYTES) - plainStart)
  const { pieces } = plan

  // A piece not fetched reads as zeros, not as an earlier stripe's bytes or what a failed read left; one read into
  // its place is there already.
  pieces.forEach((p, i) => {
    const at = p.sealedOffset - sealedStart
    const bytes = fetched[i]
    if (bytes === undefined) sealed.fill(0, at, at + p.length)
    else if (!sameBytes(bytes, sealed.subarray(at, at + p.length))) sealed.set(bytes, at)
  })
  const absent = new Set(pieces.filter((_, i) => fetched[i] === undefined).map((p) => p.shardIndex))

  /** Opens `chunks` from `sealed`; returns those that failed. A chunk under a piece not in hand fails unopened. */
  const open = async (chunks: readonly number[], unavailable: ReadonlySet<number>): Promise<number[]> => {
    const failed: number[] = []
    await Promise.all(
      chunks.map(async (chunk) => {
        const start = chunk * SEALED_CHUNK_BYTES
        const end = Math.min(layout.sealedSize, start + SEALED_CHUNK_BYTES)
        const ok =
          !covering(pieces, start, end).some((p) => unavailable.has(p.shardIndex)) &&
          (await cipher.openInto(
            chunk,
            chunk === layout.chunkCount - 1,
            sealed.subarray(start - sealedStart, end - sealedStart),
            plaintext,
            chunk * CHUNK_PLAINTEXT_BYTES - plainStart
          ))
        if (!ok) failed.push(chunk)
      })
    )
    return failed.sort((a, b) => a - b)
  }
  const shardsUnder = (chunks: readonly number[]): Set<number> =>
    new Set(
      chunks.flatMap((c) =>
        covering(pieces, c * SEALED_CHUNK_BYTES, (c + 1) * SEALED_CHUNK_BYTES).map((p) => p.shardIndex)
      )
    )

  const chunks = Array.from({ length: plan.endChunk - plan.firstChunk }, (_, i) => plan.firstChunk + i)
  const failed = await open(chunks, absent)
  if (failed.length === 0) return plaintext
  const fetchedSealed = ctx.buffers.fetched.subarray(0, sealed.length)
  fetchedSealed.set(sealed)
  const column = new Map<string, Uint8Array | undefined>()

  /**
   * Rebuilds the pieces of `suspects` under the failed chunks from the same column of k other shards (data first,
   * then parity) and reopens those chunks; if they still fail, swaps one shard of the rebuild set at a time for an
   * unused one (a single liar among them is found). True once every failed chunk opens.
   */
  const rebuild = async (suspects: ReadonlySet<number>): Promise<boolean> => {
    const rebuilt = pieces.filter(
      (p) =>
        suspects.has(p.shardIndex) &&
        failed.some((c) => covering([p], c * SEALED_CHUNK_BYTES, (c + 1) * SEALED_CHUNK_BYTES).length > 0)
    )
    if (rebuilt.length === 0) return false
    const columnStart = Math.min(...rebuilt.map((p) => p.shardStart))
    const columnEnd = Math.max(...rebuilt.map((p) => p.shardStart + p.length))
    const width = columnEnd - columnStart
    const candidates = Array.from({ length: k + m }, (_, i) => i).filter((i) => !suspects.has(i))
    const get = async (shard: number): Promise<Uint8Array | undefined> => {
      const id = `${shard}:${columnStart}:${columnEnd}`
      if (!column.has(id)) {
        // A data piece already fetched for exactly this column (a whole stripe was asked for) is not asked again;
        // its bytes as fetched are in `fetchedSealed` (`sealed`, where it may have been read, is rewritten below).
        const i = pieces.findIndex((p) => p.shardIndex === shard && p.shardStart === columnStart && p.length === width)
        const at = i >= 0 ? pieces[i]!.sealedOffset - sealedStart : 0
        column.set(
          id,
          i >= 0 && fetched[i] !== undefined
            ? fetchedSealed.subarray(at, at + width)
            : await fetchRange(ctx, shard, columnStart, columnEnd)
        )
      }
      return column.get(id)
    }
    const attempt = async (set: readonly number[]): Promise<boolean> => {
      const stripe = ctx.buffers.rebuild.subarray(0, (k + m) * width)
      const present = new Array<boolean>(k + m).fill(false)
      for (const shard of set) {
        stripe.set((await get(shard))!, shard * width)
        present[shard] = true
      }
      ctx.coder.reconstruct(stripe, k, m, present)
      sealed.set(fetchedSealed)
      for (const p of rebuilt) {
        const from = p.shardIndex * width + (p.shardStart - columnStart)
        sealed.set(stripe.subarray(from, from + p.length), p.sealedOffset - sealedStart)
      }
      const still = await open(failed, new Set([...absent].filter((s) => !suspects.has(s))))
      return still.length === 0
    }
    // A first set of k shards that answered, asked k at a time in parallel.
    const set: number[] = []
    let next = 0
    while (set.length < k && next < candidates.length) {
      const batch = candidates.slice(next, next + k - set.length)
      next += batch.length
      const got = await Promise.all(batch.map(get))
      batch.forEach((shard, i) => {
        if (got[i] !== undefined) set.push(shard)
      })
    }
    if (set.length < k) return false
    if (await attempt(set)) return true
    while (next < candidates.length) {
      const extra = candidates[next++]!
      if ((await get(extra)) === undefined) continue
      for (let i = 0; i < set.length; i++) {
        if (await attempt([...set.slice(0, i), extra, ...set.slice(i + 1)])) {
          ctx.bad.add(set[i]!)
          ctx.onProgress?.({
            type: 'decode:shard-bad',
            segmentIndex,
            shardIndex: set[i]!,
            reason: `bytes ${columnStart}..${columnEnd} rebuild chunks that fail their tags`
          })
          return true
        }
      }
    }
    return false
  }

  const markBad = (shard: number): void => {
    ctx.bad.add(shard)
    ctx.onProgress?.({
      type: 'decode:shard-bad',
      segmentIndex,
      shardIndex: shard,
      reason: 'a chunk under it fails its AES-GCM tag'
    })
  }
  // Missing pieces must be rebuilt; a present piece under a failing chunk may be lying. A chunk inside one
  // shard's piece names its liar; one straddling pieces (the last stripe) is tried with each in turn.
  const missingUnder = new Set([...shardsUnder(failed)].filter((s) => absent.has(s)))
  if (missingUnder.size > 0 && (await rebuild(missingUnder))) return plaintext
  const presentUnder = [...shardsUnder(failed)].filter((s) => !absent.has(s))
  for (const liar of presentUnder) {
    if (await rebuild(new Set([...missingUnder, liar]))) {
      markBad(liar)
      return plaintext
    }
  }
  if (await rebuild(new Set([...missingUnder, ...presentUnder]))) {
    presentUnder.forEach(markBad)
    return plaintext
  }
  presentUnder.forEach((s) => ctx.bad.add(s))
  throw new NotEnoughShardsError(
    segmentIndex,
    k,
    [...ctx.missing].sort((a, b) => a - b),
    [...ctx.bad].sort((a, b) => a - b)
  )
}

/**
 * Decodes plaintext bytes [offset, offset + length) of a file, fetching only the pieces of the shards that hold
 * them (stripe by stripe, whole 64 KiB chunks), each chunk checked by its AES-GCM tag. A missing or lying piece is
 * rebuilt from the same column of other shards. Yields the range in order, one stripe's share at a time, fetching
 * the next stripe's pieces meanwhile, so memory is about two stripes. Throws InvalidRangeError (outside the file), NotEnoughShardsError (a stripe cannot be rebuilt
 * from the shards that answered), InvalidManifestError, InvalidKeyError, or the signal's reason.
 */
export async function* decodeRange(
  manifest: Manifest,
  key: Uint8Array,
  source: ShardRangeSource,
  options: DecodeRangeOptions = {}
): AsyncGenerator<Uint8Array, void, undefined> {
  checkFileKey(key)
  const checked = validateManifest(manifest)
  const offset = options.offset ?? 0
  const length = options.length ?? checked.fileSize - offset
  if (
    !Number.isSafeInteger(offset) ||
    !Number.isSafeInteger(length) ||
    offset < 0 ||
    length < 0 ||
    offset + length > checked.fileSize
  ) {
    throw new InvalidRangeError(offset, length, checked.fileSize)
  }
  const coder = options.coder ?? defaultCoder()
  const stop = new AbortController()
  const signal = options.signal === undefined ? stop.signal : AbortSignal.any([options.signal, stop.signal])
  const end = offset + length
  const buffers = new RangeBuffers(checked.k, checked.m, checked.stripeChunks)
  try {
    for (
      let segmentIndex = Math.floor(offset / checked.segmentSize);
      segmentIndex * checked.segmentSize < end;
      segmentIndex++
    ) {
      signal.throwIfAborted()
      const segment = checked.segments[segmentIndex]!
      const segmentStart = segmentIndex * checked.segmentSize
      const from = Math.max(offset, segmentStart) - segmentStart
      const to = Math.min(end, segmentStart + segment.size) - segmentStart
      const layout = segmentLayout(segment.size, checked.k, checked.m, checked.stripeChunks)
      const plan = planRange(layout, from, to - from)
      const ctx: SegmentContext = {
        segmentIndex,
        layout,
        commitments: segment.shards.map((s) => parseShardCid(s.commitment)),
        cipher: await segmentCipher(key, checked.keySalt, segmentIndex),
        source,
        coder,
        signal,
        onProgress: options.onProgress,
        missing: new Set(),
        bad: new Set(),
        buffers
      }
      const spanEnds = spanEndsOf(plan)
      // The next stripe's pieces are fetched while this one is opened and consumed: one stripe of look-ahead, read
      // into the other of the two stripe buffers (stripe i in buffers.sealed[i % 2]).
      const stripeBuffer = (i: number): Uint8Array => buffers.sealed[i % 2]!
      let ahead =
        plan.stripes.length > 0 ? fetchPieces(ctx, plan.stripes[0]!, spanEnds[0]!, stripeBuffer(0)) : undefined
      for (const [i, stripePlan] of plan.stripes.entries()) {
        const fetched = await ahead!
        ahead =
          i + 1 < plan.stripes.length
            ? fetchPieces(ctx, plan.stripes[i + 1]!, spanEnds[i + 1]!, stripeBuffer(i + 1))
            : undefined
        // Its failure is raised when its turn comes; until then it must not count as unhandled.
        ahead?.catch(() => {})
        const plaintext = await decodeStripe(ctx, stripePlan, fetched, stripeBuffer(i))
        const chunkStart = stripePlan.firstChunk * CHUNK_PLAINTEXT_BYTES
        const wantFrom = Math.max(from, chunkStart) - chunkStart
        const wantTo = Math.min(to, chunkStart + plaintext.length) - chunkStart
        signal.throwIfAborted()
        yield plaintext.subarray(wantFrom, wantTo)
      }
    }
  } finally {
    stop.abort(new DOMException('the decode stopped', 'AbortError'))
  }
}
