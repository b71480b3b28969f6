import { afterAll, describe, expect, it } from 'vitest'
import { parseEventLogs } from 'viem'
import { storageMarketAbi } from '@sherd/contracts'
import {
  corruptShardOnDisk, deals, deleteShardOnDisk, randomBytes, readAll, sha256, shardsOf, startNetwork, waitForDeals
} from './helpers.js'
import type { Network } from './helpers.js'

const K = 2
const M = 2
/** 1 MiB shards: 16 chunks of 64 KiB, each of which the corrupting provider damages. */
const FILE_BYTES = 2 * 1024 * 1024 - 4096

describe('a provider that loses or damages a shard', () => {
  let net: Network | undefined
  afterAll(async () => { await net?.stop() })

  it('is caught by challenges, slashed until its deal fails, and the file is repaired elsewhere', async () => {
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
    expect(await corruptShardOnDisk(corrupted.provider, corrupted.root)).toBe(Math.ceil(corrupted.byteLength / (64 * 1024)))
    await Promise.all([deleted.provider.start(), corrupted.provider.start()])

    // Challenges catch both: periods missed and marked by the other providers, stake slashed, deals failed.
    const F = devnet.params.maxMissedPeriods
    const bad = [deleted.dealId, corrupted.dealId]
    const failed = await waitForDeals(devnet, bad, 'both deals to fail', (d) => d.state === 'failed', (F + 3) * devnet.params.periodBlocks * 1_000 + 30_000)
    // They were up the whole time: the challenges, not an outage, found them out.
    expect([deleted.provider.state, corrupted.provider.state]).toEqual(['running', 'running'])
    for (const d of failed) {
      expect(d.missedPeriods).toBe(F)
      expect(d.slashed).toBeGreaterThan(0n)
    }
    const logs = await devnet.publicClient.getLogs({ address: devnet.market, fromBlock })
    const missed = parseEventLogs({ abi: storageMarketAbi, logs, eventName: 'PeriodMissed' })
    for (const id of bad) {
      const marks = missed.filter((e) => e.args.dealId === id)
      expect(marks).toHaveLength(F)
      // Marked by the other providers (anyone may mark; the reporter earns part of the slash).
      expect(marks.every((e) => e.args.slashed > 0n && e.args.reward > 0n)).toBe(true)
    }
    expect(parseEventLogs({ abi: storageMarketAbi, logs, eventName: 'DealFailed' }).map((e) => e.args.dealId).sort()).toEqual([...bad].sort())
    // The honest providers kept proving throughout.
    expect((await deals(devnet, healthy.map((s) => s.dealId))).map((d) => [d.state, d.missedPeriods])).toEqual([['active', 0], ['active', 0]])

    // The client repairs: both shards are rebuilt from the two good ones and placed on the spare providers.
    const repaired = await client.repair(put.link)
    expect(repaired.repaired.map((r) => r.shardIndex).sort()).toEqual([deleted.shardIndex, corrupted.shardIndex].sort())
    const holders = new Set(shards.map((s) => s.provider.peerId))
    for (const r of repaired.repaired) {
      expect(r.previousState).toBe('failed')
      expect(holders.has(r.to)).toBe(false)
    }
    const newDeals = await deals(devnet, repaired.repaired.map((r) => r.dealId!))
    expect(newDeals.map((d) => d.state)).toEqual(['active', 'active'])
    const stat = await client.stat(repaired.link)
    expect(stat.healthy).toBe(true)
    expect(sha256(await readAll(client, repaired.link))).toBe(sha256(data))

    await net.stop()
  }, 300_000)
})
