// Shared setup of the ProofSetProver tests: anvil (osaka, so EIP-7825 and the calldata floor apply), the real
// ProofSetMarket, real ShardStores on temp dirs, offers signed by the provider and opened by a client.
import { erc20Abi, hexToBytes, isAddressEqual } from 'viem'
import type { Address, Hex } from 'viem'
import { expect } from 'vitest'
import {
  getProofSetPeriodStatus,
  openProofSetDeals,
  PROOF_SET_DEAL_STATES,
  proofSetMarketAbi,
  registerProofSetProvider,
  signProofSetOffer
} from '@sherd/contracts'
import type { MarketClient, ProofSetOffer, ProofSetParams, SignedProofSetOffer } from '@sherd/contracts'
import { deployTestMarket, removeDir, startTestChain, tempDir, TOKEN, waitFor } from '@sherd/test-support'
import type { TestChain, TestMarket } from '@sherd/test-support'
import { MAX_TX_CALLDATA_BYTES, MAX_TX_GAS, ProofSetProver, ShardStore } from '../src/index.js'
import type { ProofSetProverInit } from '../src/index.js'
import { randomShard } from './helpers.js'

export const PRICE = 10n * TOKEN

export interface PsChain extends TestChain {
  market: TestMarket
  as: (index: number) => MarketClient
}

/** anvil (osaka, so EIP-7825 and the calldata floor apply) with the market deployed and accounts 1.. funded. */
export async function startPsChain(
  options: { blockTime?: number; params?: Partial<ProofSetParams>; accounts?: number; gasLimit?: bigint } = {}
): Promise<PsChain> {
  const c = await startTestChain({
    accounts: options.accounts ?? 6,
    hardfork: 'osaka',
    ...(options.blockTime !== undefined ? { blockTime: options.blockTime } : {}),
    ...(options.gasLimit !== undefined ? { gasLimit: options.gasLimit } : {})
  })
  const market = await deployTestMarket(c, { ...(options.params !== undefined ? { params: options.params } : {}) })
  return { ...c, market, as: market.as }
}

/** A provider: its registration, store on a temp dir and (once started) prover. */
export class PsProvider {
  store!: ShardStore
  prover: ProofSetProver | undefined
  dir = ''

  constructor(
    readonly c: PsChain,
    readonly index: number
  ) {}

  get address(): Address {
    return this.c.accounts[this.index]!.address
  }
  get mc(): MarketClient {
    return this.c.as(this.index)
  }

  async setUp(stake = 10_000n * TOKEN): Promise<this> {
    this.dir = await tempDir()
    await this.openStore()
    await registerProofSetProvider(this.mc, { stake, peerId: `provider-${this.index}` })
    return this
  }

  async openStore(): Promise<void> {
    this.store = new ShardStore({ path: this.dir, capacityBytes: 1024 * 1024 * 1024 })
    await this.store.start()
  }

  /** Stores random shard bytes and returns its root and size. */
  async putShard(byteLength: number): Promise<{ root: Hex; size: bigint }> {
    const { bytes, root } = randomShard(byteLength)
    const w = await this.store.beginShard({ root, byteLength })
    await w.write(bytes)
    await w.commit()
    return { root: `0x${Buffer.from(root).toString('hex')}`, size: BigInt(byteLength) }
  }

  async startProver(init: ProofSetProverInit = {}): Promise<ProofSetProver> {
    this.prover = new ProofSetProver(
      { store: this.store, db: this.store.sublevel('proof-set'), mc: this.mc },
      { pollIntervalMs: 100, retryMaxBackoffMs: 500, txTimeoutMs: 10_000, ...init }
    )
    await this.prover.start()
    return this.prover
  }

  async stopProver(): Promise<void> {
    await this.prover?.stop()
    this.prover = undefined
  }

  async tearDown(): Promise<void> {
    await this.stopProver()
    await this.store?.stop()
    if (this.dir !== '') await removeDir(this.dir)
  }
}

let nonce = 1n

export function offerFor(
  c: PsChain,
  provider: number,
  client: number,
  shard: { root: Hex; size: bigint },
  over: Partial<ProofSetOffer> = {}
): ProofSetOffer {
  return {
    provider: c.accounts[provider]!.address,
    client: c.accounts[client]!.address,
    root: shard.root,
    size: shard.size,
    pricePerPeriod: PRICE,
    periods: 3,
    nonce: nonce++,
    expiry: BigInt(Math.floor(Date.now() / 1000) + 3600),
    ...over
  }
}

