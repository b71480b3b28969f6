import { randomBytes } from 'node:crypto'
import * as dagCbor from '@ipld/dag-cbor'
import { CID } from 'multiformats/cid'
import { describe, expect, it } from 'vitest'
import {
  MAX_CONTROL_FRAME_BYTES,
  MAX_SHARD_BYTES,
  WireReader,
  addressOf,
  checkSealedManifest,
  decodeAnnouncement,
  decodeFetchManifestRequest,
  decodeFetchShardRequest,
  decodeManifest,
  decodeOfferRequest,
  decodeStoreManifestRequest,
  decodeStoreShardRequest,
  encodeManifest,
  encodeVarint,
  expectResponse,
  manifestCid,
  offerToWire,
  sealManifest,
  SEGMENT_CIPHER,
  shardCid,
  shardSizeFor,
  signAnnouncement,
  signReceipt
} from '@sherd/protocol'
import type { Manifest } from '@sherd/protocol'

// A CBOR writer for the tests that can say what dag-cbor's encoder never would: floats, keys in a chosen order.
// Checked below to agree byte for byte with dag-cbor on every canonical sample, so only the mutation differs.

/** A float of the given width where the protocol wants an integer. */
class Float {
  constructor(
    readonly value: number,
    readonly width: 16 | 32 | 64
  ) {}
}
/** A map written in exactly this entry order. */
class Ordered {
  constructor(readonly entries: Array<[string, unknown]>) {}
}

function head(major: number, n: number | bigint): number[] {
  const v = BigInt(n)
  const m = major << 5
  if (v < 24n) return [m | Number(v)]
  const sizes: Array<[bigint, number, number]> = [
    [0xffn, 24, 1],
    [0xffffn, 25, 2],
    [0xffffffffn, 26, 4],
    [2n ** 64n - 1n, 27, 8]
  ]
  for (const [max, info, bytes] of sizes) {
    if (v <= max)
      return [m | info, ...Array.from({ length: bytes }, (_, i) => Number((v >> BigInt(8 * (bytes - 1 - i))) & 0xffn))]
  }
  throw new RangeError('integer too large for CBOR')
}

/** Canonical DAG-CBOR key order: by encoded length, then bytewise (for text keys: by UTF-8 length, then bytes). */
function canonicalKeys(keys: string[]): string[] {
  return [...keys].sort(
    (a, b) => Buffer.byteLength(a) - Buffer.byteLength(b) || Buffer.compare(Buffer.from(a), Buffer.from(b))
  )
}

function float16(value: number): number[] {
  // Only the values the tests write: 0, −0, 1.
  const bits = Object.is(value, -0) ? 0x8000 : value === 0 ? 0 : value === 1 ? 0x3c00 : undefined
  if (bits === undefined) throw new RangeError(`no half-float table entry for ${value}`)
  return [0xf9, bits >> 8, bits & 0xff]
}

function write(value: unknown): number[] {
  if (value instanceof Float) {
    if (value.width === 16) return float16(value.value)
    const view = new DataView(new ArrayBuffer(value.width / 8))
    if (value.width === 32) view.setFloat32(0, value.value)
    else view.setFloat64(0, value.value)
    return [value.width === 32 ? 0xfa : 0xfb, ...new Uint8Array(view.buffer)]
  }
  if (value instanceof Ordered)
    return [...head(5, value.entries.length), ...value.entries.flatMap(([k, v]) => [...write(k), ...write(v)])]
  if (CID.asCID(value) !== null) return [...dagCbor.encode(value)]
  if (value instanceof Uint8Array) return [...head(2, value.byteLength), ...value]
  if (typeof value === 'number' || typeof value === 'bigint')
    return BigInt(value) >= 0n ? head(0, value) : head(1, -1n - BigInt(value))
  if (typeof value === 'string') {
    const b = Buffer.from(value)
    return [...head(3, b.byteLength), ...b]
  }
  if (typeof value === 'boolean') return [value ? 0xf5 : 0xf4]
  if (value === null) return [0xf6]
  if (Array.isArray(value)) return [...head(4, value.length), ...value.flatMap(write)]
  const map = value as Record<string, unknown>
  return write(new Ordered(canonicalKeys(Object.keys(map)).map((k) => [k, map[k]])))
}

