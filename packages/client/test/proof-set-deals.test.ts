// The client's deal machinery on a real ProofSetMarket (anvil, newest hardfork), with the test acting as the
// providers (signing offers, answering an audit): openDeals batches within a real chain's calldata and gas
// limits, the journal recorded before every batch, resume after a crash between "batch recorded" and "batch
// sent" and between "sent" and "recorded opened" (never a deal twice), expired offers replaced, a refused offer
// isolated, extend refused beyond a provider's maxTermPeriods, delete's claims, and audits answered and not.
import { randomBytes } from 'node:crypto'
import { readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildTree, merkleRoot } from '@sherd/proofs'
import {
  answerProofSetAudit,
  cancelProofSetOffer,
  getProofSetAuditSeed,
  getProofSetDeal,
  PROOF_SET_DEVNET_PARAMS,
  proofSetMarketAbi,
  proveChallenges,
  readProofSetEvents,
  registerProofSetProvider,
  signProofSetOffer,
  writeMarketDeployment
} from '@sherd/contracts'
import type { Anvil, MarketClient, ProofSetOffer, SignedProofSetOffer } from '@sherd/contracts'
import { MANIFEST_VERSION, SEGMENT_CIPHER, shardCid } from '@sherd/protocol'
import type { Manifest } from '@sherd/protocol'
import { bytesToHex } from 'viem'
import type { Account, Chain, Hex, PublicClient, Transport, WalletClient } from 'viem'
import {
  DEFAULT_BATCH_LIMITS,
  hexBytes,
  MAX_TX_CALLDATA_BYTES,
  MAX_TX_GAS,
  openDealsCalldata,
  openDealsCalldataBytes,
  planBatches
} from '../src/actions/deals.js'
import { anvilKey, deployTestMarket, removeDir, startTestChain, tempDir, TOKEN } from '@sherd/test-support'
import type { TestChain } from '@sherd/test-support'
import type { DealChain } from '../src/actions/deals.js'
import { openEntryDeals } from '../src/actions/settle.js'
import type { OfferRenewal } from '../src/actions/settle.js'
import { extendDeals, settleDeals } from '../src/actions/lifecycle.js'
import { auditManifest } from '../src/actions/audit.js'
import { JOURNAL_FORMAT, JournalError, JournalWriter, OLD_JOURNAL_FORMAT, PutJournal } from '../src/journal.js'
import type { JournalEntry } from '../src/journal.js'
import type { PutProgressEvent } from '../src/events.js'
import { main } from '../src/cli.js'
import { PassThrough } from 'node:stream'

const PRICE = 1_000n
const PERIODS = 4

type Wallet = WalletClient<Transport, Chain, Account>

let c: TestChain
let anvil: Anvil
let publicClient: PublicClient
let market: `0x${string}`
let chainId: number
let providers: Wallet[]
let clientWallet: Wallet
let chain: DealChain
let dir: string
let journal: PutJournal
let token: `0x${string}`
let genesisBlock: bigint
const nonces = new Map<string, bigint>()

const mcOf = (w: Wallet): MarketClient => ({ market, publicClient, walletClient: w })

async function mine(blocks: number): Promise<void> {
  await c.testClient.mine({ blocks })
}

async function head(): Promise<bigint> {
  return await publicClient.getBlockNumber({ cacheTime: 0 })
}

async function now(): Promise<bigint> {
  return (await publicClient.getBlock({ blockTag: 'latest' })).timestamp
}

/** An offer from `provider`, signed as a provider node would once it holds the shard. */
async function offer(provider: Wallet, over: Partial<ProofSetOffer> = {}): Promise<SignedProofSetOffer> {
  const key = provider.account.address
  const nonce = (nonces.get(key) ?? 0n) + 1n
  nonces.set(key, nonce)
  const o: ProofSetOffer = {
    provider: key,
    client: clientWallet.account.address,
    root: bytesToHex(randomBytes(32)),
    size: 64n * 1024n,
    pricePerPeriod: PRICE,
    periods: PERIODS,
    nonce,
    expiry: (await now()) + 3_600n,
    ...over
  }
  return { offer: o, signature: await signProofSetOffer(provider, { market, offer: o, chainId }) }
}

