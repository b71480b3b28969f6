import { randomBytes } from 'node:crypto'
import { readdir, readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { mintTokens, proofSetMarketAbi, readProofSetEvents } from '@sherd/contracts'
import { createTestClient, createWalletClient, erc20Abi, http } from 'viem'
import type { Hex } from 'viem'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import { removeDir, tempDir } from '@sherd/test-support'
import {
  ChainActionError,
  createClient,
  InsufficientFundsError,
  InsufficientGasError,
  JOURNAL_FORMAT,
  listFiles,
  PutJournal
} from '../src/index.js'
import { chainActionError } from '../src/actions/deals.js'
import type { ClientConfig, JournalEntry, PutProgressEvent, SherdClient } from '../src/index.js'
import { collect, startNetwork } from './network-helpers.js'
import type { TestNetwork } from './network-helpers.js'

// Two segments of 2 + 1 shards: six deals, opened in one openDeals batch.
const SEGMENT = 64 * 1024
const FILE_BYTES = SEGMENT + 5_000

let net: TestNetwork
let journalDir: string
let client: SherdClient

function newClient(overrides: { account?: ClientConfig['account'] } = {}): SherdClient {
  return createClient({
    rpcUrl: net.anvil.url,
    contract: net.deployment.market,
    account: overrides.account ?? net.clientKey,
    bootstrap: net.bootstrap(),
    k: 2,
    m: 1,
    segmentSize: SEGMENT,
    periods: 4,
    waitForActivation: false,
    pollingIntervalMs: 50,
    journalDir
  })
}

/** Every DealOpened of the test client since genesis: the chain's own count of what was paid for. */
async function dealsOnChain(): Promise<Array<{ dealId: bigint; root: string }>> {
  const logs = await readProofSetEvents(
    { market: net.deployment.market, publicClient: net.publicClient },
    {
      eventName: 'DealOpened',
      args: { client: privateKeyToAccount(net.clientKey).address },
      fromBlock: 0n
    }
  )
  return logs.map((l) => ({ dealId: l.args.dealId, root: l.args.root }))
}

beforeAll(async () => {
  net = await startNetwork(3)
  journalDir = await tempDir('sherd-journal-test-')
  client = newClient()
  await client.start()
}, 180_000)

afterAll(async () => {
  await client?.stop()
  await net?.close()
  if (journalDir !== undefined) await removeDir(journalDir)
})

describe('the put journal', () => {
  it('writes entries atomically, mode 0600, and reads back bigints and offers as written', async () => {
    const dir = await tempDir('sherd-journal-unit-')
    try {
      const journal = new PutJournal(join(dir, 'nested'))
      const entry: JournalEntry = {
        format: JOURNAL_FORMAT,
        id: PutJournal.newId(),
        kind: 'put',
        state: 'opening',
        createdAt: 'now',
        updatedAt: 'now',
        chainId: 1,
        market: '0x0000000000000000000000000000000000000001',
        marketTag: '0x00',
        client: '0x0000000000000000000000000000000000000002',
        fileSize: 10,
        key: '00',
        manifest: '',
        startBlock: 2n ** 70n,
        escrow: 5n,
        deals: [
          {
            segmentIndex: 0,
            shardIndex: 1,
            provider: 'p',
            bytes: 64,
            signature: '0x01',
            offer: {
              provider: '0x0000000000000000000000000000000000000003',
              client: '0x0000000000000000000000000000000000000002',
              root: '0x00',
              size: 64n,
              pricePerPeriod: 3n,
              periods: 2,
              nonce: 2n ** 200n,
              expiry: 99n
            },
            batch: 0,
            dealId: 7n
          }
        ],
        batches: [{ deals: [0], recordedAt: 'now', txHash: '0x12', openedBlock: 2n ** 65n }]
      }
      await journal.write(entry)
      await journal.write({ ...entry, state: 'stored', link: 'sherd://x#y' })
      const back = await journal.read(entry.id)
      expect(back.state).toBe('stored')
      expect(back.startBlock).toBe(2n ** 70n)
      expect(back.deals[0]!.offer.nonce).toBe(2n ** 200n)
      expect(back.deals[0]!.dealId).toBe(7n)
      expect(back.batches[0]!.openedBlock).toBe(2n ** 65n)
      expect((await stat(journal.pathOf(entry.id))).mode & 0o777).toBe(0o600)
      expect((await stat(journal.dir)).mode & 0o777).toBe(0o700)
      expect(await readdir(journal.dir)).toEqual([`${entry.id}.json`]) // no temp file left behind
      await expect(journal.read('../etc/passwd')).rejects.toThrow(/not a journal entry id/)
      await expect(journal.read('nope')).rejects.toThrow(/no journal entry nope/)
    } finally {
      await removeDir(dir)
    }
  })

  it('refuses an unfunded put before uploading anything, saying how many tokens are missing', async () => {
    const poor = newClient({ account: generatePrivateKey() })
    await poor.start()
    try {
      const events: PutProgressEvent[] = []
      const err = await poor
        .put(randomBytes(FILE_BYTES), { onProgress: (e) => events.push(e) })
        .catch((e: unknown) => e)
      expect(err).toBeInstanceOf(InsufficientFundsError)
      const e = err as InsufficientFundsError
      expect(e.balance).toBe(0n)
      expect(e.missing).toBe(e.needed)
      expect(e.needed).toBeGreaterThan(0n)
      expect(e.message).toMatch(/SHERD missing/)
      expect(events.filter((x) => x.type === 'put:shard-stored')).toHaveLength(0)
      const estimate = await poor.estimatePut(FILE_BYTES)
      expect(estimate.shards).toHaveLength(6)
      expect(estimate.escrow).toBe(e.needed)
    } finally {
      await poor.stop()
    }
  })

  it('refuses a put from an account with tokens but no gas before uploading anything', async () => {
    const key = generatePrivateKey()
    await mintTokens(net.deployer, {
      publicClient: net.publicClient,
      token: net.deployment.token,
      to: privateKeyToAccount(key).address,
      amount: 10n ** 24n
    })
    const gasless = newClient({ account: key })
    await gasless.start()
    try {
      const events: PutProgressEvent[] = []
      await expect(gasless.put(randomBytes(FILE_BYTES), { onProgress: (e) => events.push(e) })).rejects.toThrow(
        InsufficientGasError
      )
      expect(events.filter((x) => x.type === 'put:shard-stored')).toHaveLength(0)
    } finally {
      await gasless.stop()
    }
  })

  // Each phase of a put, aborted as soon as it is reached: afterwards either nothing is on chain and no entry
  // exists, or the entry lets resume open exactly the missing deals and the file reads back.
  const phases: Array<{ name: string; at: (e: PutProgressEvent) => boolean }> = [
    { name: 'upload', at: (e) => e.type === 'put:shard-stored' },
    { name: 'journal written', at: (e) => e.type === 'put:journal' && e.state === 'opening' },
    { name: 'approval', at: (e) => e.type === 'put:approved' },
    { name: 'batch recorded, not sent', at: (e) => e.type === 'put:batch-recorded' },
    { name: 'batch sent, not recorded opened', at: (e) => e.type === 'put:batch-sent' },
    { name: 'deals recorded opened', at: (e) => e.type === 'put:deal-opened' && e.dealsOpened === 1 },
    { name: 'manifest', at: (e) => e.type === 'put:manifest-stored' }
  ]
  for (const phase of phases) {
    it(`aborted at ${phase.name}: nothing on chain or a journal entry that resume finishes, once`, async () => {
      const data = randomBytes(FILE_BYTES)
      const before = await dealsOnChain()
      const controller = new AbortController()
      let journalId: string | undefined
      const err = await client
        .put(data, {
          signal: controller.signal,
          onProgress: (e) => {
            if (e.type === 'put:journal') journalId = e.id
            if (phase.at(e)) controller.abort(new Error(`stopped at ${phase.name}`))
          }
        })
        .catch((e: unknown) => e)
      expect((err as Error).message).toBe(`stopped at ${phase.name}`)
      // The approval goes out during the upload but is reported after the journal is written: stopping there
      // leaves an entry with no batch, the state this phase is for.
      if (phase.name === 'approval') expect(journalId).toBeDefined()
      const opened = (await dealsOnChain()).slice(before.length)
      if (journalId === undefined) {
        expect(opened, 'no entry, so nothing may be on chain').toHaveLength(0)
        return
      }
      const entry = await new PutJournal(journalDir).read(journalId)
      expect(entry.deals).toHaveLength(6)
      // Every deal the journal knows of is on chain; the others may be too (resume asks the chain).
      for (const d of entry.deals.filter((x) => x.dealId !== undefined))
        expect(opened.map((o) => o.dealId)).toContain(d.dealId)

      const listed = (
        await listFiles(new PutJournal(journalDir), {
          market: { market: net.deployment.market, publicClient: net.publicClient }
        })
      ).files.find((f) => f.id === journalId)!
      expect(listed.fileSize).toBe(FILE_BYTES)
      expect(listed.resumable).toBe(phase.name !== 'manifest' || entry.state !== 'stored')

      const resumed = await client.resume(journalId)
      expect(resumed.deals.every((d) => d.dealId !== undefined)).toBe(true)
      const after = (await dealsOnChain()).slice(before.length)
      expect(after, 'one deal per shard, none opened twice').toHaveLength(6)
      expect(new Set(after.map((o) => o.dealId))).toEqual(new Set(resumed.deals.map((d) => d.dealId)))
      expect((await collect(client.get(resumed.link))).equals(Buffer.from(data))).toBe(true)

      // Again: nothing left to do, the same link, no new deal.
      const again = await client.resume(journalId)
      expect(again.link).toBe(resumed.link)
      expect((await dealsOnChain()).slice(before.length)).toHaveLength(6)
      const finished = await new PutJournal(journalDir).read(journalId)
      expect(finished.state).toBe('stored')
      expect(finished.link).toBe(resumed.link)
    }, 120_000)
  }

  it('finds deals that opened but were never recorded (a crash between receipt and write) and opens none again', async () => {
    const data = randomBytes(FILE_BYTES)
    const before = await dealsOnChain()
    const put = await client.put(data)
    const journal = new PutJournal(journalDir)
    const entry = await journal.read(put.journal.id)
    // The entry as a process killed right after its transactions were mined would have left it.
    const crashed: JournalEntry = {
      ...entry,
      id: PutJournal.newId(),
      state: 'opening',
      deals: entry.deals.map(({ dealId: _id, openedBlock: _block, ...rest }) => rest)
    }
    delete crashed.link
    delete crashed.cid
    await journal.write(crashed)
    const resumed = await client.resume(crashed.id)
    expect(resumed.deals.map((d) => d.dealId)).toEqual(put.deals.map((d) => d.dealId))
    expect((await dealsOnChain()).slice(before.length)).toHaveLength(6)
    expect((await collect(client.get(resumed.link))).equals(Buffer.from(data))).toBe(true)
  }, 120_000)

  for (const stop of ['put:batch-recorded', 'put:batch-sent'] as const) {
    it(`abandons a put stopped at ${stop}: nothing more is opened, what was opened is found and reported running, resume is refused`, async () => {
      const before = await dealsOnChain()
      const controller = new AbortController()
      let journalId: string | undefined
      await client
        .put(randomBytes(FILE_BYTES), {
          signal: controller.signal,
          onProgress: (e) => {
            if (e.type === 'put:journal') journalId = e.id
            if (e.type === stop) controller.abort(new Error('stop'))
          }
        })
        .catch(() => {})
      const opened = (await dealsOnChain()).slice(before.length)
      expect(opened).toHaveLength(stop === 'put:batch-sent' ? 6 : 0)
      const r = await client.abandon(journalId!)
      expect(r.neverOpened).toBe(6 - opened.length)
      // The opened deals cannot be cancelled: they run to the end of their term (the market has no early termination).
      expect(r.running.map((d) => d.dealId).sort()).toEqual(opened.map((o) => o.dealId).sort())
      expect((await dealsOnChain()).slice(before.length)).toHaveLength(opened.length)
      await expect(client.resume(journalId!)).rejects.toThrow(/abandoned/)
      const again = await client.abandon(journalId!)
      expect(again.neverOpened).toBe(0)
      const listed = (
        await listFiles(new PutJournal(journalDir), {
          market: { market: net.deployment.market, publicClient: net.publicClient }
        })
      ).files.find((f) => f.id === journalId)!
      expect(listed.health).toBe('abandoned')
      expect(listed.deals.unfunded ?? 0).toBe(6 - opened.length)
      expect(listed.resumable).toBe(false)
    }, 120_000)
  }

  it('does not take an entry of a restarted chain (same chain id and market address) for one of this chain', async () => {
    const put = await client.put(randomBytes(1000))
    const journal = new PutJournal(journalDir)
    const old: JournalEntry = {
      ...(await journal.read(put.journal.id)),
      id: PutJournal.newId(),
      marketTag: `0x${'11'.repeat(32)}`
    }
    await journal.write(old)
    const listed = (
      await listFiles(journal, { market: { market: net.deployment.market, publicClient: net.publicClient } })
    ).files.find((f) => f.id === old.id)!
    expect(listed.otherChain).toBe(true)
    expect(listed.health).toBe('unknown')
    await expect(client.resume(old.id)).rejects.toThrow(/not on this chain's market/)
  }, 120_000)

  it('lists the files with size, cost, deal states and an expiry date from the chain', async () => {
    const data = randomBytes(FILE_BYTES)
    const put = await client.put(data, { name: 'listed.bin' })
    const { files } = await listFiles(new PutJournal(journalDir), {
      market: { market: net.deployment.market, publicClient: net.publicClient }
    })
    const f = files.find((x) => x.id === put.journal.id)!
    expect(f.name).toBe('listed.bin')
    expect(f.link).toBe(put.link)
    expect(f.escrow).toBe(put.escrow)
    expect(f.escrowOpened).toBe(put.escrow)
    expect(f.deals).toEqual({ live: 6 })
    expect(f.health).toBe('healthy')
    expect(f.resumable).toBe(false)
    expect(f.expiresAt!.getTime()).toBeGreaterThan(Date.now())
    const text = await readFile(put.journal.path!, 'utf8')
    expect(JSON.parse(text).key).toBe(Buffer.from(put.key).toString('hex'))
    // No chain: the journal alone still lists it.
    const offline = (await listFiles(new PutJournal(journalDir))).files.find((x) => x.id === put.journal.id)!
    expect(offline.health).toBe('unknown')
    expect(offline.fileSize).toBe(FILE_BYTES)
  }, 120_000)
})

describe('a put whose approval is lost', () => {
  let account: ReturnType<typeof privateKeyToAccount>
  beforeAll(() => {
    account = privateKeyToAccount(net.clientKey)
  })
  const test = (): ReturnType<typeof createTestClient> =>
    createTestClient({ mode: 'anvil', chain: net.publicClient.chain!, transport: http(net.anvil.url) })
  const wallet = (): ReturnType<typeof createWalletClient> =>
    createWalletClient({ account, chain: net.publicClient.chain!, transport: http(net.anvil.url) })
  const ownPool = async (): Promise<Array<{ hash: Hex; nonce: number; to: string | null }>> => {
    const pool = await test().getTxpoolContent()
    const mine = (txs: Record<string, Record<string, { hash: Hex; nonce: number; to: string | null }>>) =>
      Object.entries(txs).flatMap(([from, byNonce]) =>
        from.toLowerCase() === account.address.toLowerCase() ? Object.values(byNonce) : []
      )
    return [...mine(pool.pending as never), ...mine(pool.queued as never)].map((t) => ({
      hash: t.hash,
      nonce: Number(t.nonce),
      to: t.to
    }))
  }
  /** No allowance left over from earlier puts: the put must send an approval. */
  const clearAllowance = async (): Promise<void> => {
    const hash = await wallet().writeContract({
      address: net.deployment.token,
      abi: erc20Abi,
      functionName: 'approve',
      args: [net.deployment.market, 0n],
      account,
      chain: net.publicClient.chain!
    })
    // Mined before the put starts, so the approval found in the pool below is the put's.
    await net.publicClient.waitForTransactionReceipt({ hash })
  }
  const approvalInPool = async (): Promise<{ hash: Hex; nonce: number }> => {
    const deadline = Date.now() + 30_000
    while (Date.now() < deadline) {
      const approval = (await ownPool()).find((t) => t.to?.toLowerCase() === net.deployment.token.toLowerCase())
      if (approval !== undefined) return approval
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
    throw new Error('no approval of the put reached the pool within 30 s')
  }
  const lose = async (loss: 'dropped' | 'replaced', approval: { hash: Hex; nonce: number }): Promise<void> => {
    if (loss === 'dropped') await test().dropTransaction({ hash: approval.hash })
    else {
      const fees = await net.publicClient.estimateFeesPerGas()
      await wallet().sendTransaction({
        to: account.address,
        value: 0n,
        nonce: approval.nonce,
        maxFeePerGas: fees.maxFeePerGas * 3n,
        maxPriorityFeePerGas: fees.maxPriorityFeePerGas * 3n + 1n,
        account,
        chain: net.publicClient.chain!
      })
    }
  }

  for (const loss of ['dropped', 'replaced'] as const) {
    it(`approval ${loss}: no batch is sent behind it, the put fails, and resume opens each deal once`, async () => {
      await clearAllowance()
      const data = randomBytes(FILE_BYTES)
      const before = await dealsOnChain()
      let journalId: string | undefined
      let automineOff: Promise<void> | undefined
      // A source of unknown size: no estimate, so the approval is sent after the upload, not during it.
      const putting = client
        .put(
          (async function* () {
            yield data
          })(),
          {
            onProgress: (e) => {
              // Mining stops while the shards upload (they need no block), so the approval waits in the pool.
              if (e.type === 'put:shard-stored') automineOff ??= test().setAutomine(false)
              if (e.type === 'put:journal') journalId = e.id
            }
          }
        )
        .catch((err: unknown) => err)
      try {
        while (automineOff === undefined) await new Promise((resolve) => setTimeout(resolve, 50))
        await automineOff
        const approval = await approvalInPool()
        // Time for a batch sent right behind the approval to reach the pool.
        await new Promise((resolve) => setTimeout(resolve, 2_000))
        await lose(loss, approval)
        await test().mine({ blocks: 1 })
        const err = await putting
        expect(err).toBeInstanceOf(ChainActionError)
        expect((err as Error).message).toMatch(new RegExp(`approving the market .* was ${loss}`))
        expect(await ownPool(), 'nothing of the account waits in the pool').toEqual([])
      } finally {
        await automineOff
        await test().setAutomine(true)
      }
      expect((await dealsOnChain()).slice(before.length), 'no deal opened').toHaveLength(0)
      const entry = await new PutJournal(journalDir).read(journalId!)
      expect(entry.state).toBe('opening')
      expect(entry.batches, 'no batch was sent').toEqual([])
      const resumed = await client.resume(journalId!)
      expect(resumed.deals.every((d) => d.dealId !== undefined)).toBe(true)
      expect((await dealsOnChain()).slice(before.length), 'one deal per shard').toHaveLength(6)
      expect((await collect(client.get(resumed.link))).equals(Buffer.from(data))).toBe(true)
    }, 120_000)

    it(`approval sent during the upload ${loss}: the put approves again after the upload and opens each deal once`, async () => {
      await clearAllowance()
      const data = randomBytes(FILE_BYTES)
      const before = await dealsOnChain()
      const approvals: bigint[] = []
      await test().setAutomine(false)
      let putting: Promise<unknown> | undefined
      try {
        putting = client
          .put(data, {
            onProgress: (e) => {
              if (e.type === 'put:approved') approvals.push(e.amount)
            }
          })
          .catch((err: unknown) => err)
        await lose(loss, await approvalInPool())
      } finally {
        await test().setAutomine(true)
      }
      await test().mine({ blocks: 1 })
      const result = await putting
      expect(result, String(result)).not.toBeInstanceOf(Error)
      const { link, deals } = result as Awaited<ReturnType<typeof client.put>>
      expect(deals.every((d) => d.dealId !== undefined)).toBe(true)
      expect(approvals, 'one approval mined: the one after the upload').toHaveLength(1)
      expect((await dealsOnChain()).slice(before.length), 'one deal per shard').toHaveLength(6)
      expect(await ownPool()).toEqual([])
      expect((await collect(client.get(link))).equals(Buffer.from(data))).toBe(true)
    }, 120_000)
  }
})

// Last in the file: it moves the chain's clock an hour ahead, and later offers (signed by wall-clock time) would
// live only seconds on this chain.
describe('a put resumed after its offers expired', () => {
  it('asks the same providers for fresh offers for the same shards, records them, and finishes', async () => {
    const data = randomBytes(FILE_BYTES)
    const before = await dealsOnChain()
    const controller = new AbortController()
    let journalId: string | undefined
    await client
      .put(data, {
        signal: controller.signal,
        onProgress: (e) => {
          if (e.type === 'put:journal') {
            journalId = e.id
            controller.abort(new Error('stop'))
          }
        }
      })
      .catch(() => {})
    const journal = new PutJournal(journalDir)
    const entry = await journal.read(journalId!)
    // Fresh offers are signed by wall-clock time: they outlive the chain's jump only by the seconds waited here.
    const FRESH_OFFER_MARGIN_MS = 15_000
    await new Promise((resolve) => setTimeout(resolve, FRESH_OFFER_MARGIN_MS))
    const latestExpiry = entry.deals.reduce((max, d) => (d.offer.expiry > max ? d.offer.expiry : max), 0n)
    // anvil stamps the next block with the wall clock plus the offset set here (the head block may be older).
    const request = net.publicClient.request as unknown as (args: {
      method: string
      params: unknown[]
    }) => Promise<unknown>
    await request({ method: 'evm_increaseTime', params: [Number(latestExpiry) - Math.floor(Date.now() / 1000) + 2] })
    await request({ method: 'evm_mine', params: [] })

    // The old offer is dead on chain, and the error says why in the contract's words.
    const refused = await net.publicClient
      .simulateContract({
        address: net.deployment.market,
        abi: proofSetMarketAbi,
        functionName: 'openDeals',
        args: [[entry.deals[0]!.offer], [entry.deals[0]!.signature]],
        account: privateKeyToAccount(net.clientKey)
      })
      .catch((e: unknown) => e)
    expect(chainActionError('opening', refused).message).toMatch(/\(OfferExpired\); the provider's offer expired/)

    const resumed = await client.resume(journalId!)
    const after = await journal.read(journalId!)
    expect(
      after.deals.every((d, i) => d.offer.nonce !== entry.deals[i]!.offer.nonce),
      'every offer was renewed'
    ).toBe(true)
    expect(resumed.deals.every((d) => d.dealId !== undefined)).toBe(true)
    expect((await dealsOnChain()).slice(before.length)).toHaveLength(6)
    expect((await collect(client.get(resumed.link))).equals(Buffer.from(data))).toBe(true)
  }, 120_000)
})
