// Helpers of the end-to-end tests: a devnet (real anvil, real sherd-node processes) and a real client on it.
import { randomBytes as nodeRandomBytes, createHash } from 'node:crypto'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { Level } from 'level'
import * as dagCbor from '@ipld/dag-cbor'
import { createClient, MAX_TX_CALLDATA_BYTES, MAX_TX_GAS } from '@sherd/client'
import type { ClientConfig, PutResult, SherdClient } from '@sherd/client'
import { getProofSetDeal, getProofSetPeriodStatus } from '@sherd/contracts'
import type { ProofSetDeal, ProofSetPeriodStatus } from '@sherd/contracts'
import { startDevnet } from '@sherd/devnet'
import type { Devnet, DevnetProvider, StartDevnetOptions } from '@sherd/devnet'
import { ShardStore, STORE_DIR } from '@sherd/node'
import { parseShardCid } from '@sherd/protocol'
import { waitFor } from '@sherd/test-support'
import type { Address } from 'viem'

/** The term of every test deal: longer than any test runs, so no deal ends under a test's feet. */
export const TEST_DEAL_PERIODS = 64

export interface Network {
  devnet: Devnet
  client: SherdClient
  /** Stops the client and the devnet, then checks that no process and no temp dir is left. */
  stop: () => Promise<void>
}

