import { sha256 } from '@noble/hashes/sha2.js'
import * as dagCbor from '@ipld/dag-cbor'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import * as Digest from 'multiformats/hashes/digest'
import { InvalidCidError, UnexpectedCodecError, UnexpectedHashError } from './errors.js'

/**
 * Multihash code of a shard commitment: the binary SHA-256 Merkle tree over 64-byte leaves of DESIGN.md
 * ("sherd-merkle-sha256-64"), in the multicodec private-use range 0x300000–0x3fffff. 0x40 = 64, the leaf size.
 */
export const SHERD_MERKLE_SHA256_64_CODE = 0x300040

/** Codec of a shard CID: the shard is opaque bytes. */
export const SHARD_CODEC = raw.code

/** Codec of a manifest CID: the sealed manifest envelope is DAG-CBOR. */
export const MANIFEST_CODEC = dagCbor.code

/** Multihash of a manifest CID: SHA-256 of the sealed envelope bytes. */
export const MANIFEST_HASH_CODE = 0x12

export const MERKLE_ROOT_BYTES = 32

/** Bytes of the digest of a shard CID: the 32-byte Merkle root, then the shard's byte length as a uint64 big-endian. */
export const SHARD_DIGEST_BYTES = MERKLE_ROOT_BYTES + 8

/**
 * Largest shard any manifest may name: a 1 GiB segment (MAX_SEGMENT_SIZE_BYTES) sealed at k = 1, i.e. 2^30 bytes
 * plus a 16-byte tag for each of its 16,389 chunks (262,224 bytes), rounded up to the 64-byte leaf. Bounds every
 * shard length read from a CID or the wire. (A test checks it against shardSizeFor.)
 */
export const MAX_SHARD_BYTES = 2 ** 30 + 262_272

/**
 * A shard's commitment: the root of its Merkle tree and its byte length. The length is part of the commitment
 * because the last leaf is zero-padded, so the root alone does not tell a shard from the same bytes plus zeros.
 */
export interface ShardCommitment {
  readonly root: Uint8Array
  readonly byteLength: number
}

/** A parsed shard CID: the CID itself and the commitment it carries. */
export interface ShardRef extends ShardCommitment {
  readonly cid: CID
}

function checkByteLength(byteLength: number): void {
  if (!Number.isSafeInteger(byteLength) || byteLength < 1 || byteLength > MAX_SHARD_BYTES) {
    throw new RangeError(`shard byte length ${byteLength} is out of range: need 1 to ${MAX_SHARD_BYTES}`)
  }
}

/**
 * The CID of a shard: CIDv1, codec raw, multihash SHERD_MERKLE_SHA256_64_CODE whose digest is
 * root (32 bytes) ‖ byteLength (uint64 big-endian). The CID alone is the whole commitment.
 */
export function shardCid(root: Uint8Array, byteLength: number): CID {
  if (!(root instanceof Uint8Array) || root.length !== MERKLE_ROOT_BYTES) {
    throw new TypeError(`a Merkle root is ${MERKLE_ROOT_BYTES} bytes`)
  }
  checkByteLength(byteLength)
  const digest = new Uint8Array(SHARD_DIGEST_BYTES)
  digest.set(root)
  new DataView(digest.buffer).setBigUint64(MERKLE_ROOT_BYTES, BigInt(byteLength))
  return CID.createV1(SHARD_CODEC, Digest.create(SHERD_MERKLE_SHA256_64_CODE, digest))
}

/** Accepts a CID, its string form (base32 or base58btc) or its bytes; throws InvalidCidError for anything else. */
export function toCid(input: CID | string | Uint8Array): CID {
  const asCid = CID.asCID(input)
  if (asCid !== null) return asCid
  try {
    if (typeof input === 'string') return CID.parse(input)
    if (input instanceof Uint8Array) return CID.decode(input)
  } catch (err) {
    throw new InvalidCidError(`not a CID (${(err as Error).message}); pass a CIDv1 string such as "bafk..."`, {
      cause: err
    })
  }
  throw new InvalidCidError('not a CID: pass a CID, its string form or its bytes')
}

/**
 * Parses a shard CID back into its commitment. Throws UnexpectedCodecError for a codec other than raw and
 * UnexpectedHashError for any multihash other than the Sherd Merkle tree or a digest of the wrong shape.
 */
export function parseShardCid(input: CID | string | Uint8Array): ShardRef {
  const cid = toCid(input)
  if (cid.version !== 1)
    throw new UnexpectedHashError('shard CIDs are CIDv1; a CIDv0 names a dag-pb block, not a shard')
  if (cid.code !== SHARD_CODEC) throw new UnexpectedCodecError(cid.code, SHARD_CODEC, 'shard')
  if (cid.multihash.code !== SHERD_MERKLE_SHA256_64_CODE) {
    throw new UnexpectedHashError(
      `CID uses multihash 0x${cid.multihash.code.toString(16)}; a shard CID uses ` +
        `0x${SHERD_MERKLE_SHA256_64_CODE.toString(16)} (sherd-merkle-sha256-64): a plain IPFS raw CID does not ` +
        'commit to the Merkle tree the network proves'
    )
  }
  const digest = cid.multihash.digest
  if (digest.length !== SHARD_DIGEST_BYTES) {
    throw new UnexpectedHashError(
      `shard CID digest is ${digest.length} bytes; it must be ${SHARD_DIGEST_BYTES} ` + '(32-byte root, 8-byte length)'
    )
  }
  const length = new DataView(digest.buffer, digest.byteOffset, digest.byteLength).getBigUint64(MERKLE_ROOT_BYTES)
  if (length < 1n || length > BigInt(MAX_SHARD_BYTES)) {
    throw new UnexpectedHashError(
      `shard CID names a length of ${length} bytes; shards are 1 to ${MAX_SHARD_BYTES} bytes`
    )
  }
  return { cid, root: digest.slice(0, MERKLE_ROOT_BYTES), byteLength: Number(length) }
}

/** The CID of sealed manifest bytes: CIDv1, codec dag-cbor, SHA-256 of exactly those bytes. */
export function manifestCid(sealed: Uint8Array): CID {
  return CID.createV1(MANIFEST_CODEC, Digest.create(MANIFEST_HASH_CODE, sha256(sealed)))
}

/** Checks that a CID has the shape of a manifest CID (dag-cbor, SHA-256); returns it as a CID. */
export function parseManifestCid(input: CID | string | Uint8Array): CID {
  const cid = toCid(input)
  if (cid.version !== 1) throw new UnexpectedHashError('manifest CIDs are CIDv1')
  if (cid.code === SHARD_CODEC && cid.multihash.code === SHERD_MERKLE_SHA256_64_CODE) {
    throw new UnexpectedCodecError(
      cid.code,
      MANIFEST_CODEC,
      'manifest',
      'this is a shard CID: pass the manifest CID (the part of a sherd:// link between "sherd://" and "#")'
    )
  }
  if (cid.code !== MANIFEST_CODEC) throw new UnexpectedCodecError(cid.code, MANIFEST_CODEC, 'manifest')
  if (cid.multihash.code !== MANIFEST_HASH_CODE || cid.multihash.digest.length !== 32) {
    throw new UnexpectedHashError(
      `CID uses multihash 0x${cid.multihash.code.toString(16)}; a manifest CID uses ` +
        'sha2-256 (0x12) with a 32-byte digest'
    )
  }
  return cid
}

/** True when `bytes` hash to `cid` (a manifest CID). Providers check this before storing or serving a manifest. */
export function manifestBytesMatch(cid: CID, bytes: Uint8Array): boolean {
  return manifestCid(bytes).equals(cid)
}