/** A journal entry of `offers`, on disk, as put writes it before its first transaction. */
async function entryOf(offers: readonly SignedProofSetOffer[]): Promise<JournalWriter> {
  const at = new Date().toISOString()
  const entry: JournalEntry = {
    format: JOURNAL_FORMAT,
    id: PutJournal.newId(),
    kind: 'put',
    state: 'opening',
    createdAt: at,
    updatedAt: at,
    chainId,
    market,
    marketTag: '0x00',
    client: clientWallet.account.address,
    fileSize: 1,
    key: '00',
    manifest: '',
    startBlock: await head(),
    escrow: offers.reduce((n, o) => n + o.offer.pricePerPeriod * BigInt(o.offer.periods), 0n),
    deals: offers.map((o, i) => ({
      segmentIndex: Math.floor(i / 3),
      shardIndex: i % 3,
      provider: `peer-${o.offer.provider}`,
      bytes: Number(o.offer.size),
      offer: o.offer,
      signature: o.signature
    })),
    batches: []
  }
  const writer = new JournalWriter(entry, journal)
  await writer.update(() => {})
  return writer
}

/** The entry as a later process would read it back. */
async function reread(writer: JournalWriter): Promise<JournalWriter> {
  return new JournalWriter(await journal.read(writer.entry.id), journal)
}

async function dealsOfClient(): Promise<Array<{ dealId: bigint; transactionHash: Hex }>> {
  const logs = await readProofSetEvents(chain.market, {
    eventName: 'DealOpened',
    args: { client: clientWallet.account.address },
    fromBlock: 0n
  })
  return logs.map((l) => ({ dealId: l.args.dealId, transactionHash: l.transactionHash }))
}

const noRenewal: OfferRenewal = async () => {
  throw new Error('no renewal expected')
}

beforeAll(async () => {
  c = await startTestChain({ accounts: 5, hardfork: 'osaka' })
  anvil = c.anvil
  chainId = anvil.chainId
  publicClient = c.publicClient
  // Accounts 1..4 (the three providers and the client) get the tokens.
  const d = await deployTestMarket(c, { params: PROOF_SET_DEVNET_PARAMS, amount: 10_000_000n * TOKEN })
  market = d.market
  token = d.token
  genesisBlock = d.genesisBlock
  providers = [c.wallets[1]!, c.wallets[2]!, c.wallets[3]!]
  clientWallet = c.wallets[4]!
  await registerProofSetProvider(mcOf(providers[0]!), {
    stake: 1_000_000n * TOKEN,
    peerId: 'peer-1',
    maxTermPeriods: 40
  })
  await registerProofSetProvider(mcOf(providers[1]!), {
    stake: 1_000_000n * TOKEN,
    peerId: 'peer-2',
    maxTermPeriods: 40
  })
  await registerProofSetProvider(mcOf(providers[2]!), {
    stake: 1_000_000n * TOKEN,
    peerId: 'peer-3',
    maxTermPeriods: 6
  })
  chain = {
    market: { ...mcOf(clientWallet), walletClient: clientWallet },
    publicClient,
    walletClient: clientWallet,
    account: clientWallet.account.address,
    chainId
  }
  dir = await tempDir('sherd-proof-set-deals-')
  journal = new PutJournal(dir)
}, 120_000)

afterAll(async () => {
  if (anvil !== undefined) {
    // Every transaction the client sent here fits a real chain.
    const last = await head()
    for (let n = 0n; n <= last; n++) {
      const block = await publicClient.getBlock({ blockNumber: n, includeTransactions: true })
      for (const tx of block.transactions) {
        if (tx.to === null) continue
        const receipt = await publicClient.getTransactionReceipt({ hash: tx.hash })
        expect(hexBytes(tx.input), `calldata of ${tx.hash}`).toBeLessThanOrEqual(MAX_TX_CALLDATA_BYTES)
        expect(receipt.gasUsed, `gas of ${tx.hash}`).toBeLessThanOrEqual(MAX_TX_GAS)
      }
    }
    await anvil.stop()
  }
  if (dir !== undefined) await removeDir(dir)
}, 120_000)

