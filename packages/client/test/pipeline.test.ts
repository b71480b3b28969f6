import { createDecipheriv, hkdfSync, randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { Readable } from 'node:stream'
import * as dagCbor from '@ipld/dag-cbor'
import rse from '@subspace/reed-solomon-erasure.wasm'
import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'
import { describe, expect, it } from 'vitest'
import {
  decodeFile,
  encodeFile,
  EncodingNotFinishedError,
  InvalidCodeError,
  InvalidOptionError,
  NotEnoughShardsError,
  SegmentDecryptionError,
  SourceTooLongError,
  TruncatedSourceError
} from '@sherd/client'
import type {
  DecodeProgressEvent,
  EncodeFileOptions,
  EncodeProgressEvent,
  FileSource,
  ShardSource
} from '@sherd/client'
import { libraryCoder } from '@sherd/erasure'
import { LEAF_SIZE, merkleRoot } from '@sherd/proofs'
import {
  encodeManifest,
  formatLink,
  InvalidKeyError,
  InvalidManifestError,
  ManifestCidMismatchError,
  openManifest,
  parseLink,
  parseShardCid,
  sealManifest
} from '@sherd/protocol'
import type { Manifest } from '@sherd/protocol'

// Not a multiple of the leaf or of any k below, so padding and uneven splits are exercised.
const SEGMENT = 1000

interface Encoded {
  manifest: Manifest
  key: Uint8Array
  shards: Map<string, Uint8Array>
  events: EncodeProgressEvent[]
}

async function encodeAll(source: FileSource, options: EncodeFileOptions): Promise<Encoded> {
  const events: EncodeProgressEvent[] = []
  const encoding = encodeFile(source, { segmentSize: SEGMENT, ...options, onProgress: (e) => events.push(e) })
  const shards = new Map<string, Uint8Array>()
  for await (const segment of encoding) {
    for (const shard of segment.shards) shards.set(`${segment.segmentIndex}:${shard.index}`, shard.bytes.slice())
  }
  return { manifest: encoding.manifest, key: encoding.key, shards, events }
}

async function decodeAll(encoded: Encoded, source: ShardSource, events: DecodeProgressEvent[] = []): Promise<Buffer> {
  const parts: Uint8Array[] = []
  for await (const part of decodeFile(encoded.manifest, encoded.key, source, { onProgress: (e) => events.push(e) }))
    parts.push(part)
  return Buffer.concat(parts)
}

/** A source that serves the stored shards except `erased`, and counts requests. */
function storeSource(encoded: Encoded, erased: ReadonlySet<number> = new Set(), requests: string[] = []): ShardSource {
  return async ({ segmentIndex, shardIndex }) => {
    requests.push(`${segmentIndex}:${shardIndex}`)
    if (erased.has(shardIndex)) return undefined
    return encoded.shards.get(`${segmentIndex}:${shardIndex}`)
  }
}

function subsets(n: number, size: number): number[][] {
  if (size === 0) return [[]]
  const out: number[][] = []
  const rec = (start: number, acc: number[]): void => {
    if (acc.length === size) {
      out.push([...acc])
      return
    }
    for (let i = start; i < n; i++) rec(i + 1, [...acc, i])
  }
  rec(0, [])
  return out
}

function randomSubset(n: number, size: number): number[] {
  const all = Array.from({ length: n }, (_, i) => i)
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1))
    ;[all[i], all[j]] = [all[j]!, all[i]!]
  }
  return all.slice(0, size)
}

const SIZES = [0, 1, SEGMENT - 1, SEGMENT, SEGMENT + 1, 3 * SEGMENT + 517]
const CODES: Array<[number, number]> = [
  [1, 0],
  [2, 1],
  [4, 2],
  [10, 20]
]

