import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createPublicClient, createTestClient, createWalletClient, http } from 'viem'
import type { Account, Chain, PublicClient, Transport, WalletClient } from 'viem'
import { mnemonicToAccount } from 'viem/accounts'
import { ANVIL_MNEMONIC, deploy, DEVNET_MARKET_PARAMS, getProvider, mintTokens, openDeal, startAnvil, verifyOffer, rpcChain } from '@sherd/contracts'
import type { Anvil, Deployment, MarketClient } from '@sherd/contracts'
import { OFFER_PROTOCOL, STORE_SHARD_PROTOCOL, offerFromWire, requestOffer, requestStoreShard } from '@sherd/protocol'
import { connectChain, initDataDir } from '../src/index.js'
import type { ProviderNode, SherdHost } from '../src/index.js'
import { open, randomShard, removeDir, runToEnd, startDialer, startNode, tempDir } from './helpers.js'

let anvil: Anvil
let deployment: Deployment
let chain: Chain
let publicClient: PublicClient
let wallets: Array<WalletClient<Transport, Chain, Account>>
let node: ProviderNode
let dialer: SherdHost
const providerAccount = mnemonicToAccount(ANVIL_MNEMONIC, { addressIndex: 1 })
const providerKey = `0x${Buffer.from(providerAccount.getHdKey().privateKey!).toString('hex')}` as const
const TOKEN = 10n ** 18n

beforeAll(async () => {
  anvil = await startAnvil({ accounts: 4 })
  chain = rpcChain(anvil.chainId, anvil.url, 'anvil')
  publicClient = createPublicClient({ chain, transport: http(anvil.url), pollingInterval: 50 }) as PublicClient
  wallets = [0, 1, 2, 3].map((i) => createWalletClient({ account: mnemonicToAccount(ANVIL_MNEMONIC, { addressIndex: i }), chain, transport: http(anvil.url) }))
  deployment = await deploy(wallets[0]!, { publicClient, params: DEVNET_MARKET_PARAMS })
  for (const w of wallets.slice(1)) await mintTokens(wallets[0]!, { publicClient, token: deployment.token, to: w.account.address, amount: 1_000_000n * TOKEN })
  const dataDir = await tempDir()
  await initDataDir(dataDir, { evmKey: providerKey })
  // The node does not settle its deals here, so that exit can be seen refusing a deal whose term is over.
  node = await startNode({ dataDir, pricePerMiB: '5', chain: { rpcUrl: anvil.url, contractAddress: deployment.market, stake: (1000n * TOKEN).toString() }, prover: { settleDeals: false } })
  dialer = await startDialer()
})

afterAll(async () => {
  await dialer?.stop()
  if (node !== undefined) { await node.stop(); await removeDir(node.ready().dataDir) }
  await anvil?.stop()
})

