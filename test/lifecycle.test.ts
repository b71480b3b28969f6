import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { afterAll, describe, expect, it } from 'vitest'
import { erc20Abi } from 'viem'
import { getWithdrawable } from '@sherd/contracts'
import { defaultNodeCommand } from '@sherd/devnet'
import { deals, randomBytes, readAll, sha256, shardsOf, startNetwork, waitFor, waitForDeals } from './helpers.js'
import type { Network } from './helpers.js'

const run = promisify(execFile)

/** Periods every deal must have proven (and been paid for) before the file is read back. */
const PERIODS_TO_PROVE = 3

describe('the life of a file', () => {
  let net: Network | undefined
  afterAll(async () => { await net?.stop() })

  it(`is stored, proven and paid for over ${PERIODS_TO_PROVE} periods, and read back byte-identical`, async () => {
    net = await startNetwork({ providers: 3, client: { k: 2, m: 1 } })
    const { devnet, client } = net
    const data = randomBytes(3 * 1024 * 1024 + 12_345)
    const put = await client.put(data)
    const shards = shardsOf(devnet, put)
    expect(shards).toHaveLength(3)
    expect(new Set(shards.map((s) => s.provider.index)).size).toBe(3)
    const ids = shards.map((s) => s.dealId)

    // Every deal is active (its provider proved it holds the shard) and then proven period after period.
    const activated = await deals(devnet, ids)
    expect(activated.map((d) => d.state)).toEqual(['active', 'active', 'active'])
    const escrowAtStart = activated.map((d) => d.escrow)
    const proven = await waitForDeals(devnet, ids, `${PERIODS_TO_PROVE} proven periods per deal`,
      (d) => d.provenPeriods >= PERIODS_TO_PROVE, (PERIODS_TO_PROVE + 3) * devnet.params.periodBlocks * 1_000 + 30_000)
    for (const [i, d] of proven.entries()) {
      expect(d.missedPeriods, `deal ${d.id} missed no period`).toBe(0)
      // Each proven period moved one period's price from the client's escrow to the provider.
      expect(escrowAtStart[i]! - d.escrow).toBe(BigInt(d.provenPeriods) * d.pricePerPeriod)
    }

    // The providers were paid: the market owes each what it proved, and each node's own record agrees.
    for (const s of shards) {
      const d = proven.find((x) => x.id === s.dealId)!
      const owed = await getWithdrawable(devnet.marketClient(), s.provider.chainAddress)
      expect(owed).toBeGreaterThanOrEqual(BigInt(d.provenPeriods) * d.pricePerPeriod)
      // The node learns of its proofs from their receipts: its record may trail the chain by a poll.
      await waitFor(`provider ${s.provider.index}'s own record of ${d.provenPeriods} proven periods`,
        async () => (await s.provider.status()).chain.periodsProven >= d.provenPeriods, 10_000)
      expect(BigInt((await s.provider.status()).chain.earnings)).toBeGreaterThanOrEqual(BigInt(d.provenPeriods) * d.pricePerPeriod)
    }

    // A provider takes its earnings out with the CLI; its token balance grows by what it withdrew.
    const payee = shards[0]!.provider
    const balance = async (): Promise<bigint> => await devnet.publicClient.readContract({ address: devnet.token, abi: erc20Abi, functionName: 'balanceOf', args: [payee.chainAddress] })
    const before = await balance()
    const [file, ...prefix] = defaultNodeCommand()
    const { stdout } = await run(file!, [...prefix, 'withdraw', '--data-dir', payee.dataDir])
    const withdrawn = BigInt((JSON.parse(stdout) as { withdrawnBaseUnits: string }).withdrawnBaseUnits)
    expect(withdrawn).toBeGreaterThan(0n)
    expect(await balance()).toBe(before + withdrawn)

    // The file reads back byte for byte.
    expect(sha256(await readAll(client, put.link))).toBe(sha256(data))
    const stat = await client.stat(put.link)
    expect(stat.healthy).toBe(true)
    expect(stat.segments[0]!.shards.map((s) => s.state)).toEqual(['proving', 'proving', 'proving'])

    await net.stop()
  }, 240_000)
})
