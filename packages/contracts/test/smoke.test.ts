import { afterAll, beforeAll, expect, test } from 'vitest'
import { activateDeal, getChallengeSeed, getDeal, getPeriodInfo, openDeal, proveChallenges, registerProvider, submitProofs } from '../src/index.js'
import { activationProof, deployMarket, mineTo, offerFor, randomShard, signedOffer, startChain, TOKEN } from './helpers.js'
import type { Chainside } from './helpers.js'

let c: Chainside
beforeAll(async () => { c = await startChain() })
afterAll(async () => { await c?.anvil.stop() })

test('smoke', async () => {
  const m = await deployMarket(c)
  const prov = m.as(1); const cli = m.as(2)
  await registerProvider(prov, { stake: 1000n * TOKEN, pricePerMiB: 1n, capacity: 1n << 30n, peerId: '12D3KooWtest' })
  const s = randomShard(4096 + 7)
  const offer = offerFor(c.accounts[1]!.address, c.accounts[2]!.address, s.root, s.data.length)
  const { dealId } = await openDeal(cli, { offer, signature: await signedOffer(m, 1, offer) })
  await activateDeal(prov, { dealId, proof: await activationProof(c, m, dealId, s.tree) })
  const deal = await getDeal(prov, dealId)
  const info = await getPeriodInfo(prov, deal.startPeriod)
  console.log(deal, info, await c.publicClient.getBlockNumber())
  await mineTo(c, info.firstProofBlock + 1n)
  console.log('latest', await c.publicClient.getBlockNumber())
  const seed = await getChallengeSeed(prov, dealId, deal.startPeriod)
  const r = await submitProofs(prov, { period: deal.startPeriod, items: [{ dealId, proof: proveChallenges(s.tree, seed, 10) }] })
  console.log(r.blockNumber, r.gasUsed)
  expect(r.status).toBe('success')
})