describe('provider on a chain (anvil)', () => {
  it('registers at start with its peer id, price, capacity and stake', async () => {
    const mc: MarketClient = { market: deployment.market, publicClient }
    const info = await getProvider(mc, providerAccount.address)
    expect(info.peerId).toBe(node.peerId)
    expect(info.pricePerMiB).toBe(5n)
    expect(info.capacity).toBe(BigInt(node.store.capacityBytes))
    expect(info.stake).toBe(1000n * TOKEN)
    expect(node.status().chain).toMatchObject({ chainId: anvil.chainId, registered: true })
  })

  it('signs offers over the wire that verify and open a deal on chain; the shard is then stored under the deal', async () => {
    const { bytes, root } = randomShard(3 * 1024 * 1024)
    const client = wallets[2]!
    const { offer: fields, signature } = await requestOffer(await open(dialer, node, OFFER_PROTOCOL), { root, byteLength: bytes.byteLength, periods: 4, client: client.account.address.toLowerCase() as `0x${string}` })
    const offer = offerFromWire(fields)
    expect(offer.pricePerPeriod).toBe(15n)
    const sig = `0x${Buffer.from(signature).toString('hex')}` as const
    await verifyOffer({ offer, signature: sig, market: deployment.market, chainId: anvil.chainId, client: client.account.address })
    const { dealId } = await openDeal({ market: deployment.market, publicClient, walletClient: client }, { offer, signature: sig })
    const receipt = await requestStoreShard(await open(dialer, node, STORE_SHARD_PROTOCOL), { root, byteLength: bytes.byteLength, dealId: dealId.toString() }, bytes)
    expect(receipt.receipt.dealId).toBe(dealId.toString())
    expect((await node.store.getInfo(root)).dealId).toBe(dealId.toString())
    await expect(requestOffer(await open(dialer, node, OFFER_PROTOCOL), { byteLength: 10 })).rejects.toMatchObject({ remoteName: 'MalformedMessageError' })
    await expect(requestOffer(await open(dialer, node, OFFER_PROTOCOL), { root, byteLength: 2 ** 30, periods: 1, client: client.account.address })).rejects.toMatchObject({ remoteName: 'CapacityExceededError' })
  })

  it('signs no more offers than its free stake can back: promised collateral counts until the deal opens', async () => {
    // A provider of its own: 1 token per MiB per period, 3 tokens of stake, so each 1 MiB, 1-period offer promises 1 token.
    const account = mnemonicToAccount(ANVIL_MNEMONIC, { addressIndex: 3 })
    const dataDir = await tempDir()
    await initDataDir(dataDir, { evmKey: `0x${Buffer.from(account.getHdKey().privateKey!).toString('hex')}` })
    const small = await startNode({ dataDir, pricePerMiB: TOKEN.toString(), chain: { rpcUrl: anvil.url, contractAddress: deployment.market, stake: (3n * TOKEN).toString() }, prover: { settleDeals: false } })
    try {
      const client = wallets[2]!
      const ask = async (): Promise<Awaited<ReturnType<typeof requestOffer>>> => {
        const { root } = randomShard(64)
        return await requestOffer(await open(dialer, small, OFFER_PROTOCOL), { root, byteLength: 1024 * 1024, periods: 1, client: client.account.address.toLowerCase() as `0x${string}` })
      }
      const first = await ask()
      await ask()
      await ask()
      await expect(ask()).rejects.toMatchObject({ remoteName: 'InsufficientStakeError', message: expect.stringMatching(/free stake \(3 SHERD\).*3 SHERD is promised/) })
      // Opening the first moves its collateral from "promised" to locked on chain: it is not counted twice.
      await openDeal({ market: deployment.market, publicClient, walletClient: client }, { offer: offerFromWire(first.offer), signature: `0x${Buffer.from(first.signature).toString('hex')}` })
      expect((await getProvider({ market: deployment.market, publicClient }, account.address)).lockedStake).toBe(TOKEN)
      await expect(ask()).rejects.toMatchObject({ remoteName: 'InsufficientStakeError', message: expect.stringMatching(/free stake \(2 SHERD\).*2 SHERD is promised/) })
    } finally {
      await small.stop()
      await removeDir(dataDir)
    }
  })

  it('refuses a wrong contract address with a message that says what to check', async () => {
    await expect(connectChain({ rpcUrl: anvil.url, market: deployment.token, privateKey: providerKey })).rejects.toThrow(/not a Sherd StorageMarket/)
    await expect(connectChain({ rpcUrl: anvil.url, market: `0x${'12'.repeat(20)}`, privateKey: providerKey })).rejects.toThrow(/no contract is deployed at .*check --contract/)
  })

  it('withdraw and exit run through the CLI against the chain', async () => {
    const flags = ['--data-dir', node.ready().dataDir, '--rpc-url', anvil.url, '--contract', deployment.market]
    const w = await runToEnd(['withdraw', ...flags])
    expect(w.code).toBe(0)
    expect(JSON.parse(w.stdout)).toMatchObject({ provider: providerAccount.address, withdrawn: '0 SHERD', withdrawnBaseUnits: '0' })
    const e = await runToEnd(['exit', ...flags])
    expect(e.code).toBe(1)
    expect(e.stderr).toMatch(/OpenDealsError: .* still has an open deal:\n  deal \d+: active, its term ends at block \d+ \(about \d{4}-\d\d-\d\d \d\d:\d\d UTC\)/)
    // Past the end of its 4-period term (8-block periods), the deal is reported as ready to settle.
    await createTestClient({ chain, transport: http(anvil.url), mode: 'anvil' }).mine({ blocks: 64 })
    const late = await runToEnd(['exit', ...flags])
    expect(late.code).toBe(1)
    expect(late.stderr).toMatch(/deal \d+: its term is over; a running node settles it within seconds/)
  })
})