/** Signs each offer as its provider and opens them all in one transaction from `client`. */
export async function openDeals(c: PsChain, client: number, offers: ProofSetOffer[]) {
  const signed: SignedProofSetOffer[] = []
  for (const offer of offers) {
    const index = c.accounts.findIndex((a) => isAddressEqual(a.address, offer.provider))
    signed.push({ offer, signature: await signProofSetOffer(c.wallets[index]!, { market: c.market.market, offer }) })
  }
  return await openProofSetDeals(c.as(client), { offers: signed })
}

export async function head(c: PsChain): Promise<bigint> {
  return await c.publicClient.getBlockNumber({ cacheTime: 0 })
}

export async function currentPeriod(c: PsChain): Promise<bigint> {
  return await c.publicClient.readContract({
    address: c.market.market,
    abi: proofSetMarketAbi,
    functionName: 'currentPeriod'
  })
}

export async function balanceOf(c: PsChain, who: Address): Promise<bigint> {
  return await c.publicClient.readContract({
    address: c.market.token,
    abi: erc20Abi,
    functionName: 'balanceOf',
    args: [who]
  })
}

export async function periodStatus(c: PsChain, provider: Address, period: bigint) {
  return await getProofSetPeriodStatus(c.as(0), provider, period)
}

/** The prover's ledger holds exactly the chain's deals of `provider` as of its cursor block, with the same state. */
export async function expectLedgerMatchesChain(c: PsChain, p: PsProvider): Promise<void> {
  const ledger = p.prover!.ledger
  const h = await head(c)
  await waitFor('the ledger to reach the head', () => BigInt(ledger.meta.cursor ?? -1) >= h)
  // One synchronous copy: the ledger moves in whole batches, so this is its state at `cursor`.
  const cursor = BigInt(ledger.meta.cursor!)
  const deals = new Map(ledger.sorted().map((d) => [d.id, { ...d }]))
  const read = { address: c.market.market, abi: proofSetMarketAbi, blockNumber: cursor } as const
  const count = await c.publicClient.readContract({ ...read, functionName: 'dealCount' })
  let mine = 0
  for (let id = 1n; id <= count; id++) {
    const chain = await c.publicClient.readContract({ ...read, functionName: 'getDeal', args: [id] })
    const d = deals.get(id.toString())
    if (!isAddressEqual(chain.provider, p.address)) {
      expect(d, `deal ${id} is not ${p.address}'s`).toBeUndefined()
      continue
    }
    mine++
    expect(d, `deal ${id} in the ledger`).toBeDefined()
    expect(
      {
        root: d!.root,
        rangeStart: d!.rangeStart,
        voidFrom: d!.voidFrom,
        settled: d!.settled,
        state: d!.state,
        paidFrom: d!.paidFrom
      },
      `deal ${id}`
    ).toEqual({
      root: chain.root,
      rangeStart: chain.rangeStart.toString(),
      voidFrom: chain.voidFrom.toString(),
      settled: chain.settled,
      state: PROOF_SET_DEAL_STATES[chain.state],
      paidFrom: chain.settled ? chain.endPeriod.toString() : chain.paidFrom.toString()
    })
  }
  expect(deals.size).toBe(mine)
}

/** Every transaction `from` sent (blocks `fromBlock`..head) fits a real chain: calldata and gas limit. */
export async function expectSentTransactionsBounded(
  c: PsChain,
  from: Address,
  fromBlock = 1n
): Promise<{ count: number; maxBytes: number; maxGas: bigint }> {
  const latest = await head(c)
  let count = 0
  let maxBytes = 0
  let maxGas = 0n
  for (let n = fromBlock; n <= latest; n++) {
    const block = await c.publicClient.getBlock({ blockNumber: n, includeTransactions: true })
    for (const tx of block.transactions) {
      if (!isAddressEqual(tx.from, from)) continue
      const receipt = await c.publicClient.getTransactionReceipt({ hash: tx.hash })
      const bytes = hexToBytes(tx.input).length
      count++
      maxBytes = Math.max(maxBytes, bytes)
      if (receipt.gasUsed > maxGas) maxGas = receipt.gasUsed
      expect(bytes, `tx ${tx.hash} calldata`).toBeLessThanOrEqual(MAX_TX_CALLDATA_BYTES)
      expect(tx.gas, `tx ${tx.hash} gas limit`).toBeLessThanOrEqual(MAX_TX_GAS)
      expect(receipt.status, `tx ${tx.hash}`).toBe('success')
    }
  }
  return { count, maxBytes, maxGas }
}
