// Gas of each market operation on anvil's default hardfork (EIP-7623 calldata floor in force), on 4 MiB shards
// (65,536 leaves, depth 16) at c = 10. Prints the table of docs/contracts.md ("Gas"):
//   npx vitest run packages/contracts/test/gas.test.ts
// and checks the budget: at most 25,000 gas per challenged leaf in a batch of 100 deals.
import { buildTree } from '@sherd/proofs'
import { randomBytes } from 'node:crypto'
import { bytesToHex, erc20Abi, hexToBytes, maxUint256 } from 'viem'
import type { Hex, TransactionReceipt } from 'viem'
import { expect, test } from 'vitest'
import {
  activateDeal, getActivationSeed, getDeal, markMissed, openDeal, proveChallenges, registerProvider, submitProofs, withdraw
} from '../src/index.js'
import { deployMarket, enterProofWindow, mineTo, offerFor, proofFor, signedOffer, startChain, TOKEN } from './helpers.js'
import type { Chainside, TestDeal } from './helpers.js'
import { getPeriodInfo } from '../src/index.js'

const SHARD_BYTES = 4 * 1024 * 1024
const GAS_PER_LEAF_BUDGET = 25_000
const BATCHES = [100, 10, 1]

let c: Chainside

interface Row { operation: string, gas: bigint, calldataBytes: number, floor: bigint, standardCalldata: bigint }

/** EIP-7623: tokens = zero bytes + 4 × non-zero bytes; floor = 21000 + 10 × tokens. */
function calldataFloor (input: Hex): { bytes: number, floor: bigint, standardCalldata: bigint } {
  const bytes = hexToBytes(input)
  let tokens = 0n
  for (const b of bytes) tokens += b === 0 ? 1n : 4n
  return { bytes: bytes.length, floor: 21_000n + 10n * tokens, standardCalldata: 21_000n + 4n * tokens }
}

async function row (operation: string, receipt: TransactionReceipt): Promise<Row> {
  const tx = await c.publicClient.getTransaction({ hash: receipt.transactionHash })
  const { bytes, floor, standardCalldata } = calldataFloor(tx.input)
  return { operation, gas: receipt.gasUsed, calldataBytes: bytes, floor, standardCalldata }
}

async function measure (hardfork?: string): Promise<{ rows: Row[], perLeaf: number }> {
  c = await startChain(hardfork === undefined ? {} : { hardfork })
  try {
    return await measureOn()
  } finally {
    await c.anvil.stop()
  }
}

async function measureOn (): Promise<{ rows: Row[], perLeaf: number }> {
  const m = await deployMarket(c, { periodBlocks: 256, challengeDelayBlocks: 2, activationBlocks: 256 }, [1, 2])
  const provider = m.as(1)
  const client = m.as(2)
  await registerProvider(provider, { stake: 1_000_000n * TOKEN, pricePerMiB: 1n, capacity: 1n << 40n, peerId: '12D3KooWGzxzKZYveHXtpG6AsrUJBcWxHBFS2HsEoGTxrMLvKXtf' })
  // One allowance for every deal, so each openDeal is measured alone.
  await c.wallets[2]!.writeContract({ address: m.token, abi: erc20Abi, functionName: 'approve', args: [m.market, maxUint256] })
  const tree = buildTree(new Uint8Array(randomBytes(SHARD_BYTES)))
  expect(tree.depth).toBe(16)
  const root = bytesToHex(tree.root)

  const rows: Row[] = []
  const total = BATCHES.reduce((a, b) => a + b, 0)
  const deals: TestDeal[] = []
  for (let i = 0; i < total; i++) {
    const offer = offerFor(c.accounts[1]!.address, c.accounts[2]!.address, root, SHARD_BYTES, { periods: 4, maxPeriods: 4 })
    const { dealId, receipt } = await openDeal(client, { offer, signature: await signedOffer(m, 1, offer) })
    if (i === 0) rows.push(await row('openDeal', receipt))
    deals.push({ dealId, tree, data: new Uint8Array(0), offer })
  }
  let period = 0n
  for (const [i, d] of deals.entries()) {
    const proof = proveChallenges(tree, await getActivationSeed(provider, d.dealId), m.params.challengeCount)
    const receipt = await activateDeal(provider, { dealId: d.dealId, proof })
    if (i === 0) rows.push(await row('activate (depth 16, c = 10)', receipt))
    const start = (await getDeal(provider, d.dealId)).startPeriod
    if (start > period) period = start
  }

  // Each batch proves deals that have never been proven, so each pays the same first-write storage costs.
  const { blockHash } = await enterProofWindow(c, m, period)
  let next = 0
  let perLeaf = 0
  for (const n of BATCHES) {
    const batch = deals.slice(next, next + n)
    next += n
    const receipt = await submitProofs(provider, { period, items: batch.map((d) => ({ dealId: d.dealId, proof: proofFor(m, d, blockHash, period) })) })
    const r = await row(`submitProofs, ${n} deal${n === 1 ? '' : 's'}`, receipt)
    rows.push(r)
    if (n === 100) perLeaf = Number(r.gas) / (n * m.params.challengeCount)
  }

  // A period nobody proved: let it close, then mark it.
  const info = await getPeriodInfo(provider, period + 1n)
  await mineTo(c, info.endBlock)
  rows.push(await row('markMissed', await markMissed(m.as(3), { dealId: deals[0]!.dealId, period: period + 1n })))
  rows.push(await row('withdraw', (await withdraw(provider)).receipt))
  return { rows, perLeaf }
}

test('gas table; per-leaf budget at 100 deals × 10 challenges × depth 16', async () => {
  const current = await measure()
  // Cancun predates EIP-7623: there gas = 21000 + 4 × tokens + execution, which exposes the execution gas that the
  // floor hides on the default hardfork.
  const cancun = await measure('cancun')
  const lines = [
    '| operation | gas (default hardfork) | calldata bytes | EIP-7623 floor | execution gas | execution below the floor |',
    '|---|---:|---:|---:|---:|---:|',
    ...current.rows.map((r, i) => {
      const old = cancun.rows[i]!
      const execution = old.gas - old.standardCalldata
      const headroom = r.floor - r.standardCalldata - execution
      return `| ${r.operation} | ${r.gas} | ${r.calldataBytes} | ${r.floor} | ${execution} | ${headroom > 0n ? headroom : 0n} |`
    })
  ]
  process.stdout.write(`\n${lines.join('\n')}\n\ngas per challenged leaf (100 deals × 10 challenges, depth 16): ${current.perLeaf.toFixed(0)} (cancun, no floor: ${cancun.perLeaf.toFixed(0)})\n`)
  expect(current.perLeaf).toBeLessThanOrEqual(GAS_PER_LEAF_BUDGET)
}, 600_000)