/** A devnet of `providers` provider processes and a started client (k, m as given) connected to all of them. */
export async function startNetwork(
  options: StartDevnetOptions & { providers: number; client?: Partial<ClientConfig> }
): Promise<Network> {
  const { client: clientOptions, ...devnetOptions } = options
  const devnet = await startDevnet({ handleSignals: false, ...devnetOptions })
  let client: SherdClient | undefined
  try {
    client = createClient({
      rpcUrl: devnet.rpcUrl,
      contract: devnet.market,
      account: devnet.client.privateKey,
      bootstrap: devnet.bootstrap,
      periods: TEST_DEAL_PERIODS,
      ...clientOptions
    })
    await client.start()
  } catch (err) {
    await devnet.stop()
    throw err
  }
  const c = client
  let stopped: Promise<void> | undefined
  return {
    devnet,
    client: c,
    stop: async () => {
      stopped ??= (async () => {
        const pids = [...devnet.providers.map((p) => p.pid), devnet.anvil.pid].filter(
          (pid): pid is number => pid !== undefined
        )
        await c.stop()
        await devnet.stop()
        const alive = pids.filter(isAlive)
        if (alive.length > 0) throw new Error(`processes left behind: ${alive.join(', ')}`)
        if (existsSync(devnet.dir)) throw new Error(`temp dir left behind: ${devnet.dir}`)
      })()
      await stopped
    }
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

export function randomBytes(size: number): Uint8Array {
  return new Uint8Array(nodeRandomBytes(size))
}

export function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex')
}

/** Reads a whole file through the client. */
export async function readAll(
  client: SherdClient,
  link: string,
  options: Parameters<SherdClient['get']>[1] = {}
): Promise<Uint8Array> {
  const parts: Uint8Array[] = []
  for await (const chunk of client.get(link, options)) parts.push(chunk)
  return Buffer.concat(parts)
}

/** One shard of a stored file: where it is, its deal and its Merkle root. */
export interface PlacedShard {
  segmentIndex: number
  shardIndex: number
  provider: DevnetProvider
  dealId: bigint
  root: Uint8Array
  byteLength: number
}

/** Every shard of `put`'s file, with the devnet provider that holds it. */
export function shardsOf(devnet: Devnet, put: Pick<PutResult, 'manifest'>): PlacedShard[] {
  return put.manifest.segments.flatMap((segment, segmentIndex) =>
    segment.shards.map((shard, shardIndex) => {
      const provider = devnet.providers.find((p) => p.peerId === shard.provider)
      if (provider === undefined || shard.deal === undefined)
        throw new Error(`shard ${segmentIndex}/${shardIndex} has no devnet provider or deal`)
      const { root, byteLength } = parseShardCid(shard.commitment)
      return { segmentIndex, shardIndex, provider, dealId: shard.deal, root, byteLength }
    })
  )
}

export async function deals(devnet: Devnet, ids: readonly bigint[]): Promise<ProofSetDeal[]> {
  const mc = devnet.marketClient()
  return await Promise.all(ids.map(async (id) => await getProofSetDeal(mc, id)))
}

/** Whether `provider` proved `period` on time (the market proves a provider's whole proof set, not a deal). */
export async function periodStatus(
  devnet: Devnet,
  provider: DevnetProvider,
  period: bigint
): Promise<ProofSetPeriodStatus> {
  return await getProofSetPeriodStatus(devnet.marketClient(), provider.chainAddress, period)
}

/** Waits until every deal in `ids` satisfies `check` (read from the chain). */
export async function waitForDeals(
  devnet: Devnet,
  ids: readonly bigint[],
  what: string,
  check: (deal: ProofSetDeal) => boolean,
  timeoutMs: number
): Promise<ProofSetDeal[]> {
  let last: ProofSetDeal[] = []
  await waitFor(
    what,
    async () => {
      last = await deals(devnet, ids)
      return last.every(check)
    },
    timeoutMs,
    500
  )
  return last
}

/** The current proving period and the block offset into it. */
export async function periodNow(devnet: Devnet): Promise<{ period: bigint; offset: bigint; block: bigint }> {
  const block = await devnet.publicClient.getBlockNumber({ cacheTime: 0 })
  const P = BigInt(devnet.params.periodBlocks)
  const since = block - devnet.genesisBlock
  return { period: since / P, offset: since % P, block }
}

/** Waits until the chain is at `offset` blocks into a period (the next time it gets there). */
export async function waitForPeriodOffset(devnet: Devnet, offset: bigint, timeoutMs = 30_000): Promise<bigint> {
  let period = 0n
  await waitFor(
    `block ${offset} of a period`,
    async () => {
      const now = await periodNow(devnet)
      period = now.period
      return now.offset === offset
    },
    timeoutMs,
    100
  )
  return period
}

/**
 * Removes a shard from a stopped provider's store through the node's own store API (as if the operator deleted it
 * to free space).
 */
export async function deleteShardOnDisk(provider: DevnetProvider, root: Uint8Array): Promise<void> {
  if (provider.state === 'running') throw new Error('stop the provider first: its LevelDB is locked while it runs')
  const store = new ShardStore({ path: join(provider.dataDir, STORE_DIR), capacityBytes: Number.MAX_SAFE_INTEGER })
  await store.start()
  try {
    await store.deleteShard(root)
  } finally {
    await store.stop()
  }
}

/**
 * Flips one byte in every stored chunk of a shard in a stopped provider's LevelDB (bit rot the provider does not
 * notice). Keys follow the store's documented layout: `s!c!<chunks>!<chunk index, 8 hex digits>`, where `chunks` is
 * the root hex, or the write id in the shard's metadata (`s!m!<root hex>`, field `chunks`) for a streamed upload.
 * Returns the number of chunks corrupted.
 */
export async function corruptShardOnDisk(provider: DevnetProvider, root: Uint8Array): Promise<number> {
  if (provider.state === 'running') throw new Error('stop the provider first: its LevelDB is locked while it runs')
  const db = new Level<string, Uint8Array>(join(provider.dataDir, STORE_DIR), { valueEncoding: 'view' })
  await db.open()
  let corrupted = 0
  try {
    const rootHex = Buffer.from(root).toString('hex')
    const meta = await db.get(`s!m!${rootHex}`)
    const prefix = `s!c!${(meta === undefined ? undefined : (dagCbor.decode(meta) as { chunks?: string }).chunks) ?? rootHex}!`
    for await (const [key, value] of db.iterator({ gte: prefix, lt: `${prefix}~` })) {
      const bad = Uint8Array.from(value)
      bad[bad.byteLength >> 1]! ^= 0xff
      await db.put(key, bad, { sync: true })
      corrupted++
    }
  } finally {
    await db.close()
  }
  return corrupted
}

/**
 * Every transaction `from` sent on the devnet since its genesis fits a real chain: calldata within 128 KiB (geth's
 * txMaxSize) and a gas limit and gas used within 2^24 (EIP-7825). Returns what it checked.
 */
export async function expectTransactionsOfBounded(
  devnet: Devnet,
  from: Address
): Promise<{ count: number; maxBytes: number; maxGas: bigint }> {
  const head = await devnet.publicClient.getBlockNumber({ cacheTime: 0 })
  let count = 0
  let maxBytes = 0
  let maxGas = 0n
  for (let n = devnet.genesisBlock; n <= head; n++) {
    const block = await devnet.publicClient.getBlock({ blockNumber: n, includeTransactions: true })
    for (const tx of block.transactions) {
      if (tx.from.toLowerCase() !== from.toLowerCase()) continue
      const receipt = await devnet.publicClient.getTransactionReceipt({ hash: tx.hash })
      const bytes = (tx.input.length - 2) / 2
      if (bytes > MAX_TX_CALLDATA_BYTES)
        throw new Error(`transaction ${tx.hash} of ${from} has ${bytes} calldata bytes, over ${MAX_TX_CALLDATA_BYTES}`)
      if (tx.gas > MAX_TX_GAS || receipt.gasUsed > MAX_TX_GAS)
        throw new Error(
          `transaction ${tx.hash} of ${from} has a gas limit of ${tx.gas} and used ${receipt.gasUsed}, over ${MAX_TX_GAS}`
        )
      count++
      if (bytes > maxBytes) maxBytes = bytes
      if (receipt.gasUsed > maxGas) maxGas = receipt.gasUsed
    }
  }
  return { count, maxBytes, maxGas }
}
