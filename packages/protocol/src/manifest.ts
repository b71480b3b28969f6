import * as dagCbor from '@ipld/dag-cbor'
import { LEAF_SIZE } from '@sherd/proofs'
import { CID } from 'multiformats/cid'
import { decodeCanonical } from './canonical.js'
import { manifestBytesMatch, manifestCid, parseManifestCid, parseShardCid } from './cid.js'
import {
  InvalidKeyError,
  InvalidManifestError,
  ManifestCidMismatchError,
  ManifestDecryptionError,
  ManifestNeedsFileKeyError,
  ProtocolError
} from './errors.js'
import { deriveRepairKey, isRepairKey } from './repair-key.js'
import type { RepairKey } from './repair-key.js'

/**
 * Manifest schema version this code writes and reads. 2 records the stripe width (`stripeChunks`); version 1
 * manifests, which left it to the reader's constants, are refused (none was ever deployed).
 */
export const MANIFEST_VERSION = 2

/**
 * Envelope version written: AES-256-GCM under HKDF-SHA256(repair key, envelope salt, MANIFEST_KEY_INFO_V2), where
 * the repair key is HKDF-SHA256(file key, -, "sherd/v2/repair") (repair-key.ts). The holder of the repair key alone
 * can open and re-seal the manifest; the segment keys stay on the file key's other branch.
 */
export const SEALED_MANIFEST_VERSION = 2

/** The first envelope (still read): AES-256-GCM under HKDF-SHA256(file key, envelope salt, MANIFEST_KEY_INFO). */
export const SEALED_MANIFEST_V1 = 1

/**
 * Cipher of the segments: AES-256-GCM over 64 KiB sealed chunks, nonce from the chunk counter and a final-chunk
 * flag, one key per segment from HKDF-SHA256 (see docs/data-path.md, "Segment encryption").
 */
export const SEGMENT_CIPHER = 'aes-256-gcm-chunked/hkdf-sha256'

/** A file key is an AES-256 key's worth of secret. */
export const FILE_KEY_BYTES = 32

/** HKDF salts: 128 random bits make derived keys distinct even if a file key is ever reused. */
export const KEY_SALT_BYTES = 16

/** AES-GCM tag appended to each chunk's ciphertext (and to the sealed manifest's). */
export const GCM_TAG_BYTES = 16

/** AES-GCM nonce bytes (the manifest's is all zeros; a segment chunk's is its counter and final flag). */
export const GCM_NONCE_BYTES = 12

/**
 * Bytes of one sealed segment chunk (ciphertext ‖ tag), the last chunk of a segment excepted. 64 KiB so a sealed
 * chunk is exactly one 64 KiB chunk of the provider's chunk tree and lies inside one shard's stripe: a byte range
 * costs whole chunks of one shard, each checked by its own tag.
 */
export const SEALED_CHUNK_BYTES = 65536

/** Plaintext bytes of one full chunk: the sealed chunk less its tag. */
export const CHUNK_PLAINTEXT_BYTES = SEALED_CHUNK_BYTES - GCM_TAG_BYTES

/** HKDF `info` of the v1 manifest key; segment keys use a different label so the two can never coincide. */
export const MANIFEST_KEY_INFO = 'sherd/v1/manifest'

/** HKDF `info` of the v2 manifest key, derived from the repair key (not the file key). */
export const MANIFEST_KEY_INFO_V2 = 'sherd/v2/manifest'

/** What opens and seals a manifest: the file key (a full link) or the file's repair key (a repair capability). */
export type ManifestKey = Uint8Array | RepairKey

/**
 * Largest segment: encode and decode hold a few segments (and a stripe of (k+m)/k of one) in memory at
 * once, so a segment must stay far below the memory of a small machine.
 */
export const MAX_SEGMENT_SIZE_BYTES = 2 ** 30

/**
 * Largest sealed manifest, also the wire's bound: ~16k segments at 4+2 with every
 * shard's provider and deal filled in (~1 KiB per segment), i.e. a ~500 GiB file at 32 MiB segments.
 */