describe('openDeals batches', () => {
  it('counts calldata exactly and splits at the calldata and size limits, in order', async () => {
    const offers = await Promise.all(Array.from({ length: 23 }, async (_, i) => await offer(providers[i % 2]!)))
    for (const n of [1, 2, 7, 23])
      expect(openDealsCalldataBytes(offers.slice(0, n))).toBe(hexBytes(openDealsCalldata(offers.slice(0, n))))
    const small = planBatches(offers, { maxCalldataBytes: 3_000, maxOffers: 100 })
    expect(small.length).toBeGreaterThan(3)
    expect(small.flat()).toEqual(offers.map((_, i) => i))
    for (const b of small) expect(hexBytes(openDealsCalldata(b.map((i) => offers[i]!)))).toBeLessThanOrEqual(3_000)
    expect(planBatches(offers, { maxCalldataBytes: MAX_TX_CALLDATA_BYTES, maxOffers: 5 }).map((b) => b.length)).toEqual(
      [5, 5, 5, 5, 3]
    )
    expect(() => planBatches(offers, { maxCalldataBytes: 200, maxOffers: 5 })).toThrow(/one offer alone/)
  })

  it('opens 250 deals in batches of at most 100, every transaction within 128 KiB and 2^24 gas, each deal once', async () => {
    const offers = await Promise.all(Array.from({ length: 250 }, async (_, i) => await offer(providers[i % 2]!)))
    const writer = await entryOf(offers)
    const before = (await dealsOfClient()).length
    const events: PutProgressEvent[] = []
    await openEntryDeals(chain, writer, noRenewal, {
      signal: new AbortController().signal,
      emit: (e) => events.push(e)
    })
    const entry = (await reread(writer)).entry
    expect(entry.deals.every((d) => d.dealId !== undefined && d.error === undefined)).toBe(true)
    expect(entry.batches.map((b) => b.deals.length)).toEqual([100, 100, 50])
    expect(events.filter((e) => e.type === 'put:approved')).toHaveLength(1)
    for (const b of entry.batches) {
      const [tx, receipt] = await Promise.all([
        publicClient.getTransaction({ hash: b.txHash! }),
        publicClient.getTransactionReceipt({ hash: b.txHash! })
      ])
      expect(hexBytes(tx.input)).toBeLessThanOrEqual(MAX_TX_CALLDATA_BYTES)
      expect(receipt.gasUsed).toBeLessThanOrEqual(MAX_TX_GAS)
      expect(b.openedBlock).toBe(receipt.blockNumber)
      console.log(`openDeals of ${b.deals.length} offers: ${hexBytes(tx.input)} calldata bytes, ${receipt.gasUsed} gas`)
    }
    const opened = await dealsOfClient()
    expect(opened.length - before).toBe(250)
    expect(new Set(entry.deals.map((d) => d.dealId)).size).toBe(250)
  }, 120_000)

  it('splits a batch whose gas estimate is over the cap, down to what fits', async () => {
    const offers = await Promise.all(Array.from({ length: 30 }, async (_, i) => await offer(providers[i % 2]!)))
    const writer = await entryOf(offers)
    const limits = { ...DEFAULT_BATCH_LIMITS, maxGas: 1_200_000n }
    await openEntryDeals(chain, writer, noRenewal, { signal: new AbortController().signal, emit: () => {}, limits })
    const entry = (await reread(writer)).entry
    expect(entry.deals.every((d) => d.dealId !== undefined)).toBe(true)
    const sent = entry.batches.filter((b) => b.txHash !== undefined)
    expect(sent.length).toBeGreaterThan(1)
    for (const b of sent)
      expect((await publicClient.getTransactionReceipt({ hash: b.txHash! })).gasUsed).toBeLessThanOrEqual(1_200_000n)
    // The batches the estimate turned down were recorded and never sent.
    expect(entry.batches.some((b) => b.txHash === undefined)).toBe(true)
  }, 120_000)
})

