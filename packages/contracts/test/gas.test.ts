import { expect, test } from 'vitest'
import { formatProofSetGasTable, measureProofSetGas } from '../src/index.js'

// ProofSetMarket on osaka: 1 TiB of 1 GiB deals (real depth-24 proofs of a PeriodicTree, then 10 levels of
// super-tree), a full 64-challenge chunk of 34 + 4 levels, claims, audit, miss, declaration. The bench (`npm run bench -- gas`) adds the equal-weight
// sets and the steady-state seed ring; this keeps the budgets of the settlement issue from regressing.
test('ProofSetMarket: proving per TiB-month, opening per deal, and every transaction within a real chain', async () => {
  const r = await measureProofSetGas({ periods: 3 })
  process.stdout.write(
    `\n${formatProofSetGasTable(r)}\n\nproving gas per TiB-month: ${Math.round(r.provingGasPerTiBMonth)}, per deal opened: ${Math.round(r.openGasPerDeal)}, largest tx: ${r.largestCalldataBytes} bytes, ${r.largestGas} gas\n`
  )
  expect(r.provingGasPerTiBMonth).toBeLessThanOrEqual(200_000_000)
  expect(r.openGasPerDeal).toBeLessThanOrEqual(150_000)
  // A renewal settles the deals' closed periods and locks more collateral: still a small fraction of an opening.
  expect(r.extendGasPerDeal).toBeLessThanOrEqual(40_000)
  expect(r.largestCalldataBytes).toBeLessThanOrEqual(131_072)
  expect(r.largestGas).toBeLessThanOrEqual(16_777_216n)
  // The full chunk is the largest transaction, as designed: 64 challenges of 4 + 4 + 64 + 32 × 38 bytes.
  expect(r.largestCalldataBytes).toBeGreaterThan(64 * 1288)
  // 1,024 deals: every challenge's path is 24 levels of deal tree and 10 of super-tree.
  expect(r.sets[0]!.depth + r.sets[0]!.superDepth).toBe(34)
}, 600_000)
