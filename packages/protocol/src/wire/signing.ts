import * as dagCbor from '@ipld/dag-cbor'
import { secp256k1 } from '@noble/curves/secp256k1.js'
import { keccak_256 } from '@noble/hashes/sha3.js'
import { SIGNATURE_BYTES } from './constants.js'
import { InvalidSignatureError } from './errors.js'

const encoder = new TextEncoder()

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0))
  let offset = 0
  for (const p of parts) {
    out.set(p, offset)
    offset += p.byteLength
  }
  return out
}

function toHex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')
}

function fromHex(hex: string): Uint8Array {
  const clean = hex.startsWith('0x') ? hex.slice(2) : hex
  if (!/^([0-9a-fA-F]{2})*$/.test(clean)) throw new TypeError('not a hex string')
  return Uint8Array.from(clean.match(/../g) ?? [], (h) => parseInt(h, 16))
}

/**
 * The 32-byte digest a wire signature covers: keccak256(domain tag ‖ dag-cbor(payload)). dag-cbor is canonical
 * (sorted map keys, minimal integers), so signer and verifier hash the same bytes; the tag keeps a receipt from
 * passing for an announcement.
 */
export function wireDigest(domain: string, payload: unknown): Uint8Array {
  return keccak_256(concat(encoder.encode(domain), dagCbor.encode(payload)))
}

/** EIP-191 personal-message hash of a 32-byte digest, as viem's `signMessage({ message: { raw } })` signs it. */
export function personalMessageHash(digest: Uint8Array): Uint8Array {
  return keccak_256(concat(encoder.encode(`\x19Ethereum Signed Message:\n${digest.byteLength}`), digest))
}

/** Signs a digest with an EVM private key (EIP-191); the result is r ‖ s ‖ v (v = 27 or 28), as viem produces. */
export function signDigest(privateKey: Uint8Array | `0x${string}`, digest: Uint8Array): Uint8Array {
  const key = typeof privateKey === 'string' ? fromHex(privateKey) : privateKey
  const recovered = secp256k1.sign(personalMessageHash(digest), key, { prehash: false, format: 'recovered' })
  // noble's 'recovered' format is recovery ‖ r ‖ s; Ethereum's is r ‖ s ‖ (27 + recovery).
  return concat(recovered.subarray(1, 65), Uint8Array.of(27 + (recovered[0] as number)))
}

/** The EVM address (lower-case, 0x-prefixed) that produced `signature` over `digest`. */
export function recoverSigner(digest: Uint8Array, signature: Uint8Array, expected?: string): `0x${string}` {
  return recoverHashSigner(personalMessageHash(digest), signature, expected)
}

/**
 * Signers' public keys with multiplication tables, by lower-case address, for the ones seen most recently. A client
 * checks two signatures per shard it places (receipt, offer) and every announcement, all from a few providers:
 * recovering each signer costs ~2.3 ms of CPU and ~1 MB of BigInt garbage in pure JS (noble), checking against a
 * key with a table ~0.7 ms, and the garbage was most of what a put allocated on the JS heap. A table of window 4 is
 * ~100 KB and costs ~20 ms to build (9 recoveries), so the map is bounded and least-recently-used, and a signer
 * gets a table only when it is recovered a second time: a client hearing more signers than the map holds (every
 * provider of a large network announcing) would otherwise build a table for every announcement and evict it
 * before its next use.
 */
const knownKeys = new Map<string, ReturnType<typeof secp256k1.Point.fromBytes>>()
const KNOWN_KEYS_MAX = 64
const KNOWN_KEY_WINDOW = 4
/** Signers recovered once and not yet given a table (addresses only), least recently seen first. */
const seenOnce = new Set<string>()
const SEEN_ONCE_MAX = 4096