describe('a crash around a batch', () => {
  it('between "batch recorded" and "batch sent": nothing on chain, resume opens every deal once', async () => {
    const offers = await Promise.all(Array.from({ length: 12 }, async (_, i) => await offer(providers[i % 2]!)))
    const writer = await entryOf(offers)
    const before = (await dealsOfClient()).length
    const crash = new AbortController()
    await expect(
      openEntryDeals(chain, writer, noRenewal, {
        signal: crash.signal,
        emit: (e) => {
          if (e.type === 'put:batch-recorded') crash.abort(new Error('crash'))
        }
      })
    ).rejects.toThrow('crash')
    const after = await reread(writer)
    expect(after.entry.batches).toHaveLength(1)
    expect(after.entry.batches[0]!.txHash).toBeUndefined()
    expect(after.entry.deals.every((d) => d.batch === 0 && d.dealId === undefined)).toBe(true)
    expect((await dealsOfClient()).length).toBe(before)

    await openEntryDeals(chain, after, noRenewal, { signal: new AbortController().signal, emit: () => {} })
    expect(after.entry.deals.every((d) => d.dealId !== undefined)).toBe(true)
    expect((await dealsOfClient()).length - before).toBe(12)
  }, 60_000)

  it('between "batch sent" and "recorded opened": resume finds the deals from the recorded hash, opens none again', async () => {
    const offers = await Promise.all(Array.from({ length: 12 }, async (_, i) => await offer(providers[i % 2]!)))
    const writer = await entryOf(offers)
    const before = await dealsOfClient()
    const crash = new AbortController()
    await expect(
      openEntryDeals(chain, writer, noRenewal, {
        signal: crash.signal,
        emit: (e) => {
          if (e.type === 'put:batch-sent') crash.abort(new Error('crash'))
        }
      })
    ).rejects.toThrow('crash')
    await mine(1)
    const after = await reread(writer)
    expect(after.entry.batches[0]!.txHash).toBeDefined()
    expect(after.entry.deals.every((d) => d.dealId === undefined)).toBe(true)
    const onChain = (await dealsOfClient()).filter((d) => !before.some((b) => b.dealId === d.dealId))
    expect(onChain).toHaveLength(12)

    await openEntryDeals(chain, after, noRenewal, { signal: new AbortController().signal, emit: () => {} })
    expect((await dealsOfClient()).length - before.length).toBe(12)
    expect(after.entry.deals.map((d) => d.dealId).sort()).toEqual(onChain.map((d) => d.dealId).sort())
    // Each journal deal got the deal opened from its own offer (same provider and root on chain).
    for (const d of after.entry.deals) {
      const deal = await getProofSetDeal(chain.market, d.dealId!)
      expect(deal.provider).toBe(d.offer.provider)
      expect(deal.root).toBe(d.offer.root)
    }
  }, 60_000)

  it('sent, but the hash never reached the journal: resume finds the deals from DealOpened logs and the nonces', async () => {
    // Two offers of one provider for the same root (identical padding shards): only the nonce tells them apart.
    const root = bytesToHex(randomBytes(32))
    const offers = [
      await offer(providers[0]!, { root }),
      await offer(providers[0]!, { root }),
      await offer(providers[1]!)
    ]
    const writer = await entryOf(offers)
    const before = (await dealsOfClient()).length
    const crash = new AbortController()
    await expect(
      openEntryDeals(chain, writer, noRenewal, {
        signal: crash.signal,
        emit: (e) => {
          if (e.type === 'put:batch-sent') crash.abort(new Error('crash'))
        }
      })
    ).rejects.toThrow('crash')
    // As if the process died between the chain accepting the transaction and the hash's write.
    const path = journal.pathOf(writer.entry.id)
    const text = JSON.parse(await readFile(path, 'utf8')) as { batches: Array<{ txHash?: string }> }
    delete text.batches[0]!.txHash
    await writeFile(path, JSON.stringify(text))
    const after = await reread(writer)
    expect(after.entry.batches[0]!.txHash).toBeUndefined()

    await openEntryDeals(chain, after, noRenewal, { signal: new AbortController().signal, emit: () => {} })
    expect((await dealsOfClient()).length - before).toBe(3)
    const [a, b] = after.entry.deals
    expect(a!.dealId).not.toBe(b!.dealId)
    // Offers are opened in order, so the first offer's deal id is the smaller one.
    expect(a!.dealId! < b!.dealId!).toBe(true)
  }, 60_000)
})

