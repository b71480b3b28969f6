// A provider node on a ProofSetMarket (anvil, automine): registration with stake, term limit and peer id; the offer
// after the store over the wire (and everything it refuses); the free-stake check; connection errors; the CLI's
// withdraw and exit with a deployment file, and a running node that stops signing offers once exit was asked for.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { existsSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { recoverTypedDataAddress } from 'viem'
import type { Hex } from 'viem'
import {
  getProofSetProvider,
  openProofSetDeals,
  PROOF_SET_OFFER_TYPES,
  proofSetOfferDomain,
  writeMarketDeployment
} from '@sherd/contracts'
import { OFFER_PROTOCOL, STORE_SHARD_PROTOCOL, offerFromWire, requestOffer, requestStoreShard } from '@sherd/protocol'
import { anvilKey, removeDir, tempDir, TOKEN } from '@sherd/test-support'
import { connectChain, EXIT_RECORD_FILE, initDataDir } from '../src/index.js'
import type { ProviderNode, SherdHost } from '../src/index.js'
import { open, randomShard, runToEnd, startDialer, startNode } from './helpers.js'
import { startPsChain } from './proof-set-helpers.js'
import type { PsChain } from './proof-set-helpers.js'

let c: PsChain
let node: ProviderNode
let dialer: SherdHost
let deploymentFile: string
const PROVIDER = 1
const CLIENT = 2

beforeAll(async () => {
  c = await startPsChain({ accounts: 4 })
  const dataDir = await tempDir()
  await initDataDir(dataDir, { evmKey: anvilKey(PROVIDER) })
  deploymentFile = join(dataDir, 'deployment.json')
  await writeMarketDeployment(deploymentFile, {
    contract: 'ProofSetMarket',
    chainId: c.anvil.chainId,
    rpcUrl: c.anvil.url,
    market: c.market.market,
    token: c.market.token,
    tokenDeployed: true,
    genesisBlock: c.market.genesisBlock,
    deployer: c.accounts[0]!.address,
    params: c.market.params
  })
  node = await startNode({
    dataDir,
    pricePerMiB: '5',
    chain: {
      rpcUrl: c.anvil.url,
      contractAddress: c.market.market,
      stake: (1000n * TOKEN).toString(),
      maxTermPeriods: 500
    },
    missReporter: false
  })
  dialer = await startDialer()
}, 60_000)

afterAll(async () => {
  await dialer?.stop()
  if (node !== undefined) {
    await node.stop()
    await removeDir(node.ready().dataDir)
  }
  await c?.anvil.stop()
})

const client = (): Hex => c.accounts[CLIENT]!.address