export const MAX_MANIFEST_BYTES = 16 * 2 ** 20

/** Bytes the envelope adds around the manifest ciphertext (map header, field names, salt, tag), rounded up. */
const SEAL_OVERHEAD_BYTES = 64

/** Widest stripe per shard a manifest may name, in sealed chunks (1 MiB): the writer's own cap. */
export const MAX_STRIPE_CHUNKS = 16

/**
 * Most sealed chunks a whole stripe of all k + m shards may span (16 MiB): a reader holds one or two such stripes,
 * so a manifest cannot make it allocate more. The writer stays within it (one chunk per shard at k + m = 256).
 */
export const MAX_STRIPE_TOTAL_CHUNKS = 256

/** Longest provider peer id string accepted (an Ed25519 peer id in base58 is 52 characters; RSA ones are hashed). */
export const MAX_PEER_ID_CHARS = 128

/** Deal ids are stored as CBOR unsigned integers, so they fit in 64 bits. */
export const MAX_DEAL_ID = 2n ** 64n - 1n

export interface ManifestShard {
  /** The shard's commitment as a shard CID (see `shardCid`): root and byte length. */
  readonly commitment: CID
  /** libp2p peer id (string form) of the provider holding the shard, once placed. */
  readonly provider?: string
  /** On-chain deal id for this shard, once a deal is opened. */
  readonly deal?: bigint
}

export interface ManifestSegment {
  /** Plaintext bytes in this segment: segmentSize, except the last segment, which may be shorter. */
  readonly size: number
  /** Bytes of each of this segment's k + m shards: `shardSizeFor(size, k)`. */
  readonly shardSize: number
  /** k data shards then m parity shards, in stripe order. */
  readonly shards: readonly ManifestShard[]
}

export interface Manifest {
  readonly version: typeof MANIFEST_VERSION
  readonly fileSize: number
  readonly segmentSize: number
  readonly k: number
  readonly m: number
  readonly leafSize: number
  /**
   * Sealed chunks (64 KiB each) of every shard in one full stripe, as the segments were encoded: a stripe holds
   * k × stripeChunks chunks, so a reader finds each byte without knowing the writer's stripe budget.
   */
  readonly stripeChunks: number
  readonly cipher: typeof SEGMENT_CIPHER
  /** HKDF salt for the segment keys, random per file. */
  readonly keySalt: Uint8Array
  readonly segments: readonly ManifestSegment[]
}

/** Chunks of a segment of `plaintextSize` bytes (≥ 1): ceil(size / CHUNK_PLAINTEXT_BYTES). */
export function chunkCountFor(plaintextSize: number): number {
  return Math.max(1, Math.ceil(plaintextSize / CHUNK_PLAINTEXT_BYTES))
}

/** Bytes of a sealed segment: the plaintext plus one 16-byte tag per chunk. */
export function sealedSizeFor(plaintextSize: number): number {
  return plaintextSize + GCM_TAG_BYTES * chunkCountFor(plaintextSize)
}

/**
 * Bytes of each shard of a segment of `plaintextSize` bytes: the sealed segment over k, rounded up to the leaf.
 * The stripe width does not enter: every full stripe is a multiple of the leaf wide, so only the last one rounds.
 */
export function shardSizeFor(plaintextSize: number, k: number): number {
  const perShard = Math.ceil(sealedSizeFor(plaintextSize) / k)
  return Math.ceil(perShard / LEAF_SIZE) * LEAF_SIZE
}

/** Number of segments of a file: ceil(fileSize / segmentSize); an empty file has none. */
export function segmentCount(fileSize: number, segmentSize: number): number {
  return Math.ceil(fileSize / segmentSize)
}