describe('offers that cannot open as they are', () => {
  it('an expired offer is replaced by a fresh one, recorded before use; one nobody renews is marked failed', async () => {
    const expiredAt = (await now()) - 1n
    const offers = [
      await offer(providers[0]!, { expiry: expiredAt }),
      await offer(providers[1]!, { expiry: expiredAt }),
      await offer(providers[0]!)
    ]
    const writer = await entryOf(offers)
    const renewedNonces: bigint[] = []
    const renew: OfferRenewal = async (deal) => {
      if (deal.offer.provider === providers[1]!.account.address)
        throw new Error('UnknownShardError: the shard was collected')
      const fresh = await offer(providers[0]!, { root: deal.offer.root, size: deal.offer.size })
      renewedNonces.push(fresh.offer.nonce)
      return fresh
    }
    const events: PutProgressEvent[] = []
    await openEntryDeals(chain, writer, renew, { signal: new AbortController().signal, emit: (e) => events.push(e) })
    const entry = (await reread(writer)).entry
    expect(entry.deals[0]!.offer.nonce).toBe(renewedNonces[0])
    expect(entry.deals[0]!.dealId).toBeDefined()
    expect(entry.deals[1]!.dealId).toBeUndefined()
    expect(entry.deals[1]!.error).toMatch(/offer expired .*gave no new one.*run repair/)
    expect(entry.deals[2]!.dealId).toBeDefined()
  }, 60_000)

  it('a cancelled offer in a batch is found by splitting: the others open, it is marked with the reason', async () => {
    const offers = await Promise.all(Array.from({ length: 5 }, async () => await offer(providers[0]!)))
    await cancelProofSetOffer(mcOf(providers[0]!), offers[3]!.offer.nonce)
    const writer = await entryOf(offers)
    const events: PutProgressEvent[] = []
    await openEntryDeals(chain, writer, noRenewal, {
      signal: new AbortController().signal,
      emit: (e) => events.push(e)
    })
    const entry = (await reread(writer)).entry
    expect(entry.deals.filter((d) => d.dealId !== undefined)).toHaveLength(4)
    expect(entry.deals[3]!.dealId).toBeUndefined()
    expect(entry.deals[3]!.error).toMatch(/cancelled/)
  }, 60_000)
})

describe('the journal format', () => {
  it('refuses an entry of the StorageMarket era, saying what to do', async () => {
    const id = PutJournal.newId()
    await writeFile(journal.pathOf(id), JSON.stringify({ format: OLD_JOURNAL_FORMAT, id, deals: [] }))
    const err = await journal.read(id).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(JournalError)
    expect((err as Error).message).toMatch(/old StorageMarket.*put the file again.*Move the entry out/)
    await rm(journal.pathOf(id))
  })
})

/** Opens `offers` as a put would and returns their deal ids. */
async function open(offers: readonly SignedProofSetOffer[]): Promise<bigint[]> {
  const writer = await entryOf(offers)
  await openEntryDeals(chain, writer, noRenewal, { signal: new AbortController().signal, emit: () => {} })
  return writer.entry.deals.map((d) => d.dealId!)
}

describe('extend and delete', () => {
  it("extends in one transaction, and refuses a term beyond the provider's maxTermPeriods with the reason", async () => {
    const ids = await open([await offer(providers[0]!), await offer(providers[1]!), await offer(providers[2]!)])
    const shards = ids.map((deal, i) => ({ deal, provider: `peer-${i + 1}` }))
    const r = await extendDeals(chain, shards, 3)
    expect(r.extended.map((e) => e.dealId)).toEqual(ids.slice(0, 2))
    expect(r.extended.every((e) => e.periods === PERIODS + 3)).toBe(true)
    expect(r.escrow).toBe(2n * PRICE * 3n)
    expect(r.skipped).toHaveLength(1)
    expect(r.skipped[0]!.dealId).toBe(ids[2])
    expect(r.skipped[0]!.reason).toMatch(
      /a term of 7 periods is beyond its provider's limit of 6 \(maxTermPeriods\): extend by at most 2/
    )
    for (const [i, id] of ids.entries()) {
      const d = await getProofSetDeal(chain.market, id)
      expect(d.endPeriod - d.startPeriod).toBe(BigInt(i < 2 ? PERIODS + 3 : PERIODS))
    }
    const logs = await readProofSetEvents(chain.market, { eventName: 'DealExtended', fromBlock: 0n })
    expect(new Set(logs.filter((l) => ids.includes(l.args.dealId)).map((l) => l.transactionHash)).size).toBe(1)
  }, 60_000)

  it('delete claims the deals whose term is over and withdraws the refund; live ones run on', async () => {
    const [ended] = await open([await offer(providers[0]!, { periods: 1 })])
    const [running] = await open([await offer(providers[1]!, { periods: 30 })])
    const deal = await getProofSetDeal(chain.market, ended!)
    // Past the short deal's term; nobody proves, so its periods are refunded at the claim.
    while (
      (await head()) <
      (await publicClient.readContract({
        address: market,
        abi: proofSetMarketAbi,
        functionName: 'periodStartBlock',
        args: [deal.endPeriod]
      }))
    )
      await mine(4)
    const r = await settleDeals(chain, [ended!, running!])
    expect(r.settled.map((s) => s.dealId)).toEqual([ended])
    expect(r.running.map((x) => x.dealId)).toEqual([running])
    expect(r.withdrawn).toBeGreaterThanOrEqual(PRICE)
    // Its unproven period was refunded; it stays on the books until its provider's due period passes it.
    expect((await getProofSetDeal(chain.market, ended!)).escrow).toBe(0n)
    const again = await settleDeals(chain, [ended!, running!])
    expect(again.settled).toEqual([])
    expect(again.withdrawn).toBe(0n)
  }, 60_000)
})

