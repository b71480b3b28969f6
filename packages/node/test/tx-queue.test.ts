// TxQueue against a fake chain of one account: each job reads the pending nonce, sends, and waits for its
// receipt, as viem's writeContract does. Run at once, such jobs read the same nonce (the fake refuses the second
// as "nonce too low"); through the queue they take consecutive nonces, and a revert or a dropped transaction
// fails its own caller only, without leaving a gap that would block every later transaction.
import { describe, expect, it } from 'vitest'
import { TxQueue } from '../src/index.js'

type Outcome = 'success' | 'revert' | 'drop'

interface SentTx {
  nonce: number
  label: string
  outcome: Outcome
}

class NonceTooLowError extends Error {}
class RevertedError extends Error {}
class DroppedError extends Error {}

/** One account's view of a chain: a mempool keyed by nonce, blocks mined on demand, txs evicted on demand. */
class FakeChain {
  /** Mined transactions, in nonce order (a reverted one is mined and uses its nonce). */
  readonly mined: Array<SentTx & { status: 'success' | 'reverted' }> = []
  private readonly pool = new Map<number, SentTx>()
  private readonly waiting = new Map<number, Array<() => void>>()
  /** Nonces sent while lower ones were missing (a gap: nothing from the account is mined until it is filled). */
  readonly gaps: number[] = []

  /** What eth_getTransactionCount(…, 'pending') answers: mined count plus the contiguous pool run after it. */
  pendingNonce(): number {
    let n = this.mined.length
    while (this.pool.has(n)) n++
    return n
  }

  send(tx: SentTx): void {
    if (tx.nonce < this.mined.length || this.pool.has(tx.nonce))
      throw new NonceTooLowError(`nonce too low: ${tx.nonce} (${tx.label})`)
    if (tx.nonce > this.pendingNonce()) this.gaps.push(tx.nonce)
    this.pool.set(tx.nonce, tx)
    // A block follows on the next turn of the event loop, as on automine anvil.
    setImmediate(() => {
      this.mine()
    })
  }

  /** Mines the contiguous run of pooled txs; a tx marked 'drop' is evicted instead (a node restart, a full pool). */
  private mine(): void {
    for (;;) {
      const next = this.pool.get(this.mined.length)
      if (next === undefined) return
      this.pool.delete(next.nonce)
      if (next.outcome === 'drop') {
        this.settle(next.nonce)
        return
      }
      this.mined.push({ ...next, status: next.outcome === 'revert' ? 'reverted' : 'success' })
      this.settle(next.nonce)
    }
  }

  private settle(nonce: number): void {
    for (const wake of this.waiting.get(nonce) ?? []) wake()
    this.waiting.delete(nonce)
  }

  /** Resolves with the receipt, or rejects when the tx left the pool without being mined. */
  async receipt(nonce: number): Promise<'success' | 'reverted'> {
    const found = (): 'success' | 'reverted' | undefined => this.mined.find((t) => t.nonce === nonce)?.status
    if (found() === undefined && this.pool.has(nonce)) {
      await new Promise<void>((resolve) => {
        this.waiting.set(nonce, [...(this.waiting.get(nonce) ?? []), resolve])
      })
    }
    const status = found()
    if (status === undefined) throw new DroppedError(`transaction with nonce ${nonce} was dropped`)
    return status
  }
}

/** A job as the prover's: read the pending nonce (one RPC round trip), send, wait for the receipt. */
function sender(
  chain: FakeChain,
  label: string,
  outcome: Outcome = 'success',
  inFlight?: { now: number; max: number }
) {
  return async (): Promise<number> => {
    if (inFlight !== undefined) inFlight.max = Math.max(inFlight.max, ++inFlight.now)
    try {
      await new Promise((resolve) => setImmediate(resolve))
      const nonce = chain.pendingNonce()
      await new Promise((resolve) => setImmediate(resolve))
      chain.send({ nonce, label, outcome })
      const status = await chain.receipt(nonce)
      if (status === 'reverted') throw new RevertedError(`${label} reverted`)
      return nonce
    } finally {
      if (inFlight !== undefined) inFlight.now--
    }
  }
}

