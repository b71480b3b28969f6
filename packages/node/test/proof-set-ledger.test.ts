// The proof-set ledger on a real LevelDB (the store's sublevel): batches with undo checkpoints, rollback to an
// ancestor block, pruning, and the pure rules the prover's jobs decide with.
import { afterEach, describe, expect, it } from 'vitest'
import type { Address, Hex } from 'viem'
import { removeDir, tempDir } from '@sherd/test-support'
import { claimable, dealAt, LEDGER_CHECKPOINTS, LedgerMismatchError, ProofSetLedger, ShardStore } from '../src/index.js'
import type { ProofSetLedgerDeal } from '../src/index.js'

const owner = {
  market: '0x00000000000000000000000000000000000000aa' as Address,
  provider: '0x00000000000000000000000000000000000000bb' as Address
}
const hash = (n: number): Hex => `0x${n.toString(16).padStart(64, '0')}`

function deal(id: number, over: Partial<ProofSetLedgerDeal> = {}): ProofSetLedgerDeal {
  return {
    id: String(id),
    root: hash(1000 + id),
    size: '4096',
    leafCount: '64',
    rangeStart: String((id - 1) * 2 ** 22),
    weight: String(2 ** 22),
    client: '0x00000000000000000000000000000000000000cc',
    pricePerPeriod: '10',
    startPeriod: '1',
    endPeriod: '5',
    voidFrom: '5',
    paidFrom: '1',
    state: 'live',
    settled: false,
    openedBlock: '1',
    ...over
  }
}

let dir: string | undefined
let store: ShardStore | undefined

async function open(): Promise<ProofSetLedger> {
  dir ??= await tempDir()
  store = new ShardStore({ path: dir, capacityBytes: 1 << 20 })
  await store.start()
  const ledger = new ProofSetLedger(store.sublevel('proof-set'))
  await ledger.start(owner)
  return ledger
}

afterEach(async () => {
  await store?.stop()
  store = undefined
  if (dir !== undefined) await removeDir(dir)
  dir = undefined
})

async function checkpointBlocks(ledger: ProofSetLedger): Promise<string[]> {
  const out: string[] = []
  for await (const cp of ledger.checkpoints()) out.push(cp.block)
  return out
}

describe('ProofSetLedger', () => {
  it('undoes the batches after an ancestor block, durably', async () => {
    let ledger = await open()
    let tx = ledger.begin()
    tx.put(deal(1))
    tx.meta.periodsProven++
    await tx.commit(10n, hash(10))
    tx = ledger.begin()
    tx.put(deal(2))
    await tx.commit(20n, hash(20))
    tx = ledger.begin()
    tx.deal(1n)!.state = 'faulted'
    tx.deal(2n)!.paidFrom = '3'
    tx.put(deal(3))
    tx.meta.periodsProven++
    await tx.commit(30n, hash(30))
    expect(ledger.sorted().map((d) => d.id)).toEqual(['1', '2', '3'])
    expect(ledger.meta.periodsProven).toBe(2)

    await ledger.rollBack(20n)
    expect(ledger.sorted().map((d) => d.id)).toEqual(['1', '2'])
    expect(ledger.deal(1n)!.state).toBe('live')
    expect(ledger.deal(2n)!.paidFrom).toBe('1')
    expect(ledger.meta).toMatchObject({ cursor: '20', cursorHash: hash(20), periodsProven: 1, reorgs: 1 })
    expect(await checkpointBlocks(ledger)).toEqual(['20', '10'])

    await store!.stop()
    ledger = await open()
    expect(ledger.sorted().map((d) => d.id)).toEqual(['1', '2'])
    expect(ledger.meta).toMatchObject({ cursor: '20', periodsProven: 1, reorgs: 1 })

    // A fork below every checkpoint: start over.
    await ledger.rollBack(undefined)
    expect(ledger.size).toBe(0)
    expect(ledger.meta.cursor).toBeUndefined()
    expect(ledger.meta.reorgs).toBe(2)
    expect(await checkpointBlocks(ledger)).toEqual([])
  })

  it('keeps the newest LEDGER_CHECKPOINTS checkpoints', async () => {
    const ledger = await open()
    for (let b = 1; b <= LEDGER_CHECKPOINTS + 5; b++) {
      const tx = ledger.begin()
      tx.put(deal(b))
      await tx.commit(BigInt(b), hash(b))
    }
    const blocks = await checkpointBlocks(ledger)
    expect(blocks).toHaveLength(LEDGER_CHECKPOINTS)
    expect(blocks[0]).toBe(String(LEDGER_CHECKPOINTS + 5))
    expect(blocks.at(-1)).toBe('6')
  })

  it('refuses a data dir written for another market or provider', async () => {
    await open()
    const other = new ProofSetLedger(store!.sublevel('proof-set'))
    await expect(other.start({ ...owner, provider: '0x00000000000000000000000000000000000000dd' })).rejects.toThrow(
      LedgerMismatchError
    )
  })
})

describe('proof-set rules', () => {
  it('finds the deal whose range holds a challenge index', () => {
    const deals = [deal(1), deal(2, { weight: String(2 ** 23) }), deal(3, { rangeStart: String(3 * 2 ** 22) })]
    expect(dealAt(deals, 0n)?.id).toBe('1')
    expect(dealAt(deals, BigInt(2 ** 22) - 1n)?.id).toBe('1')
    expect(dealAt(deals, BigInt(2 ** 22))?.id).toBe('2')
    expect(dealAt(deals, BigInt(3 * 2 ** 22) - 1n)?.id).toBe('2')
    expect(dealAt(deals, BigInt(3 * 2 ** 22))?.id).toBe('3')
    expect(dealAt(deals, BigInt(4 * 2 ** 22))).toBeUndefined()
  })

  it('claims a deal only when a claim would move it', () => {
    const d = deal(1, { startPeriod: '1', paidFrom: '1', endPeriod: '5', voidFrom: '5' })
    expect(claimable(d, 1n, 1n)).toBe(false)
    expect(claimable(d, 3n, 3n)).toBe(true)
    expect(claimable({ ...d, paidFrom: '3' }, 3n, 3n)).toBe(false)
    // Term over and paid through its end: claimable once the provider has answered every period (collateral).
    expect(claimable({ ...d, paidFrom: '5' }, 6n, 4n)).toBe(false)
    expect(claimable({ ...d, paidFrom: '5' }, 6n, 5n)).toBe(true)
    expect(claimable({ ...d, settled: true }, 9n, 9n)).toBe(false)
  })
})