/** Checks a code (k, m): 1 ≤ k, 0 ≤ m, k + m ≤ 256 (Reed-Solomon over GF(2^8)). Returns a reason, or undefined. */
export function codeProblem(k: unknown, m: unknown): string | undefined {
  if (typeof k !== 'number' || !Number.isInteger(k) || k < 1) return `k = ${String(k)} must be an integer ≥ 1`
  if (typeof m !== 'number' || !Number.isInteger(m) || m < 0) return `m = ${String(m)} must be an integer ≥ 0`
  if (k + m > 256) return `k + m = ${k + m} exceeds 256, the most shards Reed-Solomon over GF(2^8) allows`
  return undefined
}

/**
 * Widest stripe per shard, in sealed chunks, a manifest of code (k, m) may name: MAX_STRIPE_CHUNKS, and a whole
 * stripe within MAX_STRIPE_TOTAL_CHUNKS (at least one chunk per shard).
 */
export function maxStripeChunks(k: number, m: number): number {
  return Math.min(MAX_STRIPE_CHUNKS, Math.max(1, Math.floor(MAX_STRIPE_TOTAL_CHUNKS / (k + m))))
}

function fail(path: string, problem: string): never {
  throw new InvalidManifestError(
    `manifest ${path} ${problem}; the manifest is corrupt or from an incompatible ` + 'version of sherd',
    { field: path }
  )
}

/** Manifests and their envelopes are canonical DAG-CBOR like the wire: one encoding per value, so one CID. */
function decodeStrict(bytes: Uint8Array, what: string): unknown {
  return decodeCanonical(bytes, (field, problem) => {
    const path = field === '' ? what : `${what}.${field}`
    throw new InvalidManifestError(`${path} ${problem}; it is corrupt or from an incompatible version of sherd`, {
      field
    })
  })
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return (
    typeof value === 'object' &&
    value !== null &&
    !Array.isArray(value) &&
    !(value instanceof Uint8Array) &&
    CID.asCID(value) === null
  )
}

function checkKeys(
  value: Record<string, unknown>,
  path: string,
  required: readonly string[],
  optional: readonly string[] = []
): void {
  // The error names the field itself, so a reader can tell which of two same-named fields is meant.
  const at = (key: string): string => (path === 'root' ? key : `${path}.${key}`)
  for (const key of required) if (!(key in value)) fail(at(key), `is missing (a required field of ${path})`)
  for (const key of Object.keys(value)) {
    if (!required.includes(key) && !optional.includes(key)) fail(at(key), `is an unknown field of ${path}`)
  }
}

function integer(value: unknown, path: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    fail(path, `is ${String(value)}, must be an integer from ${min} to ${max}`)
  }
  return value
}

function validateShard(value: unknown, path: string, shardSize: number): ManifestShard {
  if (!isRecord(value)) fail(path, 'is not a map')
  checkKeys(value, path, ['commitment'], ['provider', 'deal'])
  const link = CID.asCID(value.commitment)
  if (link === null) fail(`${path}.commitment`, 'is not a CID link')
  let ref
  try {
    ref = parseShardCid(link)
  } catch (err) {
    fail(`${path}.commitment`, `is not a shard CID (${(err as Error).message})`)
  }
  if (ref.byteLength !== shardSize)
    fail(`${path}.commitment`, `names ${ref.byteLength} bytes, but the segment's shards are ${shardSize}`)
  const shard: { commitment: CID; provider?: string; deal?: bigint } = { commitment: ref.cid }
  if (value.provider !== undefined) {
    if (typeof value.provider !== 'string' || value.provider.length < 1 || value.provider.length > MAX_PEER_ID_CHARS) {
      fail(`${path}.provider`, `must be a peer id string of 1 to ${MAX_PEER_ID_CHARS} characters`)
    }
    shard.provider = value.provider
  }
  if (value.deal !== undefined) {
    const deal = value.deal
    if (!((typeof deal === 'number' && Number.isSafeInteger(deal)) || typeof deal === 'bigint')) {
      fail(`${path}.deal`, 'must be an integer')
    }
    const big = BigInt(deal)
    if (big < 0n || big > MAX_DEAL_ID) fail(`${path}.deal`, `must be from 0 to 2^64 - 1`)
    shard.deal = big
  }
  return shard
}