describe('audit', () => {
  /** A one-segment manifest naming `deals` (as put writes it; only the shard list matters to an audit). */
  function manifestOf(shards: ReadonlyArray<{ root: Uint8Array; size: number; deal: bigint }>): Manifest {
    return {
      version: MANIFEST_VERSION,
      fileSize: 1,
      segmentSize: 1,
      k: 1,
      m: shards.length - 1,
      leafSize: 64,
      stripeChunks: 1,
      cipher: SEGMENT_CIPHER,
      keySalt: new Uint8Array(16),
      segments: [
        {
          size: 1,
          shardSize: shards[0]!.size,
          shards: shards.map((s, i) => ({ commitment: shardCid(s.root, s.size), provider: `peer-${i}`, deal: s.deal }))
        }
      ]
    } as Manifest
  }

  it('answered: the provider proves the leaves in the audit period and the client reports it', async () => {
    const data = randomBytes(64 * 1024)
    const root = merkleRoot(data)
    const [dealId] = await open([
      await offer(providers[0]!, { root: bytesToHex(root), size: BigInt(data.length), periods: 30 })
    ])
    let requested: { period: bigint } | undefined
    const auditing = auditManifest(
      { ...chain, pollingIntervalMs: 50 },
      manifestOf([{ root, size: data.length, deal: dealId! }]),
      {
        onProgress: (e) => {
          if (e.type === 'audit:requested') requested = { period: e.period }
        }
      }
    )
    while (requested === undefined) await new Promise((resolve) => setTimeout(resolve, 20))
    const challengeBlock = await publicClient.readContract({
      address: market,
      abi: proofSetMarketAbi,
      functionName: 'challengeBlock',
      args: [requested.period]
    })
    while ((await head()) < challengeBlock) await mine(1)
    const seed = await getProofSetAuditSeed(mcOf(providers[0]!), dealId!, requested.period)
    await answerProofSetAudit(mcOf(providers[0]!), {
      dealId: dealId!,
      proof: proveChallenges(buildTree(data), seed, 10)
    })
    const r = await auditing
    expect(r.audits).toHaveLength(1)
    expect(r.audits[0]!.result).toBe('answered')
    expect(r.audits[0]!.period).toBe(requested.period)
    expect(r.bonds).toBe(PROOF_SET_DEVNET_PARAMS.auditBond)
    expect((await getProofSetDeal(chain.market, dealId!)).state).toBe('live')
  }, 60_000)

  it('unanswered: once its period closes the client fails it, the deal faults, bond and reward come back', async () => {
    const root = randomBytes(32)
    const [dealId] = await open([await offer(providers[1]!, { root: bytesToHex(root), periods: 30 })])
    let done = false
    const miner = (async () => {
      while (!done) {
        await mine(1)
        await new Promise((resolve) => setTimeout(resolve, 50))
      }
    })()
    try {
      const r = await auditManifest(
        { ...chain, pollingIntervalMs: 50 },
        manifestOf([{ root, size: 64 * 1024, deal: dealId! }])
      )
      expect(r.audits[0]!.result).toBe('failed')
      expect(r.audits[0]!.reward).toBeGreaterThan(0n)
      expect(r.withdrawn).toBeGreaterThanOrEqual(PROOF_SET_DEVNET_PARAMS.auditBond + r.audits[0]!.reward!)
    } finally {
      done = true
      await miner
    }
    expect((await getProofSetDeal(chain.market, dealId!)).state).toBe('faulted')
    // A second run has nothing open and the deal is no longer live: skipped, not requested again.
    const again = await auditManifest(
      { ...chain, pollingIntervalMs: 50 },
      manifestOf([{ root, size: 64 * 1024, deal: dealId! }])
    )
    expect(again.audits[0]!.result).toBe('skipped')
    expect(again.bonds).toBe(0n)
  }, 90_000)
})

