/**
 * Gas of ProofSetMarket on anvil (docs/contracts.md "Gas"): batch opening, per-period proving of real proof sets
 * (1 TiB of 1 GiB deals; equal total weight over 10 … 10,000 deals; 64 MiB deals), a full 64-challenge chunk of
 * 34 + 4 levels, claims, audit, miss, declaration; on anvil's newest hardfork (osaka), seed ring warmed to its steady
 * state. Plus the detection simulation with the contract's challenge rule. The retired StorageMarket's figures are
 * kept as text in docs/contracts.md ("StorageMarket, retired").
 * Gas is deterministic up to the random shard bytes and seeds; the time is just the run.
 */
import { formatProofSetGasTable, measureProofSetGas, periodsPerMonth } from '@sherd/contracts'
import type { ProofSetGasReport } from '@sherd/contracts'
import { measure } from '../harness.js'
import type { Suite, SuiteResult } from '../harness.js'
import { simulateDetection } from '../proof-set-detection.js'

/** The requirements of the settlement issue. */
const BUDGET = {
  provingPerTiBMonth: 200_000_000,
  equalWeightRatio: 1.15,
  openPerDeal: 150_000,
  calldataBytes: 131_072,
  txGas: 16_777_216
}

const within = (ok: boolean): string => (ok ? 'yes' : 'NO')

export const gasSuite: Suite = {
  name: 'gas',
  description:
    'ProofSetMarket gas per TiB-month, per deal opened and per transaction on anvil (osaka), detection simulation',
  async run({ log, signal }): Promise<SuiteResult> {
    let ps: ProofSetGasReport | undefined
    log('ProofSetMarket (osaka, full sets, warm seed ring)')
    const timing = await measure(
      'ProofSetMarket gas report (anvil)',
      async () => {
        ps = await measureProofSetGas({ full: true, warmSeedRing: true, hardfork: 'osaka', log, signal })
      },
      { warmup: 0, runs: 1 }
    )
    if (ps === undefined) throw new Error('ProofSetMarket gas report did not run')
    log('detection simulation')
    const detection = await simulateDetection({ log })

    const gib = ps.sets[0]!
    const equal = ps.sets.filter((s) => s.label.includes('equal total weight'))
    const small = ps.sets.find((s) => s.label.includes('64 MiB'))
    const month12 = periodsPerMonth(ps.periodBlocks)
    const summary: Record<string, number | string> = {
      'proving gas per TiB-month (1 GiB deals, 256-block periods)': Math.round(ps.provingGasPerTiBMonth),
      'per-period proving gas, max ÷ min over 10/100/1000/10000 deals of equal total weight': Number(
        ps.equalWeightRatio.toFixed(3)
      ),
      'gas per deal opened (batch of 50)': Math.round(ps.openGasPerDeal),
      'largest transaction calldata bytes': ps.largestCalldataBytes,
      'largest transaction gas': Number(ps.largestGas),
      'within budget: proving per TiB-month ≤ 200 M': within(ps.provingGasPerTiBMonth <= BUDGET.provingPerTiBMonth),
      'within budget: equal-weight ratio ≤ 1.15': within(ps.equalWeightRatio <= BUDGET.equalWeightRatio),
      'within budget: per deal opened ≤ 150 k': within(ps.openGasPerDeal <= BUDGET.openPerDeal),
      'within budget: every transaction ≤ 128 KiB and ≤ 2^24 gas': within(
        ps.largestCalldataBytes <= BUDGET.calldataBytes && ps.largestGas <= BigInt(BUDGET.txGas)
      ),
      'proving gas per period, 1 TiB of 1 GiB deals (K = 4)': Number(gib.medianPeriodGas),
      'proving gas per TiB-month (1 GiB deals, 24-h periods)': Math.round(Number(gib.medianPeriodGas) * 30),
      'claim gas per deal (100-deal claim)': Math.round(ps.claimGasPerDeal),
      'ProofSetMarket transactions measured': ps.transactions
    }
    if (small !== undefined) {
      // 4,096 deals of 64 MiB hold 256 GiB of data at 1 TiB of weight: four such sets per TiB of data.
      summary['proving gas per TiB-month (64 MiB deals, 256-block periods)'] = Math.round(
        Number(small.medianPeriodGas) * 4 * month12
      )
      summary['proving gas per TiB-month (64 MiB deals, 24-h periods)'] = Math.round(
        Number(small.medianPeriodGas) * 4 * 30
      )
    }
    // The equal-weight sets differ in deal size, hence Merkle depth and proof bytes; per proof byte the number
    // of deals shows what it costs by itself.
    const perByte = equal.map((s) => {
      const row = ps!.rows.find((r) => r.operation === `prove, ${s.label}`)
      return row === undefined ? Number.NaN : Number(row.gasUsed) / row.calldataBytes
    })
    summary['proving gas per proof byte, max ÷ min over 10/100/1000/10000 deals of equal total weight'] = Number(
      (Math.max(...perByte) / Math.min(...perByte)).toFixed(3)
    )
    for (const s of equal)
      summary[
        `per-period proving gas, ${s.deals} deals of ${Number(s.dealBytes) / 2 ** 30} GiB (path ${s.depth} + ${s.superDepth} levels, K = ${s.k})`
      ] = Number(s.medianPeriodGas)
    for (const s of detection.scenarios) summary[`detection: ${s.name}`] = Number(s.probability.toFixed(4))
    summary['detection: challenge rule cross-checked against the contract (cases)'] = detection.crossChecked
    const detectionTable = [
      '| scenario | simulated | closed form | trials |',
      '|---|---:|---:|---:|',
      ...detection.scenarios.map(
        (s) => `| ${s.name} | ${s.probability.toFixed(4)} | ${s.analytic.toFixed(4)} | ${s.trials} |`
      )
    ].join('\n')
    return {
      measurements: [timing],
      summary,
      notes: [
        `\nProofSetMarket (${ps.hardfork}, ${ps.periodBlocks}-block periods):\n\n${formatProofSetGasTable(ps)}`,
        `\nDetection at the defaults (Monte Carlo with the contract's rule):\n\n${detectionTable}`
      ]
    }
  }
}
