import { merkleRoot } from '@sherd/proofs'
import type { CID } from 'multiformats/cid'
import { MERKLE_ROOT_BYTES, parseShardCid } from './cid.js'
import type { ShardCommitment } from './cid.js'
import { CommitmentMismatchError, ShardLengthMismatchError } from './wire/errors.js'

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')
}

/**
 * The one check of a fetched shard: its bytes are exactly as long as the commitment says (`ShardLengthMismatchError`)
 * and hash to its Merkle root (`CommitmentMismatchError`). The commitment is a shard CID (any form `parseShardCid`
 * takes) or a `{ root, byteLength }`. The length is checked first and separately: the tree zero-pads its last leaf,
 * so the root alone does not tell a shard from the same bytes with zeros appended inside that leaf.
 */
export function verifyShard(commitment: CID | string | Uint8Array | ShardCommitment, bytes: Uint8Array): void {
  const { root, byteLength } = isCommitment(commitment) ? commitment : parseShardCid(commitment)
  if (!(root instanceof Uint8Array) || root.byteLength !== MERKLE_ROOT_BYTES) {
    throw new TypeError(`a shard commitment's root is ${MERKLE_ROOT_BYTES} bytes`)
  }
  if (bytes.byteLength !== byteLength) throw new ShardLengthMismatchError(byteLength, bytes.byteLength)
  const actual = merkleRoot(bytes)
  if (!actual.every((b, i) => b === root[i])) {
    throw new CommitmentMismatchError(
      `the shard's bytes hash to root ${hex(actual)}, not its commitment's ${hex(root)}: ` +
        'they were altered in storage or transit; fetch the shard from another provider'
    )
  }
}

function isCommitment(value: unknown): value is ShardCommitment {
  return (
    typeof value === 'object' &&
    value !== null &&
    !(value instanceof Uint8Array) &&
    'root' in value &&
    'byteLength' in value
  )
}
