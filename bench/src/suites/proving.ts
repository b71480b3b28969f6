/**
 * How proving scales (the prover suite times the node's single 64 MiB case against its requirement): one deal's
 * proof of c = PROOF_SET_AUDIT_CHALLENGES leaves (what ProofSetMarket's answerAudit takes), each proven from its
 * 64 KiB chunk re-read from the node's LevelDB ShardStore, exactly as the node builds it (`buildDealProof` of
 * @sherd/node), against the floor of proving from a whole in-memory tree (`buildTree` + `proveChallenges`: no
 * reads, every node kept); time against shard size, and the time of many such proofs against their number.
 * The per-period proof of a whole proof set (K challenges over all of a provider's deals) is the prover suite's
 * and the gas suite's.
 */
import { randomBytes } from 'node:crypto'
import { PROOF_SET_AUDIT_CHALLENGES, PROOF_SET_DEFAULT_PARAMS, proveChallenges } from '@sherd/contracts'
import { buildTree } from '@sherd/proofs'
import type { ChunkTree } from '@sherd/proofs'
import { buildDealProof, checkDealProof, seedSequence, storeShard, withShardStore } from '../deal-proof.js'
import { chartRow, measure, measurePaired, MIB } from '../harness.js'
import type { Measurement, Suite, SuiteResult } from '../harness.js'

const QUICK_SHARD_MIB = [1, 16, 64]
const FULL_SHARD_MIB = [1, 16, 64, 256]
/** Deals proven in one period, each on its own 1 MiB shard. */
const QUICK_DEALS = [1, 10, 100]
const FULL_DEALS = [1, 10, 100, 1000]
const DEAL_SHARD_BYTES = MIB
/** Ethereum mainnet's block time: what a period of PERIOD_BLOCKS lasts outside the devnet. */
const MAINNET_BLOCK_SECONDS = 12
const CHALLENGE_COUNT = PROOF_SET_AUDIT_CHALLENGES
const PERIOD_BLOCKS = PROOF_SET_DEFAULT_PARAMS.periodBlocks

