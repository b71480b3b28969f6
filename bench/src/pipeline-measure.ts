/**
 * Throughput of the offline data path (encodeFile / decodeFile) in MB/s of plaintext, with the time split between
 * encryption, erasure coding and commitments taken from the pipeline's own progress events.
 */
import { createCipheriv } from 'node:crypto'
import { decodeFile, encodeFile } from '@sherd/client'
import type { DecodeProgressEvent, EncodeProgressEvent, StageTimings } from '@sherd/client'
import type { Manifest } from '@sherd/protocol'

export interface PipelineCase {
  readonly k: number
  readonly m: number
  readonly fileBytes: number
  readonly segmentBytes?: number
}

export interface PhaseResult {
  /** Plaintext MB/s (10^6 bytes) over the whole call, reading and writing in memory. */
  readonly mbPerSecond: number
  readonly seconds: number
  /** Seconds per stage, summed over segments; the rest is copying, scheduling and the source. */
  readonly cipherSeconds: number
  readonly erasureSeconds: number
  readonly commitmentSeconds: number
}

export interface PipelineResult extends PipelineCase {
  readonly encode: PhaseResult
  /** Every data shard good: no Reed-Solomon work, only verification and decryption. */
  readonly decode: PhaseResult
  /** The first min(k, m) data shards withheld: every segment rebuilt. */
  readonly decodeRebuild: PhaseResult
}

/** Incompressible test bytes from AES-CTR, fast to make. */
export function pseudoRandomBytes (length: number, seed = 1): Uint8Array {
  return createCipheriv('aes-128-ctr', Buffer.alloc(16, seed), Buffer.alloc(16)).update(Buffer.alloc(length))
}

function phase (bytes: number, seconds: number, timings: StageTimings[]): PhaseResult {
  const sum = (pick: (t: StageTimings) => number): number => timings.reduce((s, t) => s + pick(t), 0) / 1000
  return {
    mbPerSecond: bytes / 1e6 / seconds,
    seconds,
    cipherSeconds: sum((t) => t.cipherMs),
    erasureSeconds: sum((t) => t.erasureMs),
    commitmentSeconds: sum((t) => t.commitmentMs)
  }
}

async function * once (data: Uint8Array): AsyncGenerator<Uint8Array> {
  // Hand the file over in 1 MiB chunks, as a file stream would.
  for (let i = 0; i < data.length; i += 2 ** 20) yield data.subarray(i, i + 2 ** 20)
}

async function decodePhase (manifest: Manifest, key: Uint8Array, shards: Map<string, Uint8Array>, withheld: number, bytes: number): Promise<PhaseResult> {
  const timings: StageTimings[] = []
  const onProgress = (e: DecodeProgressEvent): void => { if (e.type === 'decode:segment') timings.push(e.timings) }
  const started = performance.now()
  let out = 0
  const source = async ({ segmentIndex, shardIndex }: { segmentIndex: number, shardIndex: number }): Promise<Uint8Array | undefined> =>
    shardIndex < withheld ? undefined : shards.get(`${segmentIndex}:${shardIndex}`)
  for await (const part of decodeFile(manifest, key, source, { onProgress })) out += part.length
  if (out !== bytes) throw new Error(`decoded ${out} of ${bytes} bytes`)
  return phase(bytes, (performance.now() - started) / 1000, timings)
}

/** Encodes `fileBytes` of pseudo-random data, keeps the shards in memory, then decodes them twice. */
export async function measurePipeline (c: PipelineCase): Promise<PipelineResult> {
  const data = pseudoRandomBytes(c.fileBytes)
  const timings: StageTimings[] = []
  const onProgress = (e: EncodeProgressEvent): void => { timings.push(e.timings) }
  const shards = new Map<string, Uint8Array>()
  let started = performance.now()
  const encoding = encodeFile(once(data), { k: c.k, m: c.m, segmentSize: c.segmentBytes, onProgress })
  for await (const segment of encoding) {
    for (const shard of segment.shards) shards.set(`${segment.segmentIndex}:${shard.index}`, shard.bytes)
  }
  const encode = phase(c.fileBytes, (performance.now() - started) / 1000, timings)
  started = performance.now()
  const decode = await decodePhase(encoding.manifest, encoding.key, shards, 0, c.fileBytes)
  const decodeRebuild = await decodePhase(encoding.manifest, encoding.key, shards, Math.min(c.k, c.m), c.fileBytes)
  return { ...c, encode, decode, decodeRebuild }
}

/** One Markdown table row per case and phase. */
export function pipelineTable (results: readonly PipelineResult[]): string {
  const pct = (part: number, whole: number): string => `${((100 * part) / whole).toFixed(0)} %`
  const lines = [
    '| k+m | phase | MB/s | cipher | erasure | commitments | other |',
    '|---|---|---:|---:|---:|---:|---:|'
  ]
  for (const r of results) {
    for (const [name, p] of [['encode', r.encode], ['decode', r.decode], ['decode, rebuild', r.decodeRebuild]] as const) {
      const other = p.seconds - p.cipherSeconds - p.erasureSeconds - p.commitmentSeconds
      lines.push(`| ${r.k}+${r.m} | ${name} | ${p.mbPerSecond.toFixed(1)} | ${pct(p.cipherSeconds, p.seconds)} | ` +
        `${pct(p.erasureSeconds, p.seconds)} | ${pct(p.commitmentSeconds, p.seconds)} | ${pct(other, p.seconds)} |`)
    }
  }
  return lines.join('\n')
}
