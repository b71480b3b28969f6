import { logger } from '@libp2p/logger'
import { ChunkMismatchError, ChunkTreeDecodeError, verifyProof } from '@sherd/proofs'
import type { ChunkTree, MerkleProof } from '@sherd/proofs'
import { proofSetRevertName } from '@sherd/contracts'
import type { ProvableTree } from '@sherd/contracts'
import { hexToBytes } from 'viem'
import type { Hex, TransactionReceipt } from 'viem'
import { NotFoundError, RangeNotSatisfiableError } from '../errors.js'
import { fitIdBatches, ID_BATCH_SIZE, sendCall } from './batching.js'
import type { ProverContext, ProverStore } from './context.js'
import type { ProofSetLedgerDeal } from './ledger.js'

const log = logger('sherd:node:proof-set:faults')

/** Why a deal's data cannot answer a challenge (the store lacks it, or its bytes do not match the root). */
export interface Lost {
  reason: string
}

/** A store failure that means "this data is not here" rather than "try again". */
function isLoss(err: unknown): boolean {
  return (
    err instanceof NotFoundError ||
    err instanceof RangeNotSatisfiableError ||
    err instanceof ChunkMismatchError ||
    err instanceof ChunkTreeDecodeError
  )
}

/**
 * The proofs of `leaves` of one deal from the store's cached chunk tree and one re-read chunk per leaf, each
 * checked against the deal's root before it is used. Returns a tree that proves exactly those leaves, or `Lost`
 * when the shard is gone, has another size, or a chunk fails verification; any other failure (the store closing,
 * an I/O error) is thrown, so a transient problem never turns into a fault flag.
 */
export async function proveDealLeaves(
  store: ProverStore,
  deal: { root: Hex; size: bigint },
  leaves: readonly number[],
  cachedTree?: ChunkTree
): Promise<ProvableTree | Lost> {
  const root = hexToBytes(deal.root)
  let tree: ChunkTree
  try {
    tree = cachedTree ?? (await store.getTree(root))
  } catch (err) {
    if (isLoss(err)) return { reason: (err as Error).message }
    throw err
  }
  if (BigInt(tree.byteLength) !== deal.size)
    return { reason: `the stored shard has ${tree.byteLength} bytes, the deal ${deal.size}` }
  const proofs = new Map<number, MerkleProof>()
  const chunks = new Map<number, Uint8Array>()
  for (const leaf of leaves) {
    if (proofs.has(leaf)) continue
    const { chunkIndex } = tree.chunkRange(leaf)
    try {
      let chunk = chunks.get(chunkIndex)
      if (chunk === undefined) {
        chunk = await store.readChunk(root, chunkIndex)
        chunks.set(chunkIndex, chunk)
      }
      const proof = tree.proveFromChunk(leaf, chunk)
      if (!verifyProof(root, tree.depth, proof)) return { reason: `leaf ${leaf} does not verify against the root` }
      proofs.set(leaf, proof)
    } catch (err) {
      if (isLoss(err)) return { reason: (err as Error).message }
      throw err
    }
  }
  return {
    depth: tree.depth,
    leafCount: tree.leafCount,
    prove: (index: number) => {
      const proof = proofs.get(index)
      if (proof === undefined) throw new RangeError(`leaf ${index} was not read for this challenge`)
      return proof
    }
  }
}

export function isLost(x: ProvableTree | Lost): x is Lost {
  return 'reason' in x
}

/**
 * Declares deals lost whose shards the store no longer holds, before the current period's challenge block (a
 * DECLARED_SLASH_BPS slash, instead of the whole collateral a failed challenge costs). Checked once per period,
 * by root (many deals may share one), while the declaration window is open.
 */
export class FaultDeclarer {
  private checkedPeriod: bigint | undefined
  private batchSize = ID_BATCH_SIZE
  /** Declared in this process but not folded into the ledger yet: not sent twice. */
  private readonly sent = new Set<string>()
  readonly declared: bigint[] = []

  constructor(private readonly ctx: ProverContext) {}

  /** Deals live in or after `period`, not under audit, whose shard is missing from the store. */
  async lostDeals(period: bigint): Promise<ProofSetLedgerDeal[]> {
    const held = new Map<string, boolean>()
    const lost: ProofSetLedgerDeal[] = []
    for (const d of this.ctx.ledger.sorted()) {
      if (
        d.state !== 'live' ||
        d.settled ||
        BigInt(d.voidFrom) <= period ||
        d.auditPeriod !== undefined ||
        this.sent.has(d.id)
      )
        continue
      let has = held.get(d.root)
      if (has === undefined) {
        has = await this.ctx.store.has(hexToBytes(d.root))
        held.set(d.root, has)
      }
      if (!has) lost.push(d)
    }
    return lost
  }

  async step(head: bigint): Promise<TransactionReceipt[]> {
    const { clock, ledger } = this.ctx
    const pending = head + 1n
    const period = clock.periodOf(pending)
    if (pending > clock.challengeBlock(period) || this.checkedPeriod === period) return []
    for (const id of this.sent) if (ledger.deal(id)?.state !== 'live') this.sent.delete(id)
    const lost = await this.lostDeals(period)
    const receipts: TransactionReceipt[] = []
    if (lost.length > 0) {
      const ids = lost.map((d) => BigInt(d.id))
      log.error(
        'period %s: %d deal(s) have no data in the store any more; declaring them lost: %s',
        String(period),
        ids.length,
        ids.join(', ')
      )
      try {
        const { batches, size } = await fitIdBatches(
          this.ctx.mc,
          ids,
          (list) => ({ functionName: 'declareLost', args: [list] }),
          this.batchSize
        )
        this.batchSize = size
        for (const list of batches) {
          const { receipt } = await this.ctx.txQueue.run(
            async () =>
              await sendCall(this.ctx.mc, { functionName: 'declareLost', args: [list] }, { signal: this.ctx.attempt() })
          )
          for (const id of list) {
            this.sent.add(id.toString())
            this.declared.push(id)
          }
          receipts.push(receipt)
        }
      } catch (err) {
        const revert = proofSetRevertName(err)
        // Too late in the period, or a deal changed state under us: next period's check sees the new state,
        // and a challenge on such a deal meanwhile is answered with a fault flag.
        if (revert === undefined) throw err
        log.error('declaring lost refused (%s); a challenge on these deals will flag them instead', revert)
      }
    }
    this.checkedPeriod = period
    return receipts
  }
}
