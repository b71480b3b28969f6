import { buildTree } from '@sherd/proofs'
import type { MerkleTree } from '@sherd/proofs'
import { randomBytes } from 'node:crypto'
import { expect } from 'vitest'
import { bytesToHex } from 'viem'
import type { Hex } from 'viem'
import type { TestChain } from '@sherd/test-support'
import { decodeProofSetRevert } from '../src/index.js'

/** Random shard bytes and their tree. */
export function randomShard(size: number): { data: Uint8Array; tree: MerkleTree; root: Hex } {
  const data = new Uint8Array(randomBytes(size))
  const tree = buildTree(data)
  return { data, tree, root: bytesToHex(tree.root) }
}

/** Mines blocks until the chain's next block number is `target` (no-op if already past). */
export async function mineTo(c: TestChain, target: bigint): Promise<void> {
  const n = await c.publicClient.getBlockNumber({ cacheTime: 0 })
  // The next transaction lands in block n + 1.
  if (target > n + 1n) await c.testClient.mine({ blocks: Number(target - n - 1n) })
}

/** Awaits `promise`, expecting it to revert with `errorName` (and `args`, when given). */
export async function expectRevert(
  promise: Promise<unknown>,
  errorName: string,
  args?: readonly unknown[]
): Promise<void> {
  let caught: unknown
  try {
    await promise
  } catch (err) {
    caught = err
  }
  const revert = decodeProofSetRevert(caught)
  if (revert === undefined)
    throw new Error(`expected revert ${errorName}, got ${caught === undefined ? 'success' : String(caught)}`)
  expect(revert.errorName).toBe(errorName)
  if (args !== undefined) expect(revert.args).toEqual(args)
}
