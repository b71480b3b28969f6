// The prover against a real chain: anvil mining a block every 0.5 s, the market with 8-block periods
// (DEVNET_MARKET_PARAMS: a 4 s period, proofs accepted in its last 6 blocks), real provider nodes over TCP.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createServer } from 'node:http'
import type { Server } from 'node:http'
import { createPublicClient, createTestClient, createWalletClient, erc20Abi, http, keccak256 } from 'viem'
import type { Account, Address, Chain, Hex, PublicClient, Transport, WalletClient } from 'viem'
import { mnemonicToAccount } from 'viem/accounts'
import {
  ANVIL_MNEMONIC, deploy, DEVNET_MARKET_PARAMS, getDeal, getPeriodInfo, getPeriodStatus, getProvider, getWithdrawable, mintTokens,
  openDeal, startAnvil, rpcChain } from '@sherd/contracts'
import type { Anvil, Deployment, MarketClient } from '@sherd/contracts'
import { OFFER_PROTOCOL, STORE_SHARD_PROTOCOL, offerFromWire, requestOffer, requestStoreShard } from '@sherd/protocol'
import { initDataDir } from '../src/index.js'
import type { ProviderNode, ProviderNodeConfig, SherdHost } from '../src/index.js'
import { open, randomShard, removeDir, startDialer, startNode, tempDir } from './helpers.js'

const BLOCK_SECONDS = 0.5
const TOKEN = 10n ** 18n
const DEALS = 3
const SHARD_BYTES = 1024 * 1024 + 100
/** Long enough that no deal ends during the suite (80 periods ≈ 5 min). */
const DEAL_PERIODS = 80

let anvil: Anvil
let deployment: Deployment
let chain: Chain
let publicClient: PublicClient
let mc: MarketClient
let wallets: Array<WalletClient<Transport, Chain, Account>>
let dialer: SherdHost
let nodeA: ProviderNode | undefined
let nodeB: ProviderNode | undefined
let nodeC: ProviderNode | undefined
let nodeD: ProviderNode | undefined
let proxy: RpcProxy | undefined
let dirA: string
let dirB: string
let dirC: string
let dirD: string
const dealIds: bigint[] = []

const accountKey = (i: number): Hex => `0x${Buffer.from(mnemonicToAccount(ANVIL_MNEMONIC, { addressIndex: i }).getHdKey().privateKey!).toString('hex')}`
const providerA = mnemonicToAccount(ANVIL_MNEMONIC, { addressIndex: 1 }).address
const providerB = mnemonicToAccount(ANVIL_MNEMONIC, { addressIndex: 2 }).address

/**
 * A JSON-RPC relay in front of anvil that can go away and come back on the same port (the endpoint's outage),
 * and can swallow transactions: it answers eth_sendRawTransaction with the hash and never forwards it (a dropped
 * transaction).
 */
class RpcProxy {
  private server: Server | undefined
  port = 0
  dropSends = 0
  readonly dropped: Hex[] = []

  constructor (private readonly upstream: string) {}

  get url (): string { return `http://127.0.0.1:${this.port}` }

  async up (): Promise<void> {
    const server = createServer((req, res) => {
      void (async () => {
        const parts: Buffer[] = []
        for await (const part of req) parts.push(part as Buffer)
        const body = Buffer.concat(parts).toString()
        const message = JSON.parse(body) as { id: number, method: string, params: unknown[] }
        if (message.method === 'eth_sendRawTransaction' && this.dropSends > 0) {
          this.dropSends--
          const hash = keccak256(message.params[0] as Hex)
          this.dropped.push(hash)
          res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ jsonrpc: '2.0', id: message.id, result: hash }))
          return
        }
        const answer = await fetch(this.upstream, { method: 'POST', headers: { 'content-type': 'application/json' }, body })
        res.writeHead(answer.status, { 'content-type': 'application/json' }).end(await answer.text())
      })().catch(() => { res.destroy() })
    })
    await new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen(this.port, '127.0.0.1', () => { resolve() }) })
    this.port = (server.address() as { port: number }).port
    this.server = server
  }

  /** Refuses new connections and cuts the open ones. */
  async down (): Promise<void> {
    const server = this.server
    this.server = undefined
    if (server === undefined) return
    server.closeAllConnections()
    await new Promise<void>((resolve) => { server.close(() => { resolve() }) })
  }
}