const cbor = (value: unknown): Uint8Array => Uint8Array.from(write(value))

type Path = Array<string | number>
const pathText = (path: Path): string =>
  path.reduce<string>((s, p) => (typeof p === 'number' ? `${s}[${p}]` : s === '' ? p : `${s}.${p}`), '')

function isMap(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array) && CID.asCID(v) === null
}

/** Every path in `value` to an integer, and to a map. */
function walk(value: unknown, path: Path = [], out = { ints: [] as Path[], maps: [] as Path[] }): typeof out {
  if (typeof value === 'number' || typeof value === 'bigint') out.ints.push(path)
  else if (Array.isArray(value)) value.forEach((v, i) => walk(v, [...path, i], out))
  else if (isMap(value)) {
    out.maps.push(path)
    for (const [k, v] of Object.entries(value)) walk(v, [...path, k], out)
  }
  return out
}

/** A copy of `value` with the node at `path` replaced by `f(node)`. */
function replace(value: unknown, path: Path, f: (node: unknown) => unknown): unknown {
  if (path.length === 0) return f(value)
  const [first, ...rest] = path
  if (Array.isArray(value)) return value.map((v, i) => (i === first ? replace(v, rest, f) : v))
  const map = value as Record<string, unknown>
  return Object.fromEntries(Object.entries(map).map(([k, v]) => [k, k === first ? replace(v, rest, f) : v]))
}

interface Case {
  name: string
  sample: unknown
  /** Decodes encoded bytes as the receiving side does; throws the typed error. */
  decode: (bytes: Uint8Array) => Promise<unknown>
  /** The error class the decode throws. */
  error: string
  /** Paths of declared sizes, each of which must be at least 1. */
  sizes: Path[]
  /** Maps whose fields the receiver checks (an unknown field in one is refused, naming it). */
  checkedMaps?: Path[]
}

async function readFrame(bytes: Uint8Array): Promise<unknown> {
  async function* source(): AsyncGenerator<Uint8Array> {
    yield Uint8Array.from([...encodeVarint(bytes.byteLength), ...bytes])
  }
  return await new WireReader(source()).readFrame(MAX_CONTROL_FRAME_BYTES)
}
const frame =
  (decoder: (value: unknown) => unknown) =>
  async (bytes: Uint8Array): Promise<unknown> =>
    decoder(await readFrame(bytes))

const key = `0x${'11'.repeat(32)}` as const
const root = new Uint8Array(randomBytes(32))
const client = `0x${'ab'.repeat(20)}`
const receipt = signReceipt(
  {
    kind: 'shard',
    subject: root,
    byteLength: 4096,
    provider: addressOf(key),
    peerId: '12D3KooWpeer',
    storedAtMs: 1_700_000_000_000
  },
  key
)
const offer = offerToWire({
  provider: addressOf(key),
  client: client as `0x${string}`,
  root: `0x${Buffer.from(root).toString('hex')}`,
  size: 4096n,
  pricePerPeriod: 10n ** 18n,
  periods: 12,
  nonce: 3n,
  expiry: 1_800_000_000n
})
const announcement = signAnnouncement(
  {
    peerId: '12D3KooWpeer',
    addrs: ['/ip4/127.0.0.1/tcp/4001', '/ip4/127.0.0.1/tcp/4002/ws'],
    chainAddress: addressOf(key),
    capacityBytes: 2 ** 40,
    freeBytes: 2 ** 39,
    pricePerMiB: '1000',
    timestampMs: 1_700_000_000_000,
    seq: 9
  },
  key
)

