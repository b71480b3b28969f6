import { challengeIndices } from '@sherd/proofs'
import { randomBytes } from 'node:crypto'
import { bytesToHex, hexToBytes } from 'viem'
import { afterAll, beforeAll, expect, test } from 'vitest'
import { ACTIVATION_PERIOD, deriveActivationSeed, deriveChallengeSeed, getActivationSeed, getChallengeSeed, storageMarketAbi } from '../src/index.js'
import { activeDeals, deployMarket, enterProofWindow, openTestDeal, randomShard, startChain, TOKEN } from './helpers.js'
import type { Chainside } from './helpers.js'
import { registerProvider } from '../src/index.js'

let c: Chainside
beforeAll(async () => { c = await startChain() })
afterAll(async () => { await c?.anvil.stop() })

test('@sherd/proofs challengeIndices and the contract derive the same indices', async () => {
  const m = await deployMarket(c, {}, [])
  // Leaf counts: one leaf, small, powers of two and their neighbours, a 4 MiB shard, the largest deal (2^40 bytes).
  const leafCounts = [1, 2, 3, 7, 64, 1000, 65_535, 65_536, 65_537, 2 ** 34, 2 ** 40 / 64 + 1, Number.MAX_SAFE_INTEGER]
  for (const leafCount of leafCounts) {
    for (let k = 0; k < 4; k++) {
      const seed = randomBytes(32)
      const count = k === 0 ? 64 : 10
      const onChain = await c.publicClient.readContract({
        address: m.market, abi: storageMarketAbi, functionName: 'challengeIndices', args: [bytesToHex(seed), BigInt(count), BigInt(leafCount)]
      })
      expect(onChain.map(Number)).toEqual(challengeIndices(new Uint8Array(seed), count, leafCount))
    }
  }
})

test('seeds: the contract derives keccak256(abi.encode(blockhash(challenge block), dealId, period))', async () => {
  const m = await deployMarket(c)
  await registerProvider(m.as(1), { stake: 1000n * TOKEN, pricePerMiB: 1n, capacity: 1n << 30n, peerId: 'p' })
  const { deals: [a], period } = await activeDeals(c, m, 1, 2, [640])
  const { info, blockHash } = await enterProofWindow(c, m, period)
  expect(await getChallengeSeed(m.as(0), a!.dealId, period)).toBe(deriveChallengeSeed(blockHash, a!.dealId, period))
  expect(info.challengeBlock).toBe(info.startBlock + BigInt(m.params.challengeDelayBlocks))

  const d = await openTestDeal(m, 1, 2, 100)
  const opened = await c.publicClient.getBlock({ blockTag: 'latest' })
  expect(await getActivationSeed(m.as(0), d.dealId)).toBe(deriveActivationSeed(opened.hash, d.dealId))
  expect(deriveActivationSeed(opened.hash, d.dealId)).toBe(deriveChallengeSeed(opened.hash, d.dealId, ACTIVATION_PERIOD))
  // A seed over a random tree selects leaves the prover can answer.
  const s = randomShard(4096)
  expect(challengeIndices(hexToBytes(deriveChallengeSeed(blockHash, 1n, 1n)), 10, s.tree.leafCount).every((i) => i < 64)).toBe(true)
})
