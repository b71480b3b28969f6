/**
 * The setup the prover and proving suites share: the node's LevelDB ShardStore on a temp dir, shards written
 * into it as a network stream delivers them, fresh challenge seeds, and one deal's proof built from the store
 * exactly as the node builds it, checked against the whole-tree proof the market verifies before it is timed.
 */
import { createHash } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { bytesToHex } from 'viem'
import type { Hex } from 'viem'
import { proveChallenges } from '@sherd/contracts'
import { buildDealProof as buildStoreProof, ShardStore } from '@sherd/node'
import { merkleRoot } from '@sherd/proofs'
import type { ChunkTree, MerkleTree } from '@sherd/proofs'
import { MIB } from './harness.js'

/** Shard bytes written per store call, as a network stream delivers them. */
const WRITE_BYTES = MIB

/**
 * Runs `fn` on a started ShardStore of `capacityBytes` in a fresh temp dir named after `suite`, then stops the
 * store and removes the dir, also when `fn` throws.
 */
export async function withShardStore<T>(
  suite: string,
  capacityBytes: number,
  fn: (store: ShardStore) => Promise<T>
): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), `sherd-bench-${suite}-`))
  const store = new ShardStore({ path: join(dir, 'store'), capacityBytes })
  try {
    await store.start()
    return await fn(store)
  } finally {
    // A store that fails to close must not hide the suite's own error, nor leave the temp dir behind.
    await store.stop().catch(() => {})
    await rm(dir, { recursive: true, force: true })
  }
}

/** Stores `data` as one shard and gives its root. */
export async function storeShard(store: ShardStore, data: Uint8Array): Promise<Uint8Array> {
  const root = merkleRoot(data)
  const writer = await store.beginShard({ root, byteLength: data.length })
  for (let at = 0; at < data.length; at += WRITE_BYTES) await writer.write(data.subarray(at, at + WRITE_BYTES))
  await writer.commit()
  return root
}

/**
 * A fresh challenge seed per call (sha256 of `${label} ${n}`, n = 0, 1, …), so no run proves the chunks of the
 * run before, and a rerun proves the same leaves.
 */
export function seedSequence(label: string): () => Hex {
  let n = 0
  return () => bytesToHex(createHash('sha256').update(`${label} ${n++}`).digest())
}

/** One deal's proof as the node builds it (leaves re-read from the store's chunks), for `count` leaves of `seed`. */
export async function buildDealProof(
  store: ShardStore,
  root: Uint8Array,
  tree: ChunkTree | undefined,
  seed: Hex,
  count: number
): Promise<Hex> {
  const proof = await buildStoreProof(
    store,
    { root: bytesToHex(root), size: BigInt(tree?.byteLength ?? (await store.getInfo(root)).byteLength) },
    seed,
    count,
    tree
  )
  if (typeof proof !== 'string') throw new Error(`the stored shard cannot be proven: ${proof.reason}`)
  return proof
}

/**
 * Throws unless the store's proof of `seed` is, byte for byte, the proof from the whole in-memory tree `whole`
 * of the same data: a timed proof is only worth timing if the market would accept it.
 */
export async function checkDealProof(
  store: ShardStore,
  root: Uint8Array,
  tree: ChunkTree,
  whole: MerkleTree,
  seed: Hex,
  count: number
): Promise<void> {
  if ((await buildDealProof(store, root, tree, seed, count)) !== proveChallenges(whole, seed, count)) {
    throw new Error(`the store's deal proof differs from the whole-tree proof on ${tree.byteLength / MIB} MiB`)
  }
}
