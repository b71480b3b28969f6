/**
 * Gas of the settlement contract on anvil: open a deal, activate, proof batches of 100, 10 and 1 deals at c = 10
 * on 4 MiB shards (depth 16), mark missed, withdraw; on the default hardfork (EIP-7623 floor) and on cancun (no
 * floor) to expose the execution gas. Gas is deterministic up to the random shard bytes; the time is just the run.
 */
import { formatGasTable, measureMarketGas } from '@sherd/contracts'
import type { GasReport } from '@sherd/contracts'
import { measure } from '../harness.js'
import type { Suite, SuiteResult } from '../harness.js'

/** The requirement of the contracts issue: gas per challenged leaf in a 100-deal batch. */
const GAS_PER_LEAF_BUDGET = 25_000

export const gasSuite: Suite = {
  name: 'gas',
  description: 'StorageMarket gas on anvil (proof batches of 1/10/100 deals, c = 10, 4 MiB shards) vs the EIP-7623 floor',
  async run ({ log, signal }): Promise<SuiteResult> {
    let current: GasReport | undefined
    let cancun: GasReport | undefined
    log('default hardfork')
    const timing = await measure('gas report, default hardfork (anvil)', async () => { current = await measureMarketGas({ signal }) }, { warmup: 0, runs: 1 })
    log('cancun (no calldata floor)')
    cancun = await measureMarketGas({ hardfork: 'cancun', signal })
    if (current === undefined) throw new Error('gas report did not run')
    const summary: Record<string, number | string> = {
      'gas per challenged leaf (100 deals × c)': Math.round(current.gasPerChallengedLeaf),
      'gas per challenged leaf without the floor (cancun)': Math.round(cancun.gasPerChallengedLeaf),
      'budget per challenged leaf': GAS_PER_LEAF_BUDGET,
      'within budget': current.gasPerChallengedLeaf <= GAS_PER_LEAF_BUDGET ? 'yes' : 'NO'
    }
    for (const r of current.rows) summary[`gas: ${r.operation}`] = Number(r.gasUsed)
    return { measurements: [timing], summary, notes: [`\n${formatGasTable(current, cancun)}`] }
  }
}