export const provingSuite: Suite = {
  name: 'proving',
  description: `proof time against shard size and deal count (c = ${CHALLENGE_COUNT}, LevelDB store as the node proves) vs a whole in-memory tree`,
  async run({ full, log }): Promise<SuiteResult> {
    const measurements: Measurement[] = []
    const summary: Record<string, number | string> = {}
    const sizeRows: Array<Record<string, number | string>> = []
    const dealRows: Array<Record<string, number | string>> = []
    const nextSeed = seedSequence('bench seed')
    await withShardStore('proving', 64 * 1024 * MIB, async (store) => {
      for (const mib of full ? FULL_SHARD_MIB : QUICK_SHARD_MIB) {
        log(`store a ${mib} MiB shard`)
        const data = new Uint8Array(randomBytes(mib * MIB))
        const root = await storeShard(store, data)
        const cached = await store.getTree(root)
        const whole = buildTree(data)
        await checkDealProof(store, root, cached, whole, nextSeed(), CHALLENGE_COUNT)
        const runs = full ? 101 : 41
        log(`deal-period proofs on ${mib} MiB`)
        const pair = await measurePaired(
          {
            name: `deal proof/in-memory tree, ${mib} MiB shard`,
            fn: () => proveChallenges(whole, nextSeed(), CHALLENGE_COUNT)
          },
          {
            name: `deal proof/store, cached tree, ${mib} MiB shard`,
            fn: () => buildDealProof(store, root, cached, nextSeed(), CHALLENGE_COUNT)
          },
          { runs, warmup: 5 }
        )
        pair.b.extra = {
          'store÷in-memory': pair.ratio,
          'proofs/s': Math.round(CHALLENGE_COUNT / (pair.b.medianMs / 1000))
        }
        pair.a.extra = { 'proofs/s': Math.round(CHALLENGE_COUNT / (pair.a.medianMs / 1000)) }
        const uncached = await measure(
          `deal proof/store, tree read from the store, ${mib} MiB shard`,
          async () => await buildDealProof(store, root, await store.getTree(root), nextSeed(), CHALLENGE_COUNT),
          { runs, warmup: 5 }
        )
        uncached.extra = { 'proofs/s': Math.round(CHALLENGE_COUNT / (uncached.medianMs / 1000)) }
        measurements.push(pair.a, pair.b, uncached)
        summary[`deal proof ${mib} MiB, store ÷ in-memory (time(in-memory) ÷ time(store))`] = +pair.ratio.toFixed(3)
        sizeRows.push(
          chartRow(pair.a, { size: mib, series: 'in-memory whole tree (floor)' }),
          chartRow(pair.b, { size: mib, series: 'store, cached chunk tree (the node)' }),
          chartRow(uncached, { size: mib, series: 'store, chunk tree decoded per proof' })
        )
      }

      // One period's work: every deal proven once, trees cached as the node's prover keeps them.
      const dealCounts = full ? FULL_DEALS : QUICK_DEALS
      const deals: Array<{ root: Uint8Array; tree: ChunkTree }> = []
      log(`store ${Math.max(...dealCounts)} shards of ${DEAL_SHARD_BYTES / MIB} MiB`)
      while (deals.length < Math.max(...dealCounts)) {
        const root = await storeShard(store, new Uint8Array(randomBytes(DEAL_SHARD_BYTES)))
        deals.push({ root, tree: await store.getTree(root) })
      }
      let sustained = 0
      for (const n of dealCounts) {
        log(`one period of ${n} deals`)
        const m = await measure(
          `period/${n} deals of ${DEAL_SHARD_BYTES / MIB} MiB, store, cached trees`,
          async () => {
            for (const d of deals.slice(0, n)) await buildDealProof(store, d.root, d.tree, nextSeed(), CHALLENGE_COUNT)
          },
          { runs: n >= 1000 ? 3 : n >= 100 ? 5 : 11, warmup: 1 }
        )
        const proofsPerSec = (n * CHALLENGE_COUNT) / (m.medianMs / 1000)
        m.extra = { 'proofs/s': Math.round(proofsPerSec), 'deal-periods/s': Math.round(n / (m.medianMs / 1000)) }
        measurements.push(m)
        dealRows.push(chartRow(m, { deals: n, series: 'one period, all deals' }))
        // The largest period is the sustained rate: the per-deal fixed costs are spread over many deals.
        sustained = proofsPerSec
      }
      const dealPeriodsPerSec = sustained / CHALLENGE_COUNT
      summary[`proofs (challenged leaves) per second, sustained over ${dealCounts[dealCounts.length - 1]} deals`] =
        Math.round(sustained)
      summary[`deal proofs (${CHALLENGE_COUNT} leaves each) per second`] = Math.round(dealPeriodsPerSec)
      summary[
        `challenged leaves one provider can prove within a ${PERIOD_BLOCKS}-block period at ${MAINNET_BLOCK_SECONDS} s blocks, using 10 % of one core`
      ] = Math.round(sustained * PERIOD_BLOCKS * MAINNET_BLOCK_SECONDS * 0.1)
    })
    return {
      measurements,
      summary,
      charts: [
        {
          id: 'shard-size',
          title: `One deal's proof (c = ${CHALLENGE_COUNT}) against shard size (ms; whiskers: slowest and fastest run)`,
          mark: 'line',
          x: { field: 'size', title: 'shard size (MiB)', log: true },
          y: { field: 'value', title: 'ms per deal-period (log scale)', log: true },
          color: { field: 'series', title: '' },
          range: { min: 'min', max: 'max' },
          rows: sizeRows
        },
        {
          id: 'deal-count',
          title: `One period's proofs for N deals (1 MiB shards, c = ${CHALLENGE_COUNT}), ms`,
          mark: 'line',
          x: { field: 'deals', title: 'deals proven in the period', log: true },
          y: { field: 'value', title: 'ms per period', log: true },
          color: { field: 'series', title: '' },
          range: { min: 'min', max: 'max' },
          rows: dealRows
        }
      ],
      notes: [
        `a deal proof is what the node sends to answer an audit of a deal: ${CHALLENGE_COUNT} leaves, each re-hashed from its 64 KiB chunk (read from LevelDB) up to the stored chunk tree, encoded for the contract.`,
        "store÷in-memory is the median over runs of time(in-memory) ÷ time(store), each pair back to back: the share of the floor's speed the node reaches while keeping 0.05 % of the tree instead of all of it.",
        "proofs/s counts challenged leaves; gas for submitting them is the gas suite's."
      ]
    }
  }
}