describe('encodeFile / decodeFile round trips', () => {
  for (const [k, m] of CODES) {
    it(`k=${k} m=${m}: every size, ${k + m <= 6 ? 'every' : 'random'} subset of m erased shards`, async () => {
      for (const size of SIZES) {
        const data = randomBytes(size)
        const encoded = await encodeAll(Readable.from([data.subarray(0, 7), data.subarray(7)]), { k, m })
        const { manifest } = encoded
        expect(manifest.fileSize).toBe(size)
        expect(manifest.segments.length).toBe(Math.ceil(size / SEGMENT))
        for (const segment of manifest.segments) {
          expect(segment.shardSize % LEAF_SIZE).toBe(0)
          expect(segment.shards.length).toBe(k + m)
        }
        const erasures = k + m <= 6 ? subsets(k + m, m) : Array.from({ length: 4 }, () => randomSubset(k + m, m))
        for (const erased of erasures) {
          const out = await decodeAll(encoded, storeSource(encoded, new Set(erased)))
          expect(out.equals(data), `size ${size}, erased [${erased.join(',')}]`).toBe(true)
        }
      }
    })
  }

  it('works at the edges of k + m ≤ 256', async () => {
    for (const [k, m] of [
      [1, 255],
      [128, 128],
      [256, 0]
    ] as Array<[number, number]>) {
      const data = randomBytes(SEGMENT + 3)
      const encoded = await encodeAll(Readable.from([data]), { k, m })
      const erased = new Set(randomSubset(k + m, m))
      expect((await decodeAll(encoded, storeSource(encoded, erased))).equals(data), `k=${k} m=${m}`).toBe(true)
    }
  })

  it('asks for exactly k shards per segment when all are good, data shards first', async () => {
    const data = randomBytes(2 * SEGMENT + 5)
    const encoded = await encodeAll(Readable.from([data]), { k: 4, m: 2 })
    const requests: string[] = []
    const out = await decodeAll(encoded, storeSource(encoded, new Set(), requests))
    expect(out.equals(data)).toBe(true)
    expect(requests.sort()).toEqual([
      '0:0',
      '0:1',
      '0:2',
      '0:3',
      '1:0',
      '1:1',
      '1:2',
      '1:3',
      '2:0',
      '2:1',
      '2:2',
      '2:3'
    ])
  })

  it('reads Node Readables, web ReadableStreams and async iterables alike', async () => {
    const data = randomBytes(2500)
    const web = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < data.length; i += 333) controller.enqueue(data.subarray(i, i + 333))
        controller.close()
      }
    })
    async function* gen(): AsyncGenerator<Uint8Array> {
      for (let i = 0; i < data.length; i += 1) yield data.subarray(i, i + 1)
    }
    for (const source of [Readable.from([data]), web, gen()]) {
      const encoded = await encodeAll(source, { k: 2, m: 1 })
      expect((await decodeAll(encoded, storeSource(encoded))).equals(data)).toBe(true)
    }
  })

  it('commits each shard with its Merkle root and reports stage timings', async () => {
    const encoded = await encodeAll(Readable.from([randomBytes(2100)]), { k: 3, m: 2 })
    for (const [id, bytes] of encoded.shards) {
      const [seg, idx] = id.split(':').map(Number) as [number, number]
      const ref = parseShardCid(encoded.manifest.segments[seg]!.shards[idx]!.commitment)
      expect(Buffer.from(ref.root).equals(merkleRoot(bytes))).toBe(true)
      expect(ref.byteLength).toBe(bytes.length)
    }
    expect(encoded.events.map((e) => e.segmentIndex)).toEqual([0, 1, 2])
    expect(encoded.events.at(-1)?.encodedBytes).toBe(2100)
  })
})

describe('format, checked with node:crypto as documented in docs/data-path.md', () => {
  it('segment i is 64 KiB AES-256-GCM chunks under HKDF-SHA256(file key, key salt, "sherd/v1/segment" ‖ u64be(i)), zero-padded', async () => {
    const segmentSize = 2 * 65520 + 3
    const data = randomBytes(2 * segmentSize + 10)
    const encoded = await encodeAll(Readable.from([data]), { k: 1, m: 0, segmentSize })
    for (let i = 0; i < encoded.manifest.segments.length; i++) {
      const { size, shardSize } = encoded.manifest.segments[i]!
      const shard = encoded.shards.get(`${i}:0`)!
      const chunks = Math.ceil(size / 65520)
      expect(shard.length).toBe(shardSize)
      expect(shard.subarray(size + 16 * chunks).every((b) => b === 0)).toBe(true)
      const info = Buffer.concat([Buffer.from('sherd/v1/segment'), Buffer.alloc(8)])
      info.writeBigUInt64BE(BigInt(i), info.length - 8)
      const key = Buffer.from(hkdfSync('sha256', encoded.key, encoded.manifest.keySalt, info, 32))
      const plain: Buffer[] = []
      for (let c = 0; c < chunks; c++) {
        // Nonce: the chunk counter (u64 BE), three zero bytes, 1 on the last chunk.
        const nonce = Buffer.alloc(12)
        nonce.writeBigUInt64BE(BigInt(c))
        nonce[11] = c === chunks - 1 ? 1 : 0
        const sealed = shard.subarray(c * 65536, Math.min(size + 16 * chunks, (c + 1) * 65536))
        const decipher = createDecipheriv('aes-256-gcm', key, nonce)
        decipher.setAuthTag(sealed.subarray(sealed.length - 16))
        plain.push(decipher.update(sealed.subarray(0, sealed.length - 16)), decipher.final())
      }
      expect(Buffer.concat(plain).equals(data.subarray(i * segmentSize, i * segmentSize + size))).toBe(true)
    }
  })

  it('a sealed manifest is { v: 2, salt, ct } with ct = AES-256-GCM under HKDF-SHA256(repair key, salt, "sherd/v2/manifest")', async () => {
    const encoded = await encodeAll(Readable.from([randomBytes(1500)]), { k: 2, m: 1 })
    const sealed = await sealManifest(encoded.manifest, encoded.key)
    const envelope = dagCbor.decode<{ v: number; salt: Uint8Array; ct: Uint8Array }>(sealed.bytes)
    expect(envelope.v).toBe(2)
    // The repair key: HKDF-SHA256(file key, no salt, "sherd/v2/repair") (docs/keeper.md, the capability model).
    const repairKey = Buffer.from(hkdfSync('sha256', encoded.key, Buffer.alloc(0), 'sherd/v2/repair', 32))
    const key = Buffer.from(hkdfSync('sha256', repairKey, envelope.salt, 'sherd/v2/manifest', 32))
    const decipher = createDecipheriv('aes-256-gcm', key, Buffer.alloc(12))
    decipher.setAuthTag(envelope.ct.subarray(-16))
    const plain = Buffer.concat([decipher.update(envelope.ct.subarray(0, -16)), decipher.final()])
    expect(plain.equals(encodeManifest(encoded.manifest))).toBe(true)
    expect(sealed.cid.toString()).toBe(CID.createV1(0x71, await sha256.digest(sealed.bytes)).toString())
  })
})

