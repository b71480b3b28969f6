import { afterAll, describe, expect, it } from 'vitest'
import { proofSetMarketAbi, readProofSetEvents } from '@sherd/contracts'
import {
  corruptShardOnDisk,
  deals,
  deleteShardOnDisk,
  periodStatus,
  randomBytes,
  readAll,
  sha256,
  shardsOf,
  startNetwork,
  waitForDeals
} from './helpers.js'
import type { Network } from './helpers.js'

const K = 2
const M = 2
/** 1 MiB shards: 16 chunks of 64 KiB, each of which the corrupting provider damages. */
const FILE_BYTES = 2 * 1024 * 1024 - 4096

describe('a provider that loses or damages a shard', () => {
  let net: Network | undefined
  afterAll(async () => {
    await net?.stop()
  })

  it('is caught (a declared loss, or a failed challenge slashing the whole collateral), and the file is repaired elsewhere', async () => {
    // k + m = 4 shards on 6 providers: two spares to repair onto.
    net = await startNetwork({ providers: K + M + 2, client: { k: K, m: M } })
    const { devnet, client } = net
    const data = randomBytes(FILE_BYTES)
    const put = await client.put(data)
    const shards = shardsOf(devnet, put)
    const [deleted, corrupted, ...healthy] = shards
    if (deleted === undefined || corrupted === undefined) throw new Error('expected 4 shards')
    const fromBlock = await devnet.publicClient.getBlockNumber({ cacheTime: 0 })

    // One operator deletes the shard, another's disk rots under it; both come back as if nothing happened.
    await Promise.all([deleted.provider.stop(), corrupted.provider.stop()])
    await deleteShardOnDisk(deleted.provider, deleted.root)
    expect(await corruptShardOnDisk(corrupted.provider, corrupted.root)).toBe(
      Math.ceil(corrupted.byteLength / (64 * 1024))
    )
    await Promise.all([deleted.provider.start(), corrupted.provider.start()])

    // A provider whose store lost the shard declares it lost before a period's challenge block (a 25 % slash), or a
    // challenge lands on it first; a shard still there but rotten fails its challenge: every challenge of a
    // one-deal proof set lands on that deal, and the leaf does not verify, so the deal faults, collateral slashed.
    const bad = [deleted.dealId, corrupted.dealId]
    const periodMs = devnet.params.periodBlocks * 1_000
    const voided = await waitForDeals(
      devnet,
      bad,
      'both deals to be voided',
      (d) => d.state === 'declared' || d.state === 'faulted',
      6 * periodMs + 60_000
    )
    // They were up the whole time: the challenges (and the store check), not an outage, found them out.
    expect([deleted.provider.state, corrupted.provider.state]).toEqual(['running', 'running'])
    expect(voided[1]!.state).toBe('faulted')
    const market = devnet.marketClient()
    const faulted = await readProofSetEvents(market, { eventName: 'DealFaulted', fromBlock })
    const declared = await readProofSetEvents(market, { eventName: 'DealDeclaredLost', fromBlock })
    const corruptFault = faulted.find((e) => e.args.dealId === corrupted.dealId)
    expect(corruptFault?.args.slashed).toBeGreaterThan(0n)
    const deletedEvent = [...faulted, ...declared].find((e) => e.args.dealId === deleted.dealId)
    expect(deletedEvent?.args.slashed).toBeGreaterThan(0n)
    expect(voided[0]!.state).toBe(deletedEvent?.eventName === 'DealDeclaredLost' ? 'declared' : 'faulted')
    // No period of the good shards' providers was missed meanwhile.
    expect(
      (
        await deals(
          devnet,
          healthy.map((s) => s.dealId)
        )
      ).map((d) => [d.state, d.missed])
    ).toEqual([
      ['live', 0],
      ['live', 0]
    ])
    const now = await devnet.publicClient.readContract({
      address: devnet.market,
      abi: proofSetMarketAbi,
      functionName: 'currentPeriod'
    })
    for (const s of healthy) {
      const start = (await deals(devnet, [s.dealId]))[0]!.startPeriod
      for (let q = start; q < now; q++)
        expect(await periodStatus(devnet, s.provider, q), `provider ${s.provider.index}, period ${q}`).toBe('proven')
    }

    // The client repairs: both shards are rebuilt from the two good ones and placed on the spare providers.
    const repaired = await client.repair(put.link)
    expect(repaired.repaired.map((r) => r.shardIndex).sort()).toEqual([deleted.shardIndex, corrupted.shardIndex].sort())
    const holders = new Set(shards.map((s) => s.provider.peerId))
    for (const r of repaired.repaired) {
      expect(['declared', 'faulted']).toContain(r.previousState)
      expect(holders.has(r.to)).toBe(false)
    }
    const newDeals = await deals(
      devnet,
      repaired.repaired.map((r) => r.dealId!)
    )
    expect(newDeals.map((d) => d.state)).toEqual(['live', 'live'])
    const stat = await client.stat(repaired.link)
    expect(stat.healthy).toBe(true)
    expect(sha256(await readAll(client, repaired.link))).toBe(sha256(data))

    await net.stop()
  }, 300_000)
})
