import { join } from 'node:path'
import { PassThrough } from 'node:stream'
import { Level } from 'level'
import * as dagCbor from '@ipld/dag-cbor'
import type { Account, Chain, Hex, PublicClient, Transport, WalletClient } from 'viem'
import { PROOF_SET_DEFAULT_PARAMS } from '@sherd/contracts'
import type { Anvil, ProofSetDeployment } from '@sherd/contracts'
import { anvilKey, deployTestMarket, removeDir, startTestChain, tempDir, TOKEN } from '@sherd/test-support'
import { createProviderNode, initDataDir, STORE_DIR } from '@sherd/node'
import type { ProviderNode } from '@sherd/node'
import { main } from '../src/cli.js'

/** A provider of the test network: a real @sherd/node on 127.0.0.1 with a temp LevelDB, registered on anvil. */
export interface TestProvider {
  node: ProviderNode
  dataDir: string
  port: number
  price: string
  /** Stake registered, base units. */
  stake: bigint
  running: boolean
}

export interface TestNetwork {
  anvil: Anvil
  deployment: ProofSetDeployment
  /** Blocks per proving period of the market. */
  periodBlocks: number
  /** Mines `blocks` empty blocks (automine anvil moves only with transactions). */
  mine: (blocks: number) => Promise<void>
  publicClient: PublicClient
  deployer: WalletClient<Transport, Chain, Account>
  providers: TestProvider[]
  /** Private key of the funded client account. */
  clientKey: Hex
  bootstrap: () => string[]
  stopProvider: (p: TestProvider) => Promise<void>
  /** Starts the provider again on the same data dir and port (same peer id and address). */
  restartProvider: (p: TestProvider) => Promise<void>
  byPeerId: (peerId: string) => TestProvider
  close: () => Promise<void>
}

const CAPACITY_BYTES = 256 * 1024 * 1024

/**
 * How far the providers' shard collectors see the clock ahead of the wall clock. A collector keeps a shard for
 * its grace time (2 h, longer than an offer lives) after the last offer it signed on it; a test that wants an
 * ended deal's shard collected moves this clock instead of waiting.
 */
export const collectorClock = { aheadMs: 0 }

async function startProvider(
  dataDir: string,
  listen: string,
  price: string,
  anvil: Anvil,
  market: string,
  stake: bigint
): Promise<ProviderNode> {
  const node = await createProviderNode({
    dataDir,
    listen: [listen],
    httpPort: 0,
    capacityBytes: CAPACITY_BYTES,
    pricePerMiB: price,
    stopGraceMs: 200,
    chain: { rpcUrl: anvil.url, contractAddress: market, stake: stake.toString() },
    gc: { now: () => Date.now() + collectorClock.aheadMs }
  })
  await node.start()
  return node
}

/**
 * anvil + the market (default parameters) + `count` providers (accounts 1..count; price and stake per provider,
 * base units; 1,000 tokens of stake by default) + a funded client (account count+1).
 */