async function waitFor<T> (what: string, check: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await check()
    if (value !== undefined && value !== false) return value
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

function nodeConfig (dataDir: string, extra: Partial<ProviderNodeConfig> = {}): Partial<ProviderNodeConfig> & { dataDir: string } {
  return {
    dataDir,
    pricePerMiB: '1000',
    chain: { rpcUrl: anvil.url, contractAddress: deployment.market, stake: (10_000n * TOKEN).toString() },
    prover: { pollIntervalMs: 100, retryMaxBackoffMs: 400 },
    ...extra
  }
}

async function balanceOf (address: Address): Promise<bigint> {
  return await publicClient.readContract({ address: deployment.token, abi: erc20Abi, functionName: 'balanceOf', args: [address] })
}

async function head (): Promise<bigint> {
  return await publicClient.getBlockNumber({ cacheTime: 0 })
}

beforeAll(async () => {
  anvil = await startAnvil({ accounts: 6, blockTime: BLOCK_SECONDS })
  chain = rpcChain(anvil.chainId, anvil.url, 'anvil')
  publicClient = createPublicClient({ chain, transport: http(anvil.url), pollingInterval: 50 }) as PublicClient
  wallets = [0, 1, 2, 3, 4, 5].map((i) => createWalletClient({ account: mnemonicToAccount(ANVIL_MNEMONIC, { addressIndex: i }), chain, transport: http(anvil.url) }))
  deployment = await deploy(wallets[0]!, { publicClient, params: DEVNET_MARKET_PARAMS })
  mc = { market: deployment.market, publicClient }
  for (const w of wallets.slice(1)) await mintTokens(wallets[0]!, { publicClient, token: deployment.token, to: w.account.address, amount: 1_000_000n * TOKEN })
  dirA = await tempDir()
  dirB = await tempDir()
  await initDataDir(dirA, { evmKey: accountKey(1) })
  await initDataDir(dirB, { evmKey: accountKey(2) })
  // A proves and withdraws every 2 periods; B only watches (its miss reporter is what slashes A once A is down).
  nodeA = await startNode(nodeConfig(dirA, { missReporter: false, prover: { pollIntervalMs: 100, retryMaxBackoffMs: 400, withdrawEveryPeriods: 2 } }))
  nodeB = await startNode(nodeConfig(dirB, { missReporter: { pollIntervalMs: 100 } }))
  dialer = await startDialer()
})

afterAll(async () => {
  await dialer?.stop()
  for (const n of [nodeA, nodeB, nodeC, nodeD]) await n?.stop()
  await proxy?.down()
  for (const d of [dirA, dirB, dirC, dirD]) if (d !== undefined) await removeDir(d)
  await anvil?.stop()
})

describe('prover on anvil', () => {
  it('activates deals opened from its offers, proves them every period in one batch, and withdraws the earnings', async () => {
    const node = nodeA!
    const client = wallets[3]!
    const clientMc: MarketClient = { market: deployment.market, publicClient, walletClient: client }
    const balanceBefore = await balanceOf(providerA)
    for (let i = 0; i < DEALS; i++) {
      const { bytes, root } = randomShard(SHARD_BYTES)
      const { offer: fields, signature } = await requestOffer(await open(dialer, node, OFFER_PROTOCOL), {
        root, byteLength: bytes.byteLength, periods: DEAL_PERIODS, client: client.account.address.toLowerCase() as Hex
      })
      const { dealId } = await openDeal(clientMc, { offer: offerFromWire(fields), signature: `0x${Buffer.from(signature).toString('hex')}` })
      // The client stores after opening: the prover must wait for the shard, then activate.
      await requestStoreShard(await open(dialer, node, STORE_SHARD_PROTOCOL), { root, byteLength: bytes.byteLength, dealId: dealId.toString() }, bytes)
      dealIds.push(dealId)
    }
    // A deal for a shard this node does not hold is left alone.
    const stray = randomShard(4096)
    const { offer: strayOffer, signature: straySig } = await requestOffer(await open(dialer, node, OFFER_PROTOCOL), {
      root: stray.root, byteLength: 4096, periods: 2, client: client.account.address.toLowerCase() as Hex
    })
    const { dealId: strayId } = await openDeal(clientMc, { offer: offerFromWire(strayOffer), signature: `0x${Buffer.from(straySig).toString('hex')}` })

    for (const id of dealIds) await waitFor(`deal ${id} active`, async () => (await getDeal(mc, id)).state === 'active')
    const start = (await getDeal(mc, dealIds[0]!)).startPeriod
    // Three periods proven for every deal.
    await waitFor('three periods proven', async () => {
      const deals = await Promise.all(dealIds.map(async (id) => await getDeal(mc, id)))
      return deals.every((d) => d.provenPeriods >= 3) ? deals : undefined
    }, 40_000)
    for (const id of dealIds) {
      const d = await getDeal(mc, id)
      expect(d.missedPeriods).toBe(0)
      expect(d.startPeriod).toBeLessThanOrEqual(start + 1n)
    }
    // The ledger follows the chain; a period where all deals were due was proven in one transaction.
    await waitFor('ledger caught up', () => dealIds.every((id) => (node.ledger.deal(id)?.periodsProven ?? 0) >= 3) ? true : undefined)
    const latest = BigInt(node.ledger.deal(dealIds[0]!)!.lastProven!)
    const common = latest - 1n
    const entries = await Promise.all(dealIds.map(async (id) => await node.ledger.period(id, common)))
    expect(entries.every((e) => e?.status === 'proven')).toBe(true)
    expect(new Set(entries.map((e) => e?.tx)).size).toBe(1)

    // The stray deal: never activated, never proven; once its activation deadline has passed the node expires it
    // itself (its collateral and capacity come back).
    expect(node.ledger.deal(strayId)?.periodsProven).toBe(0)
    await waitFor('the stray deal expired by its provider', async () => (await getDeal(mc, strayId)).state === 'expired')
    await waitFor('the ledger to record it', () => node.ledger.deal(strayId)?.state === 'expired' ? true : undefined)

    // Earnings are withdrawn on the schedule (every 2 periods): the provider's token balance rises.
    await waitFor('a scheduled withdrawal', async () => await balanceOf(providerA) > balanceBefore, 20_000)
    await waitFor('the withdrawal in the ledger', () => BigInt(node.ledger.meta.withdrawn) > 0n ? true : undefined)

    // /status and /metrics over HTTP.
    const status = await (await fetch(`${node.ready().httpUrl}/status`)).json() as { chain: Record<string, unknown> }
    expect(status.chain.periodsProven).toBeGreaterThanOrEqual(DEALS * 3)
    expect(status.chain.periodsMissed).toBe(0)
    expect(BigInt(status.chain.earnings as string)).toBeGreaterThan(0n)
    expect(BigInt(status.chain.withdrawn as string)).toBeGreaterThan(0n)
    expect(status.chain.dealStates).toMatchObject({ active: DEALS, expired: 1 })
    expect((status.chain.dealList as unknown[]).length).toBe(DEALS + 1)
    const metrics = await (await fetch(`${node.ready().httpUrl}/metrics`)).text()
    expect(metrics).toMatch(/sherd_proofs_submitted_total\{kind="period"\} \d+/)
    expect(metrics).toMatch(/sherd_proofs_submitted_total\{kind="activation"\} 3/)
    expect(metrics).toMatch(/sherd_proof_batch_gas_count \d+/)
    expect(metrics).toMatch(/sherd_proof_generation_seconds_count \d+/)
  }, 90_000)

  it('a node restarted mid-period keeps proving, and its ledger survives the restart', async () => {
    const before = new Map(dealIds.map((id) => [id, nodeA!.ledger.deal(id)!.periodsProven]))
    // Stop just as a period opens, before its proof window: the restarted node must prove that period.
    const period = BigInt(nodeA!.status().chain.period!) + 1n
    const { startBlock } = await getPeriodInfo(mc, period)
    await waitFor('the period to open', async () => await head() >= startBlock - 1n)
    await nodeA!.stop()
    nodeA = await startNode(nodeConfig(dirA, { missReporter: false }))
    // The ledger came back from LevelDB, not from the chain: counts at least as before, right after start.
    for (const id of dealIds) expect(nodeA.ledger.deal(id)!.periodsProven).toBeGreaterThanOrEqual(before.get(id)!)
    await waitFor(`period ${period} proven for every deal`, async () => {
      const s = await Promise.all(dealIds.map(async (id) => await getPeriodStatus(mc, id, period)))
      return s.every((x) => x === 'proven') ? true : undefined
    }, 20_000)
    await waitFor('two more periods proven', () => dealIds.every((id) => nodeA!.ledger.deal(id)!.periodsProven >= before.get(id)! + 2) ? true : undefined, 30_000)
    for (const id of dealIds) {
      expect((await getDeal(mc, id)).missedPeriods).toBe(0)
      expect(nodeA.ledger.deal(id)!.periodsMissed).toBe(0)
    }
  }, 90_000)

  it('a node stopped for more than F periods is marked missed by another node, slashed, and its deals fail', async () => {
    const stakeBefore = (await getProvider(mc, providerA)).stake
    const rewardsBefore = await getWithdrawable(mc, providerB)
    await nodeA!.stop()
    nodeA = undefined
    await waitFor('deals failed', async () => {
      const deals = await Promise.all(dealIds.map(async (id) => await getDeal(mc, id)))
      return deals.every((d) => d.state === 'failed') ? deals : undefined
    }, 60_000)
    for (const id of dealIds) {
      const d = await getDeal(mc, id)
      expect(d.missedPeriods).toBe(DEVNET_MARKET_PARAMS.maxMissedPeriods)
      expect(d.slashed).toBeGreaterThan(0n)
    }
    expect((await getProvider(mc, providerA)).stake).toBeLessThan(stakeBefore)
    expect(await getWithdrawable(mc, providerB)).toBeGreaterThan(rewardsBefore)
    expect(nodeB!.status().chain.reporterRewards).not.toBe('0')

    // Back up, A's ledger records the misses and the failures from the chain.
    nodeA = await startNode(nodeConfig(dirA, { missReporter: false }))
    await waitFor('ledger shows the failures', () => dealIds.every((id) => nodeA!.ledger.deal(id)?.state === 'failed') ? true : undefined)
    for (const id of dealIds) {
      const d = nodeA.ledger.deal(id)!
      expect(d.periodsMarked).toBe(DEVNET_MARKET_PARAMS.maxMissedPeriods)
      expect(d.periodsMissed).toBeGreaterThanOrEqual(DEVNET_MARKET_PARAMS.maxMissedPeriods)
      expect(BigInt(d.slashed)).toBeGreaterThan(0n)
    }
    expect(nodeA.status().chain.periodsMissed).toBeGreaterThanOrEqual(DEALS * DEVNET_MARKET_PARAMS.maxMissedPeriods)
  }, 90_000)
})

describe('prover and an RPC outage', () => {
  it('an RPC endpoint gone for less than a period, or a dropped proof transaction, costs no period', async () => {
    proxy = new RpcProxy(anvil.url)
    await proxy.up()
    dirC = await tempDir()
    await initDataDir(dirC, { evmKey: accountKey(4) })
    nodeC = await startNode({ ...nodeConfig(dirC, { missReporter: false, prover: { pollIntervalMs: 100, retryMaxBackoffMs: 400, txTimeoutMs: 1_000 } }), chain: { rpcUrl: proxy.url, contractAddress: deployment.market, stake: (10_000n * TOKEN).toString() } })
    const client = wallets[3]!
    const { bytes, root } = randomShard(SHARD_BYTES)
    await requestStoreShard(await open(dialer, nodeC, STORE_SHARD_PROTOCOL), { root, byteLength: bytes.byteLength }, bytes)
    const { offer, signature } = await requestOffer(await open(dialer, nodeC, OFFER_PROTOCOL), {
      root, byteLength: bytes.byteLength, periods: DEAL_PERIODS, client: client.account.address.toLowerCase() as Hex
    })
    const { dealId } = await openDeal({ market: deployment.market, publicClient, walletClient: client }, { offer: offerFromWire(offer), signature: `0x${Buffer.from(signature).toString('hex')}` })
    await waitFor('a first period proven', async () => (await getDeal(mc, dealId)).provenPeriods >= 1 ? true : undefined, 30_000)

    // The endpoint goes away as a period opens, for half a period (2 s of 4; its proofs are due in the last 3 s).
    const period = BigInt(nodeC.status().chain.period!) + 1n
    const { startBlock } = await getPeriodInfo(mc, period)
    await waitFor('the period to open', async () => await head() >= startBlock - 1n)
    await proxy.down()
    await new Promise((resolve) => setTimeout(resolve, 2_000))
    const failedSteps = nodeC.status().chain.lastError
    await proxy.up()
    expect(failedSteps).toMatch(/HTTP request failed/i)
    await waitFor(`period ${period} proven`, async () => await getPeriodStatus(mc, dealId, period) === 'proven' ? true : undefined, 20_000)
    await waitFor('the next period proven too', async () => await getPeriodStatus(mc, dealId, period + 1n) === 'proven' ? true : undefined, 20_000)
    expect((await getDeal(mc, dealId)).missedPeriods).toBe(0)
    expect(nodeC.status().chain.lastError).toBeUndefined()
    const metrics = await (await fetch(`${nodeC.ready().httpUrl}/metrics`)).text()
    expect(metrics).toMatch(/sherd_prover_errors_total\{stage="head"\} [1-9]/)

    // The next period's first proof transaction is accepted by the endpoint and never mined: sent again in time.
    const next = BigInt(nodeC.status().chain.period!) + 1n
    await waitFor('the period to open', async () => await head() >= (await getPeriodInfo(mc, next)).startBlock - 1n)
    proxy.dropSends = 1
    await waitFor(`period ${next} proven`, async () => await getPeriodStatus(mc, dealId, next) === 'proven' ? true : undefined, 20_000)
    expect(proxy.dropped).toHaveLength(1)
    await expect(publicClient.getTransactionReceipt({ hash: proxy.dropped[0]! })).rejects.toThrow(/could not be found/)
    expect((await getDeal(mc, dealId)).missedPeriods).toBe(0)
  }, 90_000)
})

describe('proof batches and the block gas limit', () => {
  it('splits a batch the chain refuses for its gas and still proves every deal in time', async () => {
    dirD = await tempDir()
    await initDataDir(dirD, { evmKey: accountKey(5) })
    // A budget far above what the chain takes: the chain's refusal, not the packer, must cut the batch.
    nodeD = await startNode(nodeConfig(dirD, { missReporter: false, prover: { pollIntervalMs: 100, retryMaxBackoffMs: 400, maxBatchGas: 10_000_000 } }))
    const client = wallets[3]!
    const ids: bigint[] = []
    for (let i = 0; i < DEALS; i++) {
      const { bytes, root } = randomShard(SHARD_BYTES)
      await requestStoreShard(await open(dialer, nodeD, STORE_SHARD_PROTOCOL), { root, byteLength: bytes.byteLength }, bytes)
      const { offer, signature } = await requestOffer(await open(dialer, nodeD, OFFER_PROTOCOL), {
        root, byteLength: bytes.byteLength, periods: DEAL_PERIODS, client: client.account.address.toLowerCase() as Hex
      })
      ids.push((await openDeal({ market: deployment.market, publicClient, walletClient: client }, { offer: offerFromWire(offer), signature: `0x${Buffer.from(signature).toString('hex')}` })).dealId)
    }
    await waitFor('every deal proven once', async () => {
      const deals = await Promise.all(ids.map(async (id) => await getDeal(mc, id)))
      return deals.every((d) => d.provenPeriods >= 1) ? true : undefined
    }, 30_000)
    const testClient = createTestClient({ chain, transport: http(anvil.url), mode: 'anvil' })
    // Three proofs of 1 MiB shards take ~680k gas in one transaction, two ~460k.
    await testClient.setBlockGasLimit({ gasLimit: 600_000n })
    try {
      const from = BigInt(nodeD.status().chain.period!) + 1n
      await waitFor('two periods proven by every deal under the low limit', async () => {
        const s = await Promise.all(ids.flatMap((id) => [from, from + 1n].map(async (p) => await getPeriodStatus(mc, id, p))))
        return s.every((x) => x === 'proven') ? true : undefined
      }, 30_000)
      await waitFor('ledger caught up', () => ids.every((id) => BigInt(nodeD!.ledger.deal(id)?.lastProven ?? '0') >= from + 1n) ? true : undefined)
      for (const p of [from, from + 1n]) {
        const entries = await Promise.all(ids.map(async (id) => await nodeD!.ledger.period(id, p)))
        expect(new Set(entries.map((e) => e?.tx)).size).toBe(2)
      }
      for (const id of ids) expect((await getDeal(mc, id)).missedPeriods).toBe(0)
      const metrics = await (await fetch(`${nodeD.ready().httpUrl}/metrics`)).text()
      expect(metrics).toMatch(/sherd_proof_batches_total\{outcome="failure"\} [1-9]/)
    } finally {
      await testClient.setBlockGasLimit({ gasLimit: 30_000_000n })
    }
  }, 90_000)
})
