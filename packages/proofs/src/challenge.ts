import { keccak_256 } from '@noble/hashes/sha3.js'
import { HASH_SIZE, MAX_CHALLENGES } from './constants.js'
import { checkHash } from './params.js'

/**
 * The leaves challenged for `seed`: index j = uint256(keccak256(seed ‖ uint256(j))) mod leafCount, j < count,
 * j encoded as 32 big-endian bytes: the same bytes as Solidity's `keccak256(abi.encode(seed, j))`.
 * Indices may repeat, exactly as on chain.
 */
export function challengeIndices(seed: Uint8Array, count: number, leafCount: number): number[] {
  checkHash(seed, 'seed')
  if (!Number.isSafeInteger(count) || count < 0 || count > MAX_CHALLENGES) {
    throw new RangeError(`count must be an integer in [0, ${MAX_CHALLENGES}], got ${count}`)
  }
  if (!Number.isSafeInteger(leafCount) || leafCount < 1) {
    throw new RangeError(`leafCount must be a positive safe integer, got ${leafCount}`)
  }
  const message = new Uint8Array(2 * HASH_SIZE)
  message.set(seed)
  const view = new DataView(message.buffer)
  const modulus = BigInt(leafCount)
  const out: number[] = []
  for (let j = 0; j < count; j++) {
    view.setUint32(2 * HASH_SIZE - 4, j)
    let value = 0n
    for (const byte of keccak_256(message)) value = (value << 8n) | BigInt(byte)
    out.push(Number(value % modulus))
  }
  return out
}