describe('TxQueue (fake chain)', () => {
  it('the fake chain refuses a second send of the same nonce when jobs run without the queue', async () => {
    const chain = new FakeChain()
    const results = await Promise.allSettled(['a', 'b', 'c'].map(async (label) => await sender(chain, label)()))
    expect(results.filter((r) => r.status === 'rejected').map((r) => (r as PromiseRejectedResult).reason)).toEqual([
      expect.any(NonceTooLowError),
      expect.any(NonceTooLowError)
    ])
    expect(chain.mined).toHaveLength(1)
  })

  it('runs concurrent jobs one at a time in call order: consecutive nonces, all mined, no gap', async () => {
    const chain = new FakeChain()
    const queue = new TxQueue()
    const inFlight = { now: 0, max: 0 }
    const labels = ['prove', 'claim', 'withdraw', 'declareLost', 'markMissed']
    const nonces = await Promise.all(
      labels.map(async (label) => await queue.run(sender(chain, label, 'success', inFlight)))
    )
    expect(nonces).toEqual([0, 1, 2, 3, 4])
    expect(inFlight.max).toBe(1)
    expect(chain.mined.map((t) => [t.nonce, t.label, t.status])).toEqual(
      labels.map((label, i) => [i, label, 'success'])
    )
    expect(chain.gaps).toEqual([])
  })

  it('a reverted transaction fails its caller only; it used its nonce, and the next job takes the one after', async () => {
    const chain = new FakeChain()
    const queue = new TxQueue()
    const first = queue.run(sender(chain, 'prove'))
    const reverted = queue.run(sender(chain, 'claim', 'revert'))
    const after = queue.run(sender(chain, 'withdraw'))
    await expect(reverted).rejects.toThrow(RevertedError)
    expect([await first, await after]).toEqual([0, 2])
    expect(chain.mined.map((t) => t.status)).toEqual(['success', 'reverted', 'success'])
    expect(chain.gaps).toEqual([])
  })

  it('a dropped transaction fails its caller; the next job reuses its nonce, so no gap blocks the account', async () => {
    const chain = new FakeChain()
    const queue = new TxQueue()
    const dropped = queue.run(sender(chain, 'prove', 'drop'))
    const resent = queue.run(sender(chain, 'prove again'))
    const later = queue.run(sender(chain, 'claim'))
    await expect(dropped).rejects.toThrow(DroppedError)
    expect([await resent, await later]).toEqual([0, 1])
    expect(chain.mined.map((t) => [t.nonce, t.label])).toEqual([
      [0, 'prove again'],
      [1, 'claim']
    ])
    expect(chain.gaps).toEqual([])
  })

  it('a job that throws before it sends does not stop the queue', async () => {
    const chain = new FakeChain()
    const queue = new TxQueue()
    const broken = queue.run(() => {
      throw new Error('could not build the proof')
    })
    const next = queue.run(sender(chain, 'claim'))
    await expect(broken).rejects.toThrow('could not build the proof')
    expect(await next).toBe(0)
  })

  it('holds every later job while one waits for its receipt, and starts the next only once it settles', async () => {
    const chain = new FakeChain()
    const queue = new TxQueue()
    const { promise: held, resolve: release } = Promise.withResolvers<void>()
    const started: string[] = []
    const slow = queue.run(async () => {
      started.push('slow')
      await held
      return -1
    })
    const next = queue.run(async () => {
      started.push('next')
      return await sender(chain, 'next')()
    })
    for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve))
    expect(started).toEqual(['slow'])
    release()
    expect(await slow).toBe(-1)
    expect(await next).toBe(0)
    expect(started).toEqual(['slow', 'next'])
  })
})