/**
 * Checks every field of a manifest, with every size bounded and every derived size consistent (segment count and
 * sizes, shard sizes, shard counts, commitment lengths). Returns a normalised copy (deal ids as bigint).
 * Throws InvalidManifestError naming the first field that is wrong.
 */
export function validateManifest(value: unknown): Manifest {
  if (!isRecord(value)) fail('', 'is not a map')
  // The version first: an older manifest lacks fields, and "missing" would hide why.
  if (value.version !== MANIFEST_VERSION) {
    fail(
      'version',
      `is ${String(value.version)}, this code reads version ${MANIFEST_VERSION} only${value.version === 1 ? ' (version 1 did not record its stripe width; put the file again)' : ''}`
    )
  }
  checkKeys(value, 'root', [
    'version',
    'fileSize',
    'segmentSize',
    'k',
    'm',
    'leafSize',
    'stripeChunks',
    'cipher',
    'keySalt',
    'segments'
  ])
  const fileSize = integer(value.fileSize, 'fileSize', 0, Number.MAX_SAFE_INTEGER)
  const segmentSize = integer(value.segmentSize, 'segmentSize', 1, MAX_SEGMENT_SIZE_BYTES)
  const code = codeProblem(value.k, value.m)
  if (code !== undefined) fail('code', code)
  const k = value.k as number
  const m = value.m as number
  if (value.leafSize !== LEAF_SIZE) fail('leafSize', `is ${String(value.leafSize)}, must be ${LEAF_SIZE}`)
  const stripeChunks = integer(value.stripeChunks, 'stripeChunks', 1, maxStripeChunks(k, m))
  if (value.cipher !== SEGMENT_CIPHER) fail('cipher', `is ${JSON.stringify(value.cipher)}, must be "${SEGMENT_CIPHER}"`)
  if (!(value.keySalt instanceof Uint8Array) || value.keySalt.length !== KEY_SALT_BYTES) {
    fail('keySalt', `must be ${KEY_SALT_BYTES} bytes`)
  }
  const count = segmentCount(fileSize, segmentSize)
  if (!Array.isArray(value.segments)) fail('segments', 'is not a list')
  if (value.segments.length !== count) {
    fail(
      'segments',
      `has ${value.segments.length} entries, but ${fileSize} bytes in segments of ${segmentSize} make ${count}`
    )
  }
  const segments: ManifestSegment[] = []
  for (let i = 0; i < count; i++) {
    const path = `segments[${i}]`
    const segment: unknown = value.segments[i]
    if (!isRecord(segment)) fail(path, 'is not a map')
    checkKeys(segment, path, ['size', 'shardSize', 'shards'])
    const expectedSize = i < count - 1 ? segmentSize : fileSize - segmentSize * (count - 1)
    if (segment.size !== expectedSize) fail(`${path}.size`, `is ${String(segment.size)}, must be ${expectedSize}`)
    const expectedShard = shardSizeFor(expectedSize, k)
    if (segment.shardSize !== expectedShard) {
      fail(`${path}.shardSize`, `is ${String(segment.shardSize)}, must be ${expectedShard}`)
    }
    if (!Array.isArray(segment.shards) || segment.shards.length !== k + m)
      fail(`${path}.shards`, `must list ${k + m} shards`)
    const shards = segment.shards.map((s: unknown, j: number) =>
      validateShard(s, `${path}.shards[${j}]`, expectedShard)
    )
    segments.push({ size: expectedSize, shardSize: expectedShard, shards })
  }
  return {
    version: MANIFEST_VERSION,
    fileSize,
    segmentSize,
    k,
    m,
    leafSize: LEAF_SIZE,
    stripeChunks,
    cipher: SEGMENT_CIPHER,
    keySalt: value.keySalt.slice(),
    segments
  }
}