function sampleManifest(): Manifest {
  const k = 2
  const m = 1
  const segmentSize = 100
  const fileSize = 250
  const segments = []
  for (let offset = 0; offset < fileSize; offset += segmentSize) {
    const size = Math.min(segmentSize, fileSize - offset)
    const shardSize = shardSizeFor(size, k)
    segments.push({
      size,
      shardSize,
      shards: Array.from({ length: k + m }, (_, i) => ({
        commitment: shardCid(randomBytes(32), shardSize),
        ...(i === 0 ? { provider: '12D3KooWpeer', deal: 7n } : {})
      }))
    })
  }
  return {
    version: 2,
    fileSize,
    segmentSize,
    k,
    m,
    leafSize: 64,
    stripeChunks: 1,
    cipher: SEGMENT_CIPHER,
    keySalt: randomBytes(16),
    segments
  }
}
const manifest = dagCbor.decode(encodeManifest(sampleManifest()))
const envelope = dagCbor.decode((await sealManifest(sampleManifest(), new Uint8Array(32).fill(5))).bytes)

/** An error frame decodes to the RemoteError it stands for; anything else it throws is a refusal of the frame. */
function remoteError(value: unknown): unknown {
  try {
    expectResponse(value, 'accept')
  } catch (err) {
    if ((err as Error).name === 'RemoteError') return err
    throw err
  }
  throw new Error('an error frame was read as accept')
}

const cases: Case[] = [
  {
    name: 'StoreShardRequest',
    sample: { root, byteLength: 4096 },
    decode: frame(decodeStoreShardRequest),
    error: 'MalformedMessageError',
    sizes: [['byteLength']]
  },
  {
    name: 'StoreShardRequest without root (streamed)',
    sample: { byteLength: 4096 },
    decode: frame(decodeStoreShardRequest),
    error: 'MalformedMessageError',
    sizes: [['byteLength']]
  },
  {
    name: 'FetchShardRequest',
    sample: { root, offset: 64, length: 128 },
    decode: frame(decodeFetchShardRequest),
    error: 'MalformedMessageError',
    sizes: [['length']]
  },
  {
    name: 'StoreManifestRequest',
    sample: { cid: manifestCid(new Uint8Array(10)).bytes, byteLength: 900 },
    decode: frame(decodeStoreManifestRequest),
    error: 'MalformedMessageError',
    sizes: [['byteLength']]
  },
  {
    name: 'FetchManifestRequest',
    sample: { cid: manifestCid(new Uint8Array(10)).bytes },
    decode: frame(decodeFetchManifestRequest),
    error: 'MalformedMessageError',
    sizes: []
  },
  {
    name: 'OfferRequest',
    sample: { root, byteLength: 4096, periods: 12, client },
    decode: frame(decodeOfferRequest),
    error: 'MalformedMessageError',
    sizes: [['byteLength'], ['periods']]
  },
  {
    name: 'accept',
    sample: { status: 'accept' },
    decode: frame((v) => expectResponse(v, 'accept')),
    error: 'MalformedMessageError',
    sizes: []
  },
  {
    name: 'stored',
    sample: { status: 'stored', ...receipt },
    decode: frame((v) => expectResponse(v, 'stored')),
    error: 'MalformedMessageError',
    sizes: [['receipt', 'byteLength']],
    checkedMaps: [[], ['receipt']]
  },
  {
    name: 'ok',
    sample: { status: 'ok', byteLength: 4096, offset: 0, length: 4096 },
    decode: frame((v) => expectResponse(v, 'ok')),
    error: 'MalformedMessageError',
    sizes: [['byteLength'], ['length']]
  },
  {
    name: 'offer',
    sample: { status: 'offer', offer, signature: new Uint8Array(65).fill(1) },
    decode: frame((v) => expectResponse(v, 'offer')),
    error: 'MalformedMessageError',
    sizes: [],
    checkedMaps: [[], ['offer']]
  },
  {
    name: 'error',
    sample: { status: 'error', name: 'CapacityExceededError', message: 'full' },
    decode: frame(remoteError),
    error: 'MalformedMessageError',
    sizes: []
  },
  {
    name: 'announcements',
    sample: { status: 'announcements', announcements: [dagCbor.encode(announcement)] },
    decode: frame((v) => expectResponse(v, 'announcements')),
    error: 'MalformedMessageError',
    sizes: []
  },
  {
    name: 'SignedAnnouncement',
    sample: announcement,
    decode: async (b) => decodeAnnouncement(b),
    error: 'MalformedMessageError',
    sizes: [],
    checkedMaps: [[], ['announcement']]
  },
  {
    name: 'manifest',
    sample: manifest,
    decode: async (b) => decodeManifest(b),
    error: 'InvalidManifestError',
    sizes: [['segmentSize'], ['stripeChunks'], ['segments', 0, 'size'], ['segments', 0, 'shardSize']],
    checkedMaps: [[], ['segments', 0], ['segments', 1, 'shards', 0]]
  },
  {
    name: 'manifest envelope',
    sample: envelope,
    decode: async (b) => checkSealedManifest(b),
    error: 'InvalidManifestError',
    sizes: []
  }
]