describe('provider on a ProofSetMarket (anvil)', () => {
  it('registers at start with its peer id, stake and term limit', async () => {
    const info = await getProofSetProvider(c.as(0), c.accounts[PROVIDER]!.address)
    expect(info).toMatchObject({ peerId: node.peerId, stake: 1000n * TOKEN, locked: 0n, maxTermPeriods: 500 })
    expect(node.status().chain).toMatchObject({
      chainId: c.anvil.chainId,
      registered: true,
      maxTermPeriods: 500,
      acceptingOffers: true
    })
  })

  it('signs an offer only for a shard it holds whole, root and size equal; the offer verifies and opens a deal', async () => {
    const { bytes, root } = randomShard(3 * 1024 * 1024)
    const ask = async (over: { byteLength?: number; periods?: number } = {}): ReturnType<typeof requestOffer> =>
      await requestOffer(await open(dialer, node, OFFER_PROTOCOL), {
        root,
        byteLength: bytes.byteLength,
        periods: 4,
        client: client(),
        ...over
      })
    await expect(ask()).rejects.toMatchObject({
      remoteName: 'UnknownShardError',
      message: expect.stringMatching(/store it .* before asking for its offer/)
    })
    const receipt = await requestStoreShard(
      await open(dialer, node, STORE_SHARD_PROTOCOL),
      { root, byteLength: bytes.byteLength },
      bytes
    )
    expect(receipt.receipt).not.toHaveProperty('dealId')
    await expect(ask({ byteLength: bytes.byteLength - 1 })).rejects.toMatchObject({
      remoteName: 'ShardSizeMismatchError'
    })
    await expect(ask({ periods: 501 })).rejects.toMatchObject({ remoteName: 'TermTooLongError' })

    const { offer: fields, signature } = await ask()
    const offer = offerFromWire(fields)
    expect(offer).toMatchObject({
      provider: c.accounts[PROVIDER]!.address,
      root: `0x${Buffer.from(root).toString('hex')}`,
      size: BigInt(bytes.byteLength),
      periods: 4,
      pricePerPeriod: 15n
    })
    const sig = `0x${Buffer.from(signature).toString('hex')}` as Hex
    const signer = await recoverTypedDataAddress({
      domain: proofSetOfferDomain(c.anvil.chainId, c.market.market),
      types: PROOF_SET_OFFER_TYPES,
      primaryType: 'Offer',
      message: offer,
      signature: sig
    })
    expect(signer).toBe(c.accounts[PROVIDER]!.address)
    const { dealIds } = await openProofSetDeals(c.as(CLIENT), { offers: [{ offer, signature: sig }] })
    expect(dealIds).toHaveLength(1)
    // Offers carry sequential nonces: the next one is the following number.
    const next = offerFromWire((await ask()).offer)
    expect(next.nonce).toBe(offer.nonce + 1n)
  })

  it('signs no more offers than its free stake can back: promised collateral counts until the deal opens', async () => {
    // A provider of its own: 1 token per MiB per period, 3 tokens of stake, so each 1 MiB, 1-period offer promises 1 token.
    const dataDir = await tempDir()
    await initDataDir(dataDir, { evmKey: anvilKey(3) })
    const small = await startNode({
      dataDir,
      pricePerMiB: TOKEN.toString(),
      chain: { rpcUrl: c.anvil.url, contractAddress: c.market.market, stake: (3n * TOKEN).toString() },
      missReporter: false
    })
    try {
      const ask = async (): Promise<Awaited<ReturnType<typeof requestOffer>>> => {
        const { bytes, root } = randomShard(1024 * 1024)
        await requestStoreShard(
          await open(dialer, small, STORE_SHARD_PROTOCOL),
          { root, byteLength: bytes.byteLength },
          bytes
        )
        return await requestOffer(await open(dialer, small, OFFER_PROTOCOL), {
          root,
          byteLength: bytes.byteLength,
          periods: 1,
          client: client()
        })
      }
      const first = await ask()
      await ask()
      await ask()
      await expect(ask()).rejects.toMatchObject({
        remoteName: 'InsufficientStakeError',
        message: expect.stringMatching(/free stake \(3 SHERD\).*3 SHERD is promised/)
      })
      // Opening the first moves its collateral from "promised" to locked on chain: it is not counted twice.
      await openProofSetDeals(c.as(CLIENT), {
        offers: [{ offer: offerFromWire(first.offer), signature: `0x${Buffer.from(first.signature).toString('hex')}` }]
      })
      expect((await getProofSetProvider(c.as(0), c.accounts[3]!.address)).locked).toBe(TOKEN)
      await expect(ask()).rejects.toMatchObject({
        remoteName: 'InsufficientStakeError',
        message: expect.stringMatching(/free stake \(2 SHERD\).*2 SHERD is promised/)
      })
    } finally {
      await small.stop()
      await removeDir(dataDir)
    }
  })

  it('refuses a wrong contract address or chain with a message that says what to check', async () => {
    const key = anvilKey(PROVIDER)
    await expect(connectChain({ rpcUrl: c.anvil.url, market: c.market.token, privateKey: key })).rejects.toThrow(
      /not a Sherd ProofSetMarket/
    )
    await expect(
      connectChain({ rpcUrl: c.anvil.url, market: `0x${'12'.repeat(20)}`, privateKey: key })
    ).rejects.toThrow(/no contract is deployed at .*check --contract/)
    await expect(
      connectChain({
        rpcUrl: c.anvil.url,
        market: c.market.market,
        privateKey: key,
        expectedChainId: c.anvil.chainId + 1
      })
    ).rejects.toThrow(/deployment file is for chain/)
  })

  it('withdraw and exit run through the CLI with the deployment file; after exit the running node signs no new offers', async () => {
    const flags = ['--data-dir', node.ready().dataDir, '--deployment', deploymentFile]
    const w = await runToEnd(['withdraw', ...flags])
    expect(w.code).toBe(0)
    expect(JSON.parse(w.stdout)).toMatchObject({
      provider: c.accounts[PROVIDER]!.address,
      withdrawn: '0 SHERD',
      withdrawnBaseUnits: '0'
    })
    const e = await runToEnd(['exit', ...flags])
    expect(e.code).toBe(1)
    expect(e.stderr).toMatch(
      /OpenDealsError: .* still has 0.00000000000000006 SHERD of collateral locked in a deal:\n {2}deal \d+: live, its collateral is released after block \d+ \(about \d{4}-\d\d-\d\d \d\d:\d\d UTC\)/
    )
    expect(e.stderr).toMatch(/It signs no new offers from now on/)
    expect(e.stderr).not.toMatch(/\n\s+at /)
    expect(JSON.parse(await readFile(join(node.ready().dataDir, EXIT_RECORD_FILE), 'utf8'))).toMatchObject({
      phase: 'leaving',
      chainId: c.anvil.chainId
    })
    const { bytes, root } = randomShard(4096)
    await requestStoreShard(
      await open(dialer, node, STORE_SHARD_PROTOCOL),
      { root, byteLength: bytes.byteLength },
      bytes
    )
    await expect(
      requestOffer(await open(dialer, node, OFFER_PROTOCOL), {
        root,
        byteLength: bytes.byteLength,
        periods: 1,
        client: client()
      })
    ).rejects.toMatchObject({ remoteName: 'NotAcceptingOffersError' })
    expect(node.status().chain.acceptingOffers).toBe(false)
    expect(existsSync(join(node.ready().dataDir, EXIT_RECORD_FILE))).toBe(true)
  })
})