describe('parity', () => {
  it('equals what reed-solomon-erasure.wasm produces directly from the same data shards', async () => {
    const require = createRequire(import.meta.url)
    const wasm = readFileSync(
      join(dirname(require.resolve('@subspace/reed-solomon-erasure.wasm')), 'reed_solomon_erasure_bg.wasm')
    )
    for (const [k, m] of [
      [2, 1],
      [4, 2],
      [10, 20],
      [29, 51]
    ] as Array<[number, number]>) {
      const encoding = encodeFile(Readable.from([randomBytes(5000)]), { k, m, segmentSize: 4096 })
      for await (const segment of encoding) {
        const size = segment.shardSize
        const stripe = new Uint8Array((k + m) * size)
        for (let i = 0; i < k; i++) stripe.set(segment.shards[i]!.bytes, i * size)
        // A fresh instance per call: the library's allocator misbehaves after repeated calls (see @sherd/erasure).
        expect(rse.ReedSolomonErasure.fromBytes(wasm).encode(stripe, k, m)).toBe(rse.ReedSolomonErasure.RESULT_OK)
        for (let i = k; i < k + m; i++) {
          expect(
            Buffer.from(segment.shards[i]!.bytes).equals(stripe.subarray(i * size, (i + 1) * size)),
            `k=${k} m=${m} shard ${i}`
          ).toBe(true)
        }
      }
    }
  })
})

