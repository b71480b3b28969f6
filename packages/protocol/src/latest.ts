import * as dagCbor from '@ipld/dag-cbor'
import { ed25519 } from '@noble/curves/ed25519.js'
import { hkdf } from '@noble/hashes/hkdf.js'
import { sha256 } from '@noble/hashes/sha2.js'
import { parseManifestCid } from './cid.js'
import type { RepairKey } from './repair-key.js'
import { InvalidSignatureError } from './wire/errors.js'
import { MAX_CID_BYTES } from './wire/constants.js'
import { asMap, bytesField, exactFields, uintField } from './wire/validate.js'

/**
 * The "latest version" record of a file: which manifest CID is the newest, signed with an Ed25519 key derived from
 * the file's repair key. A repair writes a new manifest (new CID); whoever repaired (the keeper, or the owner's
 * `sherd repair`) publishes this record to providers, and a `get` with any older link of the file asks them for it
 * and follows it. Providers check the signature (they cannot forge or alter a record) and keep the highest `seq`
 * per key; they cannot tell which file a key belongs to.
 */
export interface LatestRecord {
  /** Ed25519 public key of the file's latest-record key pair (32 bytes): the record's name. */
  readonly publicKey: Uint8Array
  /** Higher wins: ms since the epoch when published (at least the previous seq + 1). */
  readonly seq: number
  /** The newest manifest CID, binary. */
  readonly cid: Uint8Array
  /** Ed25519 signature (64 bytes) over `latestSigningBytes`. */
  readonly signature: Uint8Array
}

/** HKDF `info` of the latest-record key: a third branch, off the repair key (so the keeper can publish). */
export const LATEST_KEY_INFO = 'sherd/v2/latest'
/** Domain of the signed bytes: a record signature cannot be replayed as any other Sherd signature. */
const LATEST_DOMAIN = 'sherd/latest-record/v1'
const utf8 = new TextEncoder()

/** The file's latest-record key pair: Ed25519 seed = HKDF-SHA256(ikm = repair key, info = LATEST_KEY_INFO). */
export function latestKeyPair(repairKey: RepairKey): { secretKey: Uint8Array; publicKey: Uint8Array } {
  const secretKey = hkdf(sha256, repairKey.bytes(), new Uint8Array(0), utf8.encode(LATEST_KEY_INFO), 32)
  return { secretKey, publicKey: ed25519.getPublicKey(secretKey) }
}

function signingBytes(publicKey: Uint8Array, seq: number, cid: Uint8Array): Uint8Array {
  return dagCbor.encode({ domain: LATEST_DOMAIN, publicKey, seq, cid })
}

/** Signs "the newest manifest of this file is `cid`" at `seq`. */
export function signLatestRecord(repairKey: RepairKey, seq: number, cid: Uint8Array): LatestRecord {
  if (!Number.isSafeInteger(seq) || seq < 0) throw new RangeError(`seq must be a non-negative safe integer, got ${seq}`)
  parseManifestCid(cid)
  const { secretKey, publicKey } = latestKeyPair(repairKey)
  return { publicKey, seq, cid: cid.slice(), signature: ed25519.sign(signingBytes(publicKey, seq, cid), secretKey) }
}

/** Decodes a record off the wire and checks its signature: `MalformedMessageError` or `InvalidSignatureError`. */
export function decodeLatestRecord(value: unknown, what = 'LatestRecord'): LatestRecord {
  const m = exactFields(asMap(value, what), what, ['publicKey', 'seq', 'cid', 'signature'])
  const record: LatestRecord = {
    publicKey: bytesField(m, 'publicKey', what, { exact: 32 }),
    seq: uintField(m, 'seq', what, Number.MAX_SAFE_INTEGER),
    cid: bytesField(m, 'cid', what, { max: MAX_CID_BYTES }),
    signature: bytesField(m, 'signature', what, { exact: 64 })
  }
  parseManifestCid(record.cid)
  let ok = false
  try {
    ok = ed25519.verify(record.signature, signingBytes(record.publicKey, record.seq, record.cid), record.publicKey)
  } catch {
    ok = false
  }
  if (!ok)
    throw new InvalidSignatureError(`${what}: the signature does not match its key, seq and CID; ignore this record`)
  return record
}

/** The plain object a record goes on the wire as (exactly its four fields). */
export function latestRecordToWire(r: LatestRecord): Record<string, unknown> {
  return { publicKey: r.publicKey, seq: r.seq, cid: r.cid, signature: r.signature }
}
