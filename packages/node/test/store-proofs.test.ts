// The prover's parts that need no chain: deal proofs from a real LevelDB store (the bytes the market verifies for
// an audit), the status view of the proof-set ledger, and the start flags of the prover.
import { afterEach, describe, expect, it } from 'vitest'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { bytesToHex } from 'viem'
import type { Hex } from 'viem'
import { buildTree } from '@sherd/proofs'
import { proofLength, proveChallenges } from '@sherd/contracts'
import { removeDir, tempDir } from '@sherd/test-support'
import { buildDealProof, initDataDir, ledgerStatus, ShardStore } from '../src/index.js'
import type { ProofSetLedgerDeal, ProofSetLedgerMeta } from '../src/index.js'
import { runToEnd } from './helpers.js'

const dirs: string[] = []
const stores: ShardStore[] = []

afterEach(async () => {
  for (const s of stores.splice(0)) await s.stop().catch(() => {})
  for (const d of dirs.splice(0)) await removeDir(d)
})

async function openStore(): Promise<ShardStore> {
  const dir = await tempDir()
  dirs.push(dir)
  const store = new ShardStore({ path: join(dir, 'store'), capacityBytes: 64 * 1024 * 1024 })
  await store.start()
  stores.push(store)
  return store
}

async function putShard(store: ShardStore, bytes: Uint8Array): Promise<Hex> {
  const root = buildTree(bytes).root
  const writer = await store.beginShard({ root, byteLength: bytes.byteLength })
  for (let at = 0; at < bytes.byteLength; at += 100_000) await writer.write(bytes.subarray(at, at + 100_000))
  await writer.commit()
  return bytesToHex(root)
}

describe('buildDealProof', () => {
  it('proves from re-read chunks exactly what the whole tree proves (the bytes the market verifies)', async () => {
    const store = await openStore()
    for (const size of [1024 * 1024 + 100, 64, 65_536 * 3]) {
      const bytes = new Uint8Array(randomBytes(size))
      const root = await putShard(store, bytes)
      const tree = await store.getTree(Buffer.from(root.slice(2), 'hex'))
      for (let s = 0; s < 3; s++) {
        const seed = bytesToHex(randomBytes(32))
        const proof = await buildDealProof(store, { root, size: BigInt(size) }, seed, 10)
        expect(proof).toBe(proveChallenges(buildTree(bytes), seed, 10))
        expect((proof as string).length / 2 - 1).toBe(proofLength(tree.depth, 10))
        // With the tree cached, the same bytes.
        expect(await buildDealProof(store, { root, size: BigInt(size) }, seed, 10, tree)).toBe(proof)
      }
    }
  })

  it('reports a chunk that does not match the stored tree, or a missing shard, as lost data', async () => {
    const store = await openStore()
    const root = await putShard(store, new Uint8Array(randomBytes(200_000)))
    const liar = {
      has: store.has.bind(store),
      getTree: store.getTree.bind(store),
      readChunk: async (r: Uint8Array, i: number) => {
        const c = await store.readChunk(r, i)
        const x = c.slice()
        x[0]! ^= 1
        return x
      }
    }
    expect(await buildDealProof(liar, { root, size: 200_000n }, bytesToHex(randomBytes(32)), 10)).toMatchObject({
      reason: expect.any(String)
    })
    expect(
      await buildDealProof(store, { root: `0x${'ab'.repeat(32)}`, size: 10n }, bytesToHex(randomBytes(32)), 10)
    ).toMatchObject({ reason: expect.any(String) })
    expect(await buildDealProof(store, { root, size: 200_001n }, bytesToHex(randomBytes(32)), 10)).toMatchObject({
      reason: /200000 bytes/
    })
  })
})

describe('ledger status', () => {
  const deal = (over: Partial<ProofSetLedgerDeal>): ProofSetLedgerDeal => ({
    id: '1',
    root: `0x${'11'.repeat(32)}`,
    size: '1048576',
    leafCount: '16384',
    rangeStart: '0',
    weight: String(1 << 22),
    client: `0x${'22'.repeat(20)}`,
    pricePerPeriod: '5',
    startPeriod: '10',
    endPeriod: '20',
    voidFrom: '20',
    paidFrom: '10',
    state: 'live',
    settled: false,
    openedBlock: '1',
    ...over
  })
  const meta = (over: Partial<ProofSetLedgerMeta>): ProofSetLedgerMeta => ({
    periodsProven: 0,
    periodsProvenLate: 0,
    periodsMarkedMissed: 0,
    paid: '0',
    slashed: '0',
    withdrawn: '0',
    reorgs: 0,
    ...over
  })

  it("counts unclaimed earnings as price × periods proven on time since each deal's last claim, closed periods only", () => {
    const deals = [
      deal({ id: '1', paidFrom: '12' }),
      deal({ id: '2', pricePerPeriod: '7', startPeriod: '13', endPeriod: '30', voidFrom: '30', paidFrom: '13' }),
      // Settled deals owe nothing; a faulted one is paid only for the periods before its fault.
      deal({ id: '3', settled: true, state: 'ended' }),
      deal({ id: '4', state: 'faulted', voidFrom: '12', paidFrom: '10' })
    ]
    const ledger = {
      sorted: () => deals,
      meta: meta({
        periodsProven: 5,
        periodsMarkedMissed: 1,
        paid: '40',
        provenPeriods: ['10', '11', '12', '13', '15']
      })
    }
    const s = ledgerStatus(ledger, 15n)
    // Deal 1: 12, 13 (15 is not closed); deal 2: 13; deal 4: 10, 11.
    expect(s.unclaimed).toBe(String(5 * 2 + 7 * 1 + 5 * 2))
    expect(s).toMatchObject({
      deals: 4,
      earnings: '40',
      periodsProven: 5,
      periodsMissed: 1,
      dealStates: { live: 2, ended: 1, faulted: 1 }
    })
    expect(s.dealList.map((d) => d.id)).toEqual(['4', '3', '2', '1'])
    expect(s.dealList.find((d) => d.id === '1')).toMatchObject({
      periodsProven: 4,
      periodsMissed: 1,
      earned: '20',
      periods: 10
    })
    // A term over counts as ended although no claim has settled it yet.
    expect(ledgerStatus(ledger, 25n).dealStates).toMatchObject({ live: 1, ended: 2 })
  })
})

describe('sherd-node start prover flags', () => {
  it('refuses bad values with a message that names the flag', async () => {
    const dir = await tempDir()
    dirs.push(dir)
    await initDataDir(dir)
    const misses = await runToEnd(['start', '--data-dir', dir, '--http-port', '0', '--report-misses', 'maybe'])
    expect(misses.code).toBe(1)
    expect(misses.stderr).toMatch(/--report-misses takes on or off, got "maybe"/)
    const every = await runToEnd(['start', '--data-dir', dir, '--http-port', '0', '--withdraw-every', '1.5'])
    expect(every.code).toBe(1)
    expect(every.stderr).toMatch(/--withdraw-every must be a whole number/)
    const term = await runToEnd(['start', '--data-dir', dir, '--http-port', '0', '--max-term', '0'])
    expect(term.code).toBe(1)
    expect(term.stderr).toMatch(/--max-term must be a whole number of periods/)
  })
})