function toPlain(manifest: Manifest): Record<string, unknown> {
  // DAG-CBOR has no `undefined`: optional fields that are absent are left out of the map entirely.
  return {
    ...manifest,
    segments: manifest.segments.map((segment) => ({
      size: segment.size,
      shardSize: segment.shardSize,
      shards: segment.shards.map((shard) => {
        const out: Record<string, unknown> = { commitment: shard.commitment }
        if (shard.provider !== undefined) out.provider = shard.provider
        if (shard.deal !== undefined) out.deal = shard.deal
        return out
      })
    }))
  }
}

/** Validates and encodes a manifest as canonical DAG-CBOR (plaintext; `sealManifest` encrypts it). */
export function encodeManifest(manifest: Manifest): Uint8Array {
  const checked = validateManifest(toPlain(manifest))
  const bytes = dagCbor.encode(toPlain(checked))
  if (bytes.length > MAX_MANIFEST_BYTES - SEAL_OVERHEAD_BYTES) {
    throw new InvalidManifestError(
      `manifest encodes to ${bytes.length} bytes, over the ${MAX_MANIFEST_BYTES}-byte limit; ` +
        'use a larger segment size so the file has fewer segments'
    )
  }
  return bytes
}

/** Decodes plaintext manifest bytes (DAG-CBOR) and validates them; throws InvalidManifestError. */
export function decodeManifest(bytes: Uint8Array): Manifest {
  if (bytes.length > MAX_MANIFEST_BYTES) fail('', `is ${bytes.length} bytes, over the ${MAX_MANIFEST_BYTES}-byte limit`)
  return validateManifest(decodeStrict(bytes, 'manifest'))
}

/** Throws InvalidKeyError unless `key` is a 32-byte Uint8Array. */
export function checkFileKey(key: unknown): asserts key is Uint8Array {
  if (!(key instanceof Uint8Array) || key.length !== FILE_KEY_BYTES) {
    throw new InvalidKeyError(
      `a file key is ${FILE_KEY_BYTES} bytes; got ${key instanceof Uint8Array ? `${key.length} bytes` : typeof key}`
    )
  }
}

const utf8 = new TextEncoder()

/** AES-256-GCM key from HKDF-SHA256(ikm = file key, salt, info). Each derived key is used for one message only. */
export async function deriveAesKey(
  fileKey: Uint8Array,
  salt: Uint8Array,
  info: Uint8Array | string
): Promise<CryptoKey> {
  checkFileKey(fileKey)
  const ikm = await crypto.subtle.importKey('raw', fileKey as Uint8Array<ArrayBuffer>, 'HKDF', false, ['deriveKey'])
  return await crypto.subtle.deriveKey(
    {
      name: 'HKDF',
      hash: 'SHA-256',
      salt: salt as Uint8Array<ArrayBuffer>,
      info: (typeof info === 'string' ? utf8.encode(info) : info) as Uint8Array<ArrayBuffer>
    },
    ikm,
    { name: 'AES-GCM', length: 256 },
    false,
    ['encrypt', 'decrypt']
  )
}

/** A sealed manifest: the bytes providers store and serve, and the CID that names the file. */
export interface SealedManifest {
  readonly cid: CID
  readonly bytes: Uint8Array
}

/** The repair key of `key`: itself, or derived from a file key. */
async function repairKeyOf(key: ManifestKey): Promise<RepairKey> {
  return isRepairKey(key) ? key : await deriveRepairKey(key)
}

/**
 * Encrypts a manifest with the file key or the repair key (the same envelope either way). Envelope (DAG-CBOR map):
 * { v: 2, salt: 16 random bytes, ct: AES-256-GCM ciphertext ‖ tag of the DAG-CBOR manifest },
 * key = HKDF-SHA256(repair key, salt, "sherd/v2/manifest"), nonce = 0. A fresh salt per call makes a fresh key, so
 * re-sealing an updated manifest never reuses a (key, nonce). The CID is SHA-256 over the envelope bytes: it names
 * this ciphertext, not the plaintext.
 */
