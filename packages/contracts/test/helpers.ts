import { buildTree } from '@sherd/proofs'
import type { MerkleTree } from '@sherd/proofs'
import { randomBytes } from 'node:crypto'
import { bytesToHex, createPublicClient, createTestClient, createWalletClient, defineChain, http } from 'viem'
import type { Account, Address, Chain, Hex, PublicClient, TestClient, Transport, WalletClient } from 'viem'
import { mnemonicToAccount } from 'viem/accounts'
import {
  ANVIL_MNEMONIC, deploy, DEVNET_MARKET_PARAMS, getActivationSeed, getMarketParams, mintTokens, proveChallenges,
  randomOfferNonce, signOffer, startAnvil
} from '../src/index.js'
import type { Anvil, Deployment, MarketClient, MarketParams, Offer } from '../src/index.js'

export interface Chainside {
  anvil: Anvil
  chain: Chain
  publicClient: PublicClient
  testClient: TestClient<'anvil'>
  accounts: Account[]
  wallets: Array<WalletClient<Transport, Chain, Account>>
}

const ACCOUNT_COUNT = 10

export async function startChain (): Promise<Chainside> {
  const anvil = await startAnvil({ accounts: ACCOUNT_COUNT })
  const chain = defineChain({
    id: anvil.chainId,
    name: 'anvil',
    nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 },
    rpcUrls: { default: { http: [anvil.url] } }
  })
  const transport = http(anvil.url)
  const publicClient = createPublicClient({ chain, transport, pollingInterval: 50 }) as PublicClient
  const testClient = createTestClient({ chain, transport, mode: 'anvil' })
  const accounts = Array.from({ length: ACCOUNT_COUNT }, (_, i) => mnemonicToAccount(ANVIL_MNEMONIC, { addressIndex: i }))
  const wallets = accounts.map((account) => createWalletClient({ account, chain, transport }))
  return { anvil, chain, publicClient, testClient, accounts, wallets }
}

export const TOKEN = 10n ** 18n

export interface Market extends Deployment {
  /** Market client per account (same indices as `chain.wallets`). */
  as: (index: number) => MarketClient
  params: MarketParams
}

export async function deployMarket (c: Chainside, params: Partial<MarketParams> = {}, mintTo: number[] = [1, 2, 3, 4, 5, 6, 7, 8]): Promise<Market> {
  const deployer = c.wallets[0]!
  const d = await deploy(deployer, { publicClient: c.publicClient, params: { ...DEVNET_MARKET_PARAMS, ...params } })
  for (const i of mintTo) {
    await mintTokens(deployer, { publicClient: c.publicClient, token: d.token, to: c.accounts[i]!.address, amount: 1_000_000n * TOKEN })
  }
  const as = (index: number): MarketClient => ({ market: d.market, publicClient: c.publicClient, walletClient: c.wallets[index]! })
  return { ...d, as, params: await getMarketParams(as(0)) }
}

/** Random shard bytes and their tree. */
export function randomShard (size: number): { data: Uint8Array, tree: MerkleTree, root: Hex } {
  const data = new Uint8Array(randomBytes(size))
  const tree = buildTree(data)
  return { data, tree, root: bytesToHex(tree.root) }
}

export function offerFor (provider: Address, client: Address, root: Hex, size: number, over: Partial<Offer> = {}): Offer {
  return {
    provider,
    client,
    root,
    size: BigInt(size),
    pricePerPeriod: 10n * TOKEN,
    periods: 4,
    maxPeriods: 8,
    nonce: randomOfferNonce(),
    expiry: BigInt(Math.floor(Date.now() / 1000) + 3600),
    ...over
  }
}

/** Mines blocks until the chain's next block number is `target` (no-op if already past). */
export async function mineTo (c: Chainside, target: bigint): Promise<void> {
  const n = await c.publicClient.getBlockNumber({ cacheTime: 0 })
  // The next transaction lands in block n + 1.
  if (target > n + 1n) await c.testClient.mine({ blocks: Number(target - n - 1n) })
}


export async function signedOffer (m: Market, providerIndex: number, offer: Offer): Promise<Hex> {
  return await signOffer(m.as(providerIndex).walletClient!, { market: m.market, offer })
}

/** The activation proof for `dealId` over `tree`. */
export async function activationProof (c: Chainside, m: Market, dealId: bigint, tree: MerkleTree): Promise<Hex> {
  await c.testClient.mine({ blocks: 1 })
  const seed = await getActivationSeed(m.as(0), dealId)
  return proveChallenges(tree, seed, m.params.challengeCount)
}