export async function startNetwork(
  count: number,
  prices: (i: number) => string = () => '2',
  stakes: (i: number) => bigint = () => 1000n * TOKEN
): Promise<TestNetwork> {
  const c = await startTestChain({ accounts: count + 2 })
  const { anvil, publicClient, testClient } = c
  const deployer = c.wallets[0]!
  // 256-block periods: on automine anvil every transaction (ours, and the provers' proofs) mines a block, so the
  // devnet's 8-block periods would close faster than in-process provers on a loaded machine prove them, and deals
  // would miss or fail for reasons no test here is about.
  const deployment = await deployTestMarket(c, { params: PROOF_SET_DEFAULT_PARAMS })
  const providers: TestProvider[] = []
  for (let i = 0; i < count; i++) {
    const dataDir = await tempDir('sherd-client-test-')
    await initDataDir(dataDir, { evmKey: anvilKey(i + 1) })
    const price = prices(i)
    const stake = stakes(i)
    const node = await startProvider(dataDir, '/ip4/127.0.0.1/tcp/0', price, anvil, deployment.market, stake)
    const port = Number(node.libp2p.getMultiaddrs()[0]!.toString().split('/')[4])
    providers.push({ node, dataDir, port, price, stake, running: true })
  }
  const net: TestNetwork = {
    anvil,
    deployment,
    publicClient,
    deployer,
    providers,
    periodBlocks: deployment.params.periodBlocks,
    async mine(blocks) {
      await testClient.mine({ blocks })
    },
    clientKey: anvilKey(count + 1),
    bootstrap: () => providers.map((p) => `/ip4/127.0.0.1/tcp/${p.port}/p2p/${p.node.peerId}`),
    async stopProvider(p) {
      if (!p.running) return
      p.running = false
      await p.node.stop()
    },
    async restartProvider(p) {
      if (p.running) return
      p.node = await startProvider(
        p.dataDir,
        `/ip4/127.0.0.1/tcp/${p.port}`,
        p.price,
        anvil,
        deployment.market,
        p.stake
      )
      p.running = true
    },
    byPeerId(peerId) {
      const p = providers.find((x) => x.node.peerId === peerId)
      if (p === undefined) throw new Error(`no test provider ${peerId}`)
      return p
    },
    async close() {
      for (const p of providers) {
        if (p.running) await p.node.stop().catch(() => {})
        await removeDir(p.dataDir)
      }
      await anvil.stop()
    }
  }
  return net
}

/** Flips one byte of a stored shard in the provider's LevelDB (the provider must be stopped). */
/** Flips one byte (the 18th) of 64 KiB chunk `chunkIndex` of a stored shard, in the stopped provider's LevelDB. */
export async function corruptStoredShard(p: TestProvider, root: Uint8Array, chunkIndex = 0): Promise<void> {
  const db = new Level<string, Uint8Array>(join(p.dataDir, STORE_DIR), { keyEncoding: 'utf8', valueEncoding: 'view' })
  await db.open()
  try {
    const rootHex = Buffer.from(root).toString('hex')
    const meta = await db.get(`s!m!${rootHex}`)
    if (meta === undefined) throw new Error(`the provider holds no shard ${rootHex}`)
    // A streamed upload's chunks live under its write id (store.ts, StoredMeta.chunks).
    const chunks = (dagCbor.decode(meta) as { chunks?: string }).chunks ?? rootHex
    const key = `s!c!${chunks}!${chunkIndex.toString(16).padStart(8, '0')}`
    const chunk = await db.get(key)
    if (chunk === undefined) throw new Error(`the provider holds no chunk ${key}`)
    const altered = Uint8Array.from(chunk)
    altered[17] = altered[17]! ^ 0xff
    await db.put(key, altered, { sync: true })
  } finally {
    await db.close()
  }
}

export async function collect(chunks: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Uint8Array[] = []
  for await (const c of chunks) parts.push(c)
  return Buffer.concat(parts)
}

/** Runs the `sherd` CLI in this process against `net`, with its config, cache and journal kept in `dir`. */
export async function runCli(
  net: TestNetwork,
  dir: string,
  args: string[]
): Promise<{ code: number; stdout: string; stderr: string }> {
  const stdout = new PassThrough()
  const stderr = new PassThrough()
  let o = ''
  let e = ''
  stdout.on('data', (d: Buffer) => {
    o += d.toString()
  })
  stderr.on('data', (d: Buffer) => {
    e += d.toString()
  })
  const env = {
    XDG_CONFIG_HOME: dir,
    XDG_CACHE_HOME: dir,
    XDG_DATA_HOME: dir,
    SHERD_RPC_URL: net.anvil.url,
    SHERD_CONTRACT: net.deployment.market,
    SHERD_PRIVATE_KEY: net.clientKey,
    SHERD_BOOTSTRAP: net.bootstrap().join(','),
    PATH: process.env.PATH ?? ''
  }
  const code = await main(args, { stdout, stderr, env })
  return { code, stdout: o, stderr: e }
}