/** Recovered `signer` as claimed: a table once it is seen twice. */
function remember(signer: string, point: ReturnType<typeof secp256k1.Point.fromBytes>): void {
  if (!seenOnce.delete(signer)) {
    if (seenOnce.size >= SEEN_ONCE_MAX) seenOnce.delete(seenOnce.values().next().value!)
    seenOnce.add(signer)
    return
  }
  if (knownKeys.size >= KNOWN_KEYS_MAX) knownKeys.delete(knownKeys.keys().next().value!)
  knownKeys.set(signer, point.precompute(KNOWN_KEY_WINDOW))
}

/** Whether `signer` (an address) has a table now (tests). */
export function hasSignerTable(signer: string): boolean {
  return knownKeys.has(signer.toLowerCase())
}

/** How many signers have tables, and how many were seen once (tests). */
export function knownSignerCounts(): { tabled: number; seenOnce: number } {
  return { tabled: knownKeys.size, seenOnce: seenOnce.size }
}

function addressOfPoint(point: ReturnType<typeof secp256k1.Point.fromBytes>): `0x${string}` {
  return `0x${toHex(keccak_256(point.toBytes(false).subarray(1)).subarray(12))}`
}

/**
 * Whether (r, s) with recovery bit `recovery` over `hash` recovers to `key`: R = (e·G + r·P) / s must be the point
 * whose x is r (so x < n: a recovery bit of 0 or 1 says so) and whose y parity is the recovery bit, exactly what
 * recovery derives R from. So the verdict is recovery's, without the square root and the untabled multiplication.
 */
function recoversTo(
  hash: Uint8Array,
  r: bigint,
  s: bigint,
  recovery: number,
  key: ReturnType<typeof secp256k1.Point.fromBytes>
): boolean {
  const { Point } = secp256k1
  const { Fn } = Point
  const e = Fn.create(BigInt(`0x${toHex(hash)}`))
  const w = Fn.inv(s)
  const R = Point.BASE.multiplyUnsafe(Fn.mul(e, w)).add(key.multiplyUnsafe(Fn.mul(r, w)))
  if (R.is0()) return false
  const { x, y } = R.toAffine()
  return x === r && Number(y & 1n) === recovery
}

/**
 * `recoverSigner` over a final 32-byte hash (e.g. an EIP-712 digest; recoverSigner adds EIP-191's prefix). Given
 * the address the message claims as `expected`, a signer whose key is known is checked against it instead of
 * recovered (same result, a third of the CPU); a signer recovered to `expected` has its key kept for next time.
 */
export function recoverHashSigner(hash: Uint8Array, signature: Uint8Array, expected?: string): `0x${string}` {
  if (signature.byteLength !== SIGNATURE_BYTES)
    throw new InvalidSignatureError(`signature must be ${SIGNATURE_BYTES} bytes, got ${signature.byteLength}`)
  const v = signature[64] as number
  const recovery = v >= 27 ? v - 27 : v
  if (recovery !== 0 && recovery !== 1) throw new InvalidSignatureError(`signature recovery byte ${v} is not 27 or 28`)
  try {
    const sig = secp256k1.Signature.fromBytes(signature.subarray(0, 64), 'compact').addRecoveryBit(recovery)
    const claimed = expected?.toLowerCase()
    const known = claimed === undefined ? undefined : knownKeys.get(claimed)
    if (known !== undefined && recoversTo(hash, sig.r, sig.s, recovery, known)) {
      // Most recently used last, so eviction takes the signer unused longest.
      knownKeys.delete(claimed!)
      knownKeys.set(claimed!, known)
      return claimed as `0x${string}`
    }
    const point = sig.recoverPublicKey(hash)
    const signer = addressOfPoint(point)
    if (signer === claimed && known === undefined) remember(signer, point)
    return signer
  } catch (err) {
    throw new InvalidSignatureError(`signature does not recover to a public key: ${(err as Error).message}`)
  }
}

/** The EVM address of a private key (lower-case, 0x-prefixed). */
export function addressOf(privateKey: Uint8Array | `0x${string}`): `0x${string}` {
  const key = typeof privateKey === 'string' ? fromHex(privateKey) : privateKey
  const publicKey = secp256k1.getPublicKey(key, false)
  return `0x${toHex(keccak_256(publicKey.subarray(1)).subarray(12))}`
}
