// A provider whose data dir is a small tmpfs (a real file system that fills up) on ProofSetMarket: an upload that
// fills the disk mid-store is refused with a typed error, nothing of that shard can be read or counted, and the
// node goes on proving its other deal, its proofs landing on chain every period.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { execFileSync } from 'node:child_process'
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { getProofSetDeal, getProofSetPeriodStatus, openProofSetDeals, proofSetMarketAbi } from '@sherd/contracts'
import {
  FETCH_SHARD_PROTOCOL,
  OFFER_PROTOCOL,
  STORE_SHARD_PROTOCOL,
  offerFromWire,
  requestFetchShard,
  requestOffer,
  requestStoreShard
} from '@sherd/protocol'
import { anvilKey, removeDir, tempDir, TOKEN, waitFor } from '@sherd/test-support'
import { initDataDir } from '../src/index.js'
import type { ProviderNode, SherdHost } from '../src/index.js'
import { open, randomShard, startDialer, startNode } from './helpers.js'
import { startPsChain } from './proof-set-helpers.js'
import type { PsChain } from './proof-set-helpers.js'

/** Room for the keys, LevelDB's files and one small deal, not for a 32 MiB upload. */
const TMPFS_BYTES = 24 * 1024 * 1024
const PROVIDER = 1
const CLIENT = 2

let c: PsChain
let dialer: SherdHost
let node: ProviderNode | undefined
let root: string
let mountPoint: string
/** The tmpfs is mounted (and must be unmounted). */
let mounted = false

/**
 * Mounts a tmpfs of `bytes` at `dir`. Root can mount directly; without root the test cannot put its own process in
 * a new mount namespace (`unshare -rm` works only for a child process), so it fails saying how to run it.
 */
function mountTmpfs(dir: string, bytes: number): void {
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${bytes}`, 'tmpfs', dir], { stdio: 'pipe' })
    mounted = true
  } catch (err) {
    const uid = process.getuid?.()
    throw new Error(
      `cannot mount a tmpfs at ${dir} (${(err as Error).message.split('\n')[0]}; uid ${uid}): run this test as root, ` +
        'or inside `unshare -rm` (e.g. `unshare -rm npx vitest run packages/node/test/disk-full.test.ts`), where mount is allowed'
    )
  }
}

beforeAll(async () => {
  root = await tempDir()
  mountPoint = join(root, 'disk')
  await mkdir(mountPoint)
  mountTmpfs(mountPoint, TMPFS_BYTES)
  c = await startPsChain({ accounts: 3, blockTime: 0.5 })
  const dataDir = join(mountPoint, 'provider')
  await initDataDir(dataDir, { evmKey: anvilKey(PROVIDER) })
  // Capacity far above the disk: what refuses the upload is the disk itself, mid-store.
  node = await startNode({
    dataDir,
    capacityBytes: 1024 * 1024 * 1024,
    pricePerMiB: TOKEN.toString(),
    chain: { rpcUrl: c.anvil.url, contractAddress: c.market.market, stake: (1000n * TOKEN).toString() },
    prover: { pollIntervalMs: 100, retryMaxBackoffMs: 400 },
    missReporter: false
  })
  dialer = await startDialer()
}, 60_000)

afterAll(async () => {
  await dialer?.stop()
  await node?.stop()
  await c?.anvil.stop()
  if (mounted) execFileSync('umount', [mountPoint])
  if (root !== undefined) await removeDir(root)
})

describe('a disk that fills mid-store', () => {
  it('refuses that store with DiskFullError, keeps nothing of it, and the node goes on proving its other deal', async () => {
    const n = node!
    const small = randomShard(512 * 1024)
    await requestStoreShard(
      await open(dialer, n, STORE_SHARD_PROTOCOL),
      { root: small.root, byteLength: small.bytes.byteLength },
      small.bytes
    )
    const { offer, signature } = await requestOffer(await open(dialer, n, OFFER_PROTOCOL), {
      root: small.root,
      byteLength: small.bytes.byteLength,
      periods: 200,
      client: c.accounts[CLIENT]!.address
    })
    const { dealIds } = await openProofSetDeals(c.as(CLIENT), {
      offers: [{ offer: offerFromWire(offer), signature: `0x${Buffer.from(signature).toString('hex')}` }]
    })
    const start = (await getProofSetDeal(c.as(0), dealIds[0]!)).startPeriod
    const provider = c.accounts[PROVIDER]!.address
    await waitFor(
      'the deal proven',
      async () => (await getProofSetPeriodStatus(c.as(0), provider, start)) === 'proven',
      60_000
    )

    const usedBefore = n.store.usedBytes
    const shardsBefore = n.store.shards
    const big = randomShard(32 * 1024 * 1024)
    const refused = await requestStoreShard(
      await open(dialer, n, STORE_SHARD_PROTOCOL),
      { root: big.root, byteLength: big.bytes.byteLength },
      big.bytes
    ).then(
      () => undefined,
      (err: Error & { remoteName?: string }) => err
    )
    expect(refused, 'the upload must fail').toBeDefined()
    expect(refused).toMatchObject({
      remoteName: 'DiskFullError',
      message: expect.stringMatching(/disk holding the data dir is full/)
    })

    // Nothing of it: not listed, not readable, not counted, no space held for it.
    expect(await n.store.has(big.root)).toBe(false)
    await expect(
      requestFetchShard(await open(dialer, n, FETCH_SHARD_PROTOCOL), { root: big.root })
    ).rejects.toMatchObject({ remoteName: 'NotFoundError' })
    expect(n.store.usedBytes).toBe(usedBefore)
    expect(n.store.shards).toBe(shardsBefore)
    expect(n.store.pendingBytes).toBe(0)
    const roots: string[] = []
    for await (const r of n.store.listRoots()) roots.push(Buffer.from(r).toString('hex'))
    expect(roots).toEqual([Buffer.from(small.root).toString('hex')])
    const metrics = await (await fetch(`${n.ready().httpUrl}/metrics`)).text()
    expect(metrics).toMatch(/sherd_store_rejected_total\{reason="DiskFullError"\} 1/)

    // The other deal is still proven, period after period, from the same full disk.
    const after = await c.publicClient.readContract({
      address: c.market.market,
      abi: proofSetMarketAbi,
      functionName: 'currentPeriod'
    })
    await waitFor(
      'two more periods proven after the failure',
      async () => (await getProofSetPeriodStatus(c.as(0), provider, after + 2n)) === 'proven',
      90_000
    )
    for (let q = after; q <= after + 2n; q++) expect(await getProofSetPeriodStatus(c.as(0), provider, q)).toBe('proven')
    expect(
      Buffer.from((await requestFetchShard(await open(dialer, n, FETCH_SHARD_PROTOCOL), { root: small.root })).bytes)
    ).toEqual(Buffer.from(small.bytes))
  }, 240_000)
})
