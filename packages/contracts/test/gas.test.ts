// Gas of each market operation on anvil's default hardfork (EIP-7623 calldata floor in force), on 4 MiB shards
// (65,536 leaves, depth 16) at c = 10. Prints the table of docs/contracts.md ("Gas"):
//   npx vitest run packages/contracts/test/gas.test.ts
// and enforces the budget: at most 25,000 gas per challenged leaf in a batch of 100 deals.
import { expect, test } from 'vitest'
import { formatGasTable, formatProofSetGasTable, measureMarketGas, measureProofSetGas } from '../src/index.js'

const GAS_PER_LEAF_BUDGET = 25_000

test('gas table; per-leaf budget at 100 deals × 10 challenges × depth 16', async () => {
  const current = await measureMarketGas()
  // Cancun predates EIP-7623: there gas = 21000 + 4 × tokens + execution.
  const cancun = await measureMarketGas({ hardfork: 'cancun' })
  process.stdout.write(`\n${formatGasTable(current, cancun)}\n\ngas per challenged leaf (100 deals × 10 challenges, depth 16): ${current.gasPerChallengedLeaf.toFixed(0)} (cancun, no floor: ${cancun.gasPerChallengedLeaf.toFixed(0)})\n`)
  expect(current.rows.map((r) => r.operation)).toEqual(cancun.rows.map((r) => r.operation))
  // Every proof transaction pays the floor exactly: execution stays under what the floor makes free.
  for (const r of current.rows.filter((r) => r.operation.startsWith('submitProofs'))) expect(r.gasUsed).toBe(r.floor)
  expect(current.gasPerChallengedLeaf).toBeLessThanOrEqual(GAS_PER_LEAF_BUDGET)
}, 600_000)

// ProofSetMarket on osaka: 1 TiB of 1 GiB deals (real depth-24 proofs of a PeriodicTree), a full 96-challenge
// chunk at depth 34, claims, audit, miss, declaration. The bench (`npm run bench -- gas`) adds the equal-weight
// sets and the steady-state seed ring; this keeps the budgets of the settlement issue from regressing.
test('ProofSetMarket: proving per TiB-month, opening per deal, and every transaction within a real chain', async () => {
  const r = await measureProofSetGas({ periods: 3 })
  process.stdout.write(`\n${formatProofSetGasTable(r)}\n\nproving gas per TiB-month: ${Math.round(r.provingGasPerTiBMonth)}, per deal opened: ${Math.round(r.openGasPerDeal)}, largest tx: ${r.largestCalldataBytes} bytes, ${r.largestGas} gas\n`)
  expect(r.provingGasPerTiBMonth).toBeLessThanOrEqual(200_000_000)
  expect(r.openGasPerDeal).toBeLessThanOrEqual(150_000)
  // A renewal settles the deals' closed periods and locks more collateral: still a small fraction of an opening.
  expect(r.extendGasPerDeal).toBeLessThanOrEqual(40_000)
  expect(r.largestCalldataBytes).toBeLessThanOrEqual(131_072)
  expect(r.largestGas).toBeLessThanOrEqual(16_777_216n)
  // The full chunk is the largest transaction, as designed: 96 challenges of 1,156 bytes.
  expect(r.largestCalldataBytes).toBeGreaterThan(96 * 1156)
}, 600_000)