describe('bad shards', () => {
  it('detects corrupted shard bytes, reports them and never decodes them into the output', async () => {
    const data = randomBytes(2 * SEGMENT + 100)
    const encoded = await encodeAll(Readable.from([data]), { k: 4, m: 2 })
    for (const corrupt of subsets(6, 2)) {
      const events: DecodeProgressEvent[] = []
      const source: ShardSource = async ({ segmentIndex, shardIndex }) => {
        const bytes = encoded.shards.get(`${segmentIndex}:${shardIndex}`)!.slice()
        if (corrupt.includes(shardIndex)) bytes[(segmentIndex * 37 + shardIndex) % bytes.length]! ^= 0x40
        return bytes
      }
      const out = await decodeAll(encoded, source, events)
      expect(out.equals(data)).toBe(true)
      const badReported = events
        .filter((e) => e.type === 'decode:shard-bad')
        .map((e) => `${e.segmentIndex}:${e.shardIndex}`)
      const dataCorrupt = corrupt.filter((i) => i < 4)
      // Parity is asked for only to replace a bad data shard, so every corrupt shard that was asked for is reported.
      expect(badReported.length).toBeGreaterThanOrEqual(3 * dataCorrupt.length)
      for (const e of events)
        if (e.type === 'decode:segment') for (const i of corrupt) expect(e.shardsUsed).not.toContain(i)
    }
  })

  it('treats truncated shards and throwing sources as bad or missing', async () => {
    const data = randomBytes(SEGMENT)
    const encoded = await encodeAll(Readable.from([data]), { k: 2, m: 2 })
    const events: DecodeProgressEvent[] = []
    const out = await decodeAll(
      encoded,
      async ({ shardIndex }) => {
        if (shardIndex === 0) return encoded.shards.get('0:0')!.subarray(1)
        if (shardIndex === 1) throw new Error('connection reset')
        return encoded.shards.get(`0:${shardIndex}`)
      },
      events
    )
    expect(out.equals(data)).toBe(true)
    expect(
      events
        .filter((e) => e.type !== 'decode:segment')
        .map((e) => e.type)
        .sort()
    ).toEqual(['decode:shard-bad', 'decode:shard-missing', 'decode:shard-verified', 'decode:shard-verified'])
  })

  it('throws NotEnoughShardsError naming the segment and the missing and bad shards', async () => {
    const encoded = await encodeAll(Readable.from([randomBytes(2 * SEGMENT)]), { k: 4, m: 2 })
    const err = await decodeAll(encoded, async ({ segmentIndex, shardIndex }) => {
      if (segmentIndex === 1 && shardIndex === 2) return undefined
      const bytes = encoded.shards.get(`${segmentIndex}:${shardIndex}`)!.slice()
      if (segmentIndex === 1 && (shardIndex === 0 || shardIndex === 5)) bytes[0]! ^= 1
      return bytes
    }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(NotEnoughShardsError)
    const e = err as NotEnoughShardsError
    expect(e.name).toBe('NotEnoughShardsError')
    expect([e.segmentIndex, e.missing, e.bad]).toEqual([1, [2], [0, 5]])
    expect(e.message).toContain('segment 1')
  })
})

describe('typed errors', () => {
  it('refuses bad codes and options at once', () => {
    for (const [k, m] of [
      [0, 1],
      [1, -1],
      [200, 57],
      [1.5, 0],
      [257, 0]
    ] as Array<[number, number]>) {
      expect(() => encodeFile(Readable.from([]), { k, m })).toThrow(InvalidCodeError)
    }
    expect(() => encodeFile(Readable.from([]), { k: 1, m: 255 })).not.toThrow()
    expect(() => encodeFile(Readable.from([]), { segmentSize: 0 })).toThrow(InvalidOptionError)
    expect(() => encodeFile(Readable.from([]), { segmentSize: 2 ** 31 })).toThrow(InvalidOptionError)
    expect(() => encodeFile(Readable.from([]), { key: new Uint8Array(31) })).toThrow(InvalidKeyError)
    expect(() => encodeFile('text' as unknown as FileSource)).toThrow(InvalidOptionError)
  })

  it('reports a truncated or overlong source against expectedSize, and string chunks', async () => {
    await expect(encodeAll(Readable.from([randomBytes(1500)]), { expectedSize: 2000 })).rejects.toThrow(
      TruncatedSourceError
    )
    await expect(encodeAll(Readable.from([randomBytes(1500)]), { expectedSize: 1200 })).rejects.toThrow(
      SourceTooLongError
    )
    await expect(encodeAll(Readable.from([randomBytes(1500)]), { expectedSize: 1500 })).resolves.toBeDefined()
    await expect(encodeAll(Readable.from(['text']), {})).rejects.toThrow(InvalidOptionError)
  })

  it('gives the manifest only after the last segment, and iterates once', async () => {
    const encoding = encodeFile(Readable.from([randomBytes(1500)]), { segmentSize: SEGMENT })
    expect(() => encoding.manifest).toThrow(EncodingNotFinishedError)
    const iterator = encoding[Symbol.asyncIterator]()
    await iterator.next()
    expect(encoding.done).toBe(false)
    expect(() => encoding[Symbol.asyncIterator]()).toThrow(/only once/)
  })

  it('a wrong key is SegmentDecryptionError; a tampered manifest is caught by its CID, its tag or its checks', async () => {
    const data = randomBytes(1500)
    const encoded = await encodeAll(Readable.from([data]), { k: 2, m: 1 })
    await expect(decodeAll({ ...encoded, key: randomBytes(32) }, storeSource(encoded))).rejects.toThrow(
      SegmentDecryptionError
    )

    const sealed = await sealManifest(encoded.manifest, encoded.key)
    const link = formatLink(sealed.cid, encoded.key)
    const { cid, key } = parseLink(link)
    const manifest = await openManifest(sealed.bytes, key, cid)
    expect((await decodeAll({ ...encoded, manifest, key }, storeSource(encoded))).equals(data)).toBe(true)
    const tampered = sealed.bytes.slice()
    tampered[40]! ^= 1
    await expect(openManifest(tampered, key, cid)).rejects.toThrow(ManifestCidMismatchError)

    // A manifest altered in memory: wrong sizes fail validation; a swapped commitment makes the shard bad.
    const resized = { ...encoded.manifest, fileSize: 1499 }
    await expect(decodeAll({ ...encoded, manifest: resized }, storeSource(encoded))).rejects.toThrow(
      InvalidManifestError
    )
    const seg0 = encoded.manifest.segments[0]!
    const swapped = {
      ...encoded.manifest,
      segments: [
        { ...seg0, shards: [seg0.shards[1]!, seg0.shards[0]!, seg0.shards[2]!] },
        ...encoded.manifest.segments.slice(1)
      ]
    }
    const err = await decodeAll({ ...encoded, manifest: swapped }, storeSource(encoded)).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(NotEnoughShardsError)
    expect((err as NotEnoughShardsError).bad).toEqual([0, 1])
  })

  it('stops on abort', async () => {
    const controller = new AbortController()
    const encoding = encodeFile(Readable.from([randomBytes(5000)]), { segmentSize: SEGMENT, signal: controller.signal })
    let seen = 0
    const run = (async () => {
      for await (const _ of encoding) {
        if (++seen === 2) controller.abort()
      }
    })()
    await expect(run).rejects.toThrow(/abort/i)
    expect(seen).toBe(2)
  })
})

describe('abort', () => {
  it('stops a decode and tells the shard source', async () => {
    const encoded = await encodeAll(Readable.from([randomBytes(3 * SEGMENT)]), { k: 2, m: 1 })
    const controller = new AbortController()
    const signals: AbortSignal[] = []
    const run = (async () => {
      for await (const _ of decodeFile(
        encoded.manifest,
        encoded.key,
        async (request) => {
          signals.push(request.signal)
          if (request.segmentIndex === 1) controller.abort()
          return encoded.shards.get(`${request.segmentIndex}:${request.shardIndex}`)
        },
        { signal: controller.signal }
      )) {
        /* consume */
      }
    })()
    await expect(run).rejects.toThrow(/abort/i)
    expect(signals.at(-1)?.aborted).toBe(true)
  })

  it('fetches prefetchSegments ahead and aborts those fetches when the consumer stops early', async () => {
    const encoded = await encodeAll(Readable.from([randomBytes(4 * SEGMENT)]), { k: 2, m: 1 })
    for (const prefetch of [0, 1, 2]) {
      const asked: Array<{ segmentIndex: number; signal: AbortSignal }> = []
      const source: ShardSource = async (request) => {
        asked.push(request)
        return encoded.shards.get(`${request.segmentIndex}:${request.shardIndex}`)
      }
      const decoding = decodeFile(encoded.manifest, encoded.key, source, { prefetchSegments: prefetch })
      await decoding.next()
      expect(Math.max(...asked.map((r) => r.segmentIndex))).toBe(prefetch)
      await decoding.return()
      expect(asked.every((r) => r.signal.aborted)).toBe(true)
    }
    await expect(
      decodeFile(encoded.manifest, encoded.key, storeSource(encoded), { prefetchSegments: -1 }).next()
    ).rejects.toThrow(InvalidOptionError)
  })

  it('cancels a web stream it stops reading', async () => {
    let cancelled = false
    const web = new ReadableStream<Uint8Array>({
      pull(controller) {
        controller.enqueue(randomBytes(500))
      },
      cancel() {
        cancelled = true
      }
    })
    const controller = new AbortController()
    const run = (async () => {
      for await (const _ of encodeFile(web, { segmentSize: SEGMENT, signal: controller.signal })) controller.abort()
    })()
    await expect(run).rejects.toThrow(/abort/i)
    expect(cancelled).toBe(true)
  })
})

describe('coder option', () => {
  it('takes any ErasureCoder: shards from the library coder decode with the default one and back', async () => {
    const data = randomBytes(3000)
    const viaLibrary = await encodeAll(Readable.from([data]), { k: 3, m: 3, coder: libraryCoder() })
    expect((await decodeAll(viaLibrary, storeSource(viaLibrary, new Set([0, 1, 2])))).equals(data)).toBe(true)
    const viaDefault = await encodeAll(Readable.from([data]), { k: 3, m: 3 })
    const parts: Uint8Array[] = []
    for await (const part of decodeFile(
      viaDefault.manifest,
      viaDefault.key,
      storeSource(viaDefault, new Set([0, 2, 4])),
      { coder: libraryCoder() }
    ))
      parts.push(part)
    expect(Buffer.concat(parts).equals(data)).toBe(true)
  })
})
