import { getProofSetDeal, getProofSetPeriod, proofSetLeafCount } from '@sherd/contracts'
import { parseShardCid } from '@sherd/protocol'
import type { Manifest } from '@sherd/protocol'
import { bytesToHex } from 'viem'
import type { ChainContext } from './context.js'

/**
 * A deal an interrupted repair already opened (and paid for) for a rebuilt shard, before its new manifest was
 * stored: `repair({ adopt })` takes it into the new manifest instead of placing and paying for that shard again.
 */
export interface AdoptedDeal {
  readonly segmentIndex: number
  readonly shardIndex: number
  /** The provider's peer id. */
  readonly provider: string
  readonly dealId: bigint
}

/**
 * The adoptable deals, keyed `segment/shard`: each must be this account's live deal (not settled, not void in the
 * current period) for exactly that shard's root and leaf count, with the provider's registered chain address. Anything else is
 * dropped (the shard is then rebuilt and placed as usual), so a stale or wrong record costs a new deal, never a
 * manifest that names a deal that does not hold the shard.
 */
export async function verifyAdoptedDeals(
  ctx: ChainContext,
  manifest: Manifest,
  adopt: readonly AdoptedDeal[]
): Promise<Map<string, AdoptedDeal>> {
  const out = new Map<string, AdoptedDeal>()
  if (adopt.length === 0) return out
  const { period } = await getProofSetPeriod(ctx.market)
  for (const a of adopt) {
    const shard = manifest.segments[a.segmentIndex]?.shards[a.shardIndex]
    if (shard === undefined) continue
    let deal
    try {
      deal = await getProofSetDeal(ctx.market, a.dealId)
    } catch {
      continue
    }
    const { root, byteLength } = parseShardCid(shard.commitment)
    const chainAddress = ctx.directory.describe(a.provider).chainAddress
    if (deal.state !== 'live' || deal.settled || period >= deal.voidFrom) continue
    if (deal.client.toLowerCase() !== ctx.account.toLowerCase()) continue
    if (
      deal.root.toLowerCase() !== bytesToHex(root).toLowerCase() ||
      deal.leafCount !== proofSetLeafCount(BigInt(byteLength))
    )
      continue
    if (chainAddress === undefined || chainAddress.toLowerCase() !== deal.provider.toLowerCase()) continue
    out.set(`${a.segmentIndex}/${a.shardIndex}`, a)
  }
  return out
}