describe('sherd --deployment', () => {
  async function sherd(
    args: string[],
    env: NodeJS.ProcessEnv
  ): Promise<{ code: number; stdout: string; stderr: string }> {
    const stdout = new PassThrough()
    const stderr = new PassThrough()
    let o = ''
    let e = ''
    stdout.on('data', (b: Buffer) => {
      o += b.toString()
    })
    stderr.on('data', (b: Buffer) => {
      e += b.toString()
    })
    const code = await main(args, {
      stdout,
      stderr,
      env: { XDG_CONFIG_HOME: dir, XDG_DATA_HOME: dir, XDG_CACHE_HOME: dir, PATH: process.env.PATH ?? '', ...env }
    })
    return { code, stdout: o, stderr: e }
  }
  const record = (over: { chainId?: number; token?: `0x${string}` } = {}) => ({
    contract: 'ProofSetMarket' as const,
    chainId: over.chainId ?? chainId,
    rpcUrl: anvil.url,
    market,
    token: over.token ?? token,
    tokenDeployed: true,
    genesisBlock,
    deployer: providers[0]!.account.address,
    params: { ...PROOF_SET_DEVNET_PARAMS }
  })
  const key = (): string => anvilKey(4)

  it('reads the chain, market and token from the file (flag or SHERD_DEPLOYMENT); the file wins over SHERD_RPC_URL/SHERD_CONTRACT', async () => {
    const file = join(dir, 'deployment.json')
    await writeMarketDeployment(file, record())
    const byFlag = await sherd(['wallet', '--deployment', file], { SHERD_PRIVATE_KEY: key() })
    expect(byFlag.code, byFlag.stderr).toBe(0)
    expect(byFlag.stdout).toMatch(/^balance\s+[\d,.]+ SHERD$/m)
    // A devnet.env of another network left in the shell does not mix with the file.
    const byEnv = await sherd(['wallet'], {
      SHERD_DEPLOYMENT: file,
      SHERD_PRIVATE_KEY: key(),
      SHERD_RPC_URL: 'http://127.0.0.1:9',
      SHERD_CONTRACT: '0x000000000000000000000000000000000000dEaD'
    })
    expect(byEnv.code, byEnv.stderr).toBe(0)
    expect(byEnv.stdout).toMatch(/^token\s+SHERD \(/m)
  })

  it('refuses a file of another chain or token, and a malformed file, saying what is wrong', async () => {
    const other = join(dir, 'other-chain.json')
    await writeMarketDeployment(other, record({ chainId: chainId + 1 }))
    const wrongChain = await sherd(['wallet', '--deployment', other], { SHERD_PRIVATE_KEY: key() })
    expect(wrongChain.code).toBe(1)
    expect(wrongChain.stderr).toMatch(
      new RegExp(
        `WrongChainError: the RPC answers for chain ${chainId} but the deployment \\(from .*other-chain.json\\) is on chain ${chainId + 1}`
      )
    )
    const otherToken = join(dir, 'other-token.json')
    await writeMarketDeployment(otherToken, record({ token: providers[0]!.account.address }))
    const wrongToken = await sherd(['wallet', '--deployment', otherToken], { SHERD_PRIVATE_KEY: key() })
    expect(wrongToken.code).toBe(1)
    expect(wrongToken.stderr).toMatch(/settles in token .* not .* as the deployment/)
    const broken = join(dir, 'broken.json')
    await writeFile(broken, '{"contract":"StorageMarket"}')
    const bad = await sherd(['wallet', '--deployment', broken], { SHERD_PRIVATE_KEY: key() })
    expect(bad.code).toBe(1)
    expect(bad.stderr).toMatch(/^error: DeploymentFileError: .*broken\.json.*contract/)
    expect(bad.stderr).not.toMatch(/\n\s+at /)
  })
})