export async function sealManifest(manifest: Manifest, manifestKey: ManifestKey): Promise<SealedManifest> {
  const repairKey = await repairKeyOf(manifestKey)
  const plain = encodeManifest(manifest)
  const salt = crypto.getRandomValues(new Uint8Array(KEY_SALT_BYTES))
  const key = await deriveAesKey(repairKey.bytes(), salt, MANIFEST_KEY_INFO_V2)
  const ct = new Uint8Array(
    await crypto.subtle.encrypt(
      { name: 'AES-GCM', iv: new Uint8Array(GCM_NONCE_BYTES) },
      key,
      plain as Uint8Array<ArrayBuffer>
    )
  )
  const bytes = dagCbor.encode({ v: SEALED_MANIFEST_VERSION, salt, ct })
  return { cid: manifestCid(bytes), bytes }
}

/**
 * Checks the structure of sealed manifest bytes without the key (what a provider can check) and, when a CID is
 * given, that the bytes hash to it. Returns the envelope's fields.
 */
export function checkSealedManifest(
  bytes: Uint8Array,
  cid?: CID | string
): { v: 1 | 2; salt: Uint8Array; ct: Uint8Array } {
  if (!(bytes instanceof Uint8Array)) throw new TypeError('sealed manifest must be a Uint8Array')
  if (bytes.length > MAX_MANIFEST_BYTES) {
    throw new InvalidManifestError(
      `sealed manifest is ${bytes.length} bytes, over the ${MAX_MANIFEST_BYTES}-byte limit`
    )
  }
  if (cid !== undefined) {
    const expected = parseManifestCid(cid)
    if (!manifestBytesMatch(expected, bytes)) throw new ManifestCidMismatchError(expected.toString())
  }
  const env = decodeStrict(bytes, 'envelope')
  if (!isRecord(env)) fail('envelope', 'is not a map')
  checkKeys(env, 'envelope', ['v', 'salt', 'ct'])
  if (env.v !== SEALED_MANIFEST_VERSION && env.v !== SEALED_MANIFEST_V1) {
    fail('envelope.v', `is ${String(env.v)}, this code reads ${SEALED_MANIFEST_V1} and ${SEALED_MANIFEST_VERSION}`)
  }
  if (!(env.salt instanceof Uint8Array) || env.salt.length !== KEY_SALT_BYTES)
    fail('envelope.salt', `must be ${KEY_SALT_BYTES} bytes`)
  if (!(env.ct instanceof Uint8Array) || env.ct.length < GCM_TAG_BYTES)
    fail('envelope.ct', 'is too short to hold an AES-GCM tag')
  return { v: env.v, salt: env.salt, ct: env.ct }
}

/**
 * Verifies (against `cid`, when given), decrypts and validates a sealed manifest, with the file key or the repair
 * key. Throws ManifestCidMismatchError, ManifestDecryptionError (wrong key or altered bytes), InvalidManifestError,
 * InvalidKeyError, or ManifestNeedsFileKeyError (a v1 envelope, which only the file key opens, given a repair key).
 */
export async function openManifest(bytes: Uint8Array, manifestKey: ManifestKey, cid?: CID | string): Promise<Manifest> {
  if (!isRepairKey(manifestKey)) checkFileKey(manifestKey)
  const { v, salt, ct } = checkSealedManifest(bytes, cid)
  let key: CryptoKey
  if (v === SEALED_MANIFEST_V1) {
    if (isRepairKey(manifestKey)) throw new ManifestNeedsFileKeyError()
    key = await deriveAesKey(manifestKey, salt, MANIFEST_KEY_INFO)
  } else {
    key = await deriveAesKey((await repairKeyOf(manifestKey)).bytes(), salt, MANIFEST_KEY_INFO_V2)
  }
  let plain: Uint8Array
  try {
    plain = new Uint8Array(
      await crypto.subtle.decrypt(
        { name: 'AES-GCM', iv: new Uint8Array(GCM_NONCE_BYTES) },
        key,
        ct as Uint8Array<ArrayBuffer>
      )
    )
  } catch (err) {
    if (err instanceof ProtocolError) throw err
    throw new ManifestDecryptionError()
  }
  return decodeManifest(plain)
}