const refusal = async (c: Case, bytes: Uint8Array): Promise<Error & { field?: string }> => {
  try {
    await c.decode(bytes)
  } catch (err) {
    return err as Error & { field?: string }
  }
  throw new Error(`${c.name}: a mutated encoding was accepted`)
}

describe('strict decoding: every wire message and the manifest, mutated', () => {
  for (const c of cases) {
    describe(c.name, () => {
      const { ints, maps } = walk(c.sample)

      it('accepts the canonical encoding, which the test writer reproduces byte for byte', async () => {
        expect(Buffer.from(cbor(c.sample)).equals(Buffer.from(dagCbor.encode(c.sample)))).toBe(true)
        await c.decode(cbor(c.sample))
      })

      if (ints.length > 0)
        it('refuses a float for any integer (1.0, −0.0, half, single and double width), naming the field', async () => {
          for (const path of ints) {
            for (const width of [16, 32, 64] as const) {
              const value = Number(getAt(c.sample, path))
              const variants = [value, ...(value === 0 ? [-0] : [])].filter((v) => width !== 16 || v === 0 || v === 1)
              for (const v of variants) {
                const err = await refusal(c, cbor(replace(c.sample, path, () => new Float(v, width))))
                expect(err.name, `${c.name} ${pathText(path)} as f${width} ${v}`).toBe(c.error)
                expect(err.field, `${c.name} ${pathText(path)} as f${width}`).toBe(pathText(path))
                expect(err.message).toMatch(/float/)
              }
            }
          }
          // 1.0 written as a half float, in the first integer field.
          const first = ints[0]!
          const err = await refusal(c, cbor(replace(c.sample, first, () => new Float(1, 16))))
          expect(err.field).toBe(pathText(first))
        })

      const reorderable = maps.filter((path) => Object.keys(getAt(c.sample, path) as object).length >= 2)
      if (reorderable.length > 0)
        it('refuses map keys out of canonical order, naming the first misplaced key', async () => {
          for (const path of reorderable) {
            const map = getAt(c.sample, path) as Record<string, unknown>
            const keys = canonicalKeys(Object.keys(map))
            const reversed = new Ordered([...keys].reverse().map((k) => [k, map[k]]))
            const err = await refusal(c, cbor(replace(c.sample, path, () => reversed)))
            expect(err.name, `${c.name} ${pathText(path)}`).toBe(c.error)
            expect(err.field).toBe(pathText([...path, [...keys].reverse()[1]!]))
            expect(err.message).toMatch(/canonical key order/)
          }
        })

      it('refuses an unknown field in every map it reads, naming it', async () => {
        for (const path of c.checkedMaps ?? [[]]) {
          const err = await refusal(c, cbor(replace(c.sample, path, (m) => ({ ...(m as object), zzzExtra: 1 }))))
          expect(err.name, `${c.name} ${pathText(path)}`).toBe(c.error)
          expect(err.message).toContain('zzzExtra')
          expect(err.field).toMatch(/zzzExtra$/)
        }
      })

      it('refuses a byte after the object, and an object cut short', async () => {
        const bytes = cbor(c.sample)
        for (const trailing of [0x00, 0xf6, 0xa0]) {
          const err = await refusal(c, Uint8Array.from([...bytes, trailing]))
          expect(err.name).toBe(c.error)
          expect(err.message).toMatch(/too many terminals|not valid DAG-CBOR/)
        }
        expect((await refusal(c, bytes.subarray(0, bytes.byteLength - 1))).name).toBe(c.error)
      })

      if (c.sizes.length > 0)
        it('refuses a size of 0, naming the field', async () => {
          for (const path of c.sizes) {
            const err = await refusal(c, cbor(replace(c.sample, path, () => 0)))
            expect(err.name, `${c.name} ${pathText(path)} = 0`).toBe(c.error)
            expect(
              pathText(path).endsWith(err.field ?? '') && (err.field ?? '') !== '',
              `${c.name}: field ${err.field} for ${pathText(path)}`
            ).toBe(true)
          }
        })

      it('refuses integers in longer encodings than needed, and indefinite lengths', async () => {
        const path = ints.find((p) => BigInt(getAt(c.sample, p) as number) < 2n ** 32n)
        if (path !== undefined) {
          // The integer with an 8-byte argument where at most 4 are needed, put where a same-sized marker was written.
          const value = BigInt(getAt(c.sample, path) as number)
          const long = [0x1b, ...Array.from({ length: 8 }, (_, i) => Number((value >> BigInt(8 * (7 - i))) & 0xffn))]
          const marker = new Float(12345.5, 64)
          const withMarker = cbor(replace(c.sample, path, () => marker))
          const at = findBytes(withMarker, Uint8Array.from(write(marker)))
          const err = await refusal(
            c,
            Uint8Array.from([...withMarker.subarray(0, at), ...long, ...withMarker.subarray(at + 9)])
          )
          expect(err.name).toBe(c.error)
          expect(err.message).toMatch(/more bytes than necessary/)
        }
        const bytes = cbor(c.sample)
        // An indefinite-length map (0xbf … 0xff) in place of the definite one.
        const map = bytes[0]! >> 5 === 5 ? bytes : undefined
        if (map !== undefined) {
          const count = map[0]! & 0x1f
          if (count < 24) {
            const err = await refusal(c, Uint8Array.from([0xbf, ...map.subarray(1), 0xff]))
            expect(err.name).toBe(c.error)
          }
        }
      })
    })
  }

  it('names the field for floats and zero sizes in in-memory values too (−0 and 1.5 are not integers)', () => {
    expect(() => decodeStoreShardRequest({ root, byteLength: -0 })).toThrow(
      expect.objectContaining({ name: 'MalformedMessageError', field: 'byteLength' })
    )
    expect(() => decodeStoreShardRequest({ root, byteLength: 1.5 })).toThrow(
      expect.objectContaining({ name: 'MalformedMessageError', field: 'byteLength' })
    )
    expect(() => decodeStoreShardRequest({ root, byteLength: MAX_SHARD_BYTES + 1 })).toThrow(
      expect.objectContaining({ name: 'MessageTooLargeError' })
    )
    expect(() => decodeStoreManifestRequest({ cid: new Uint8Array(36), byteLength: 0 })).toThrow(
      expect.objectContaining({ field: 'byteLength' })
    )
    expect(() => decodeFetchShardRequest({ root, length: 0 })).toThrow(expect.objectContaining({ field: 'length' }))
    expect(() => decodeFetchShardRequest({ root, offset: MAX_SHARD_BYTES - 10, length: 11 })).toThrow(
      expect.objectContaining({ field: 'length' })
    )
    expect(() => expectResponse({ status: 'ok', byteLength: 100, offset: 90, length: 11 }, 'ok')).toThrow(
      expect.objectContaining({ field: 'length' })
    )
    expect(() => expectResponse({ status: 'ok', byteLength: 100, offset: 100, length: 1 }, 'ok')).toThrow(
      expect.objectContaining({ field: 'offset' })
    )
    expect(() => expectResponse({ status: 'maybe' }, 'ok')).toThrow(expect.objectContaining({ field: 'status' }))
    expect(() =>
      expectResponse(
        { status: 'stored', ...receipt, receipt: { ...receipt.receipt, subject: new Uint8Array(33) } },
        'stored'
      )
    ).toThrow(expect.objectContaining({ field: 'subject' }))
    expect(() =>
      expectResponse({ status: 'offer', offer: { ...offer, size: '0' }, signature: new Uint8Array(65) }, 'offer')
    ).toThrow(expect.objectContaining({ field: 'size' }))
    expect(() =>
      expectResponse({ status: 'offer', offer: { ...offer, periods: '0' }, signature: new Uint8Array(65) }, 'offer')
    ).toThrow(expect.objectContaining({ field: 'periods' }))
    expect(() =>
      expectResponse({ status: 'offer', offer: { ...offer, nonce: '01' }, signature: new Uint8Array(65) }, 'offer')
    ).toThrow(expect.objectContaining({ field: 'nonce' }))
    const { expiry: _dropped, ...withoutExpiry } = offer
    expect(() =>
      expectResponse({ status: 'offer', offer: withoutExpiry, signature: new Uint8Array(65) }, 'offer')
    ).toThrow(expect.objectContaining({ field: 'expiry', message: expect.stringMatching(/missing/) }))
  })

  it('refuses an announcement whose free space exceeds its capacity, or with an empty address', () => {
    const over = {
      ...announcement,
      announcement: { ...announcement.announcement, freeBytes: announcement.announcement.capacityBytes + 1 }
    }
    expect(() => decodeAnnouncement(dagCbor.encode(over))).toThrow(expect.objectContaining({ field: 'freeBytes' }))
    const empty = {
      ...announcement,
      announcement: { ...announcement.announcement, addrs: ['/ip4/127.0.0.1/tcp/1', ''] }
    }
    expect(() => decodeAnnouncement(dagCbor.encode(empty))).toThrow(expect.objectContaining({ field: 'addrs[1]' }))
  })

  it('refuses invalid UTF-8 and CBOR undefined, which dag-cbor would read as something else', async () => {
    const c = cases[0]!
    // A text string 'byteLength' key replaced by invalid UTF-8 of the same length keeps the map well-formed.
    const bytes = cbor({ root, byteLength: 10, zz: 1 })
    const zz = findBytes(bytes, Uint8Array.from([0x62, 0x7a, 0x7a]))
    const badKey = Uint8Array.from([...bytes.subarray(0, zz), 0x62, 0xff, 0xfe, ...bytes.subarray(zz + 3)])
    expect((await refusal(c, badKey)).message).toMatch(/UTF-8/)
    const undef = cbor(
      new Ordered([
        ['root', root],
        ['byteLength', null]
      ])
    )
    undef[undef.byteLength - 1] = 0xf7
    expect((await refusal(c, undef)).message).toMatch(/simple value 23/)
  })
})

function getAt(value: unknown, path: Path): unknown {
  return path.reduce<unknown>((v, p) => (v as Record<string | number, unknown>)[p], value)
}

function findBytes(haystack: Uint8Array, needle: Uint8Array): number {
  const at = Buffer.from(haystack).indexOf(Buffer.from(needle))
  if (at < 0) throw new Error('marker not found')
  return at
}
