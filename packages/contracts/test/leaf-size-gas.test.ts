// Proving gas by Merkle leaf size (docs/proofs.md, "Leaf size: measured trade-off"): the test-only
// LeafSizeVerifier answers a period of 1 TiB in 1,024 deals of 1 GiB (K = 4, the market's λ per TiB) with real
// full-depth proofs at 64 B, 256 B, 1 KiB and 4 KiB leaves, on osaka (EIP-7623 calldata floor) and on cancun
// (no floor). The proof format is not changed by this: 64 B is the format, the others are what it would cost.
import { createHash, randomBytes } from 'node:crypto'
import { bytesToHex, encodeAbiParameters, hexToBytes, keccak256, numberToBytes } from 'viem'
import type { Address, Hex } from 'viem'
import { afterAll, beforeAll, expect, test } from 'vitest'
import { startTestChain } from '@sherd/test-support'
import type { TestChain } from '@sherd/test-support'
import { PeriodicTree, periodsPerMonth, proofSetChallengeIndex, ProviderSuperTree } from '../src/index.js'
import { leafSizeVerifierAbi, leafSizeVerifierBytecode } from './generated/test-contracts.js'

const LEAF_SIZES = [64, 256, 1024, 4096] as const
const DEAL_BYTES = 2 ** 30
const DEALS = 1024
const SUPER_DEPTH = 10
/** λ = 4 challenges per TiB of weight: the weight counts bytes, so K does not depend on the leaf size. */
const K = 4
const PERIODS = 3
const BLOCK_BYTES = 64 * 1024

const sha = (...parts: Uint8Array[]): Uint8Array => {
  const h = createHash('sha256')
  for (const p of parts) h.update(p)
  return h.digest()
}
const ONE = Uint8Array.of(1)

/**
 * The tree of a deal whose bytes are one random block repeated, with `leafSize`-byte leaves (leaf hash
 * SHA-256(0x00 ‖ leaf), nodes as today): the block's levels, then one node per level above it.
 */
function periodicDealTree(block: Uint8Array, leafSize: number, depth: number) {
  const blockLeaves = block.length / leafSize
  const blockDepth = Math.log2(blockLeaves)
  const levels: Uint8Array[][] = [
    Array.from({ length: blockLeaves }, (_, i) =>
      sha(Uint8Array.of(0), block.subarray(i * leafSize, (i + 1) * leafSize))
    )
  ]
  for (let l = 1; l <= blockDepth; l++) {
    const below = levels[l - 1]!
    levels.push(Array.from({ length: below.length / 2 }, (_, j) => sha(ONE, below[2 * j]!, below[2 * j + 1]!)))
  }
  const full: Uint8Array[] = []
  full[blockDepth] = levels[blockDepth]![0]!
  for (let l = blockDepth + 1; l <= depth; l++) full[l] = sha(ONE, full[l - 1]!, full[l - 1]!)
  return {
    root: full[depth]!,
    leaf: (offset: number): Uint8Array =>
      block.subarray((offset % blockLeaves) * leafSize, ((offset % blockLeaves) + 1) * leafSize),
    path: (offset: number): Uint8Array[] => {
      const within = offset % blockLeaves
      const path: Uint8Array[] = []
      for (let l = 0; l < blockDepth; l++) path.push(levels[l]![Math.floor(within / 2 ** l) ^ 1]!)
      for (let l = blockDepth; l < depth; l++) path.push(full[l]!)
      return path
    }
  }
}

/** EIP-7623 floor (21000 + 10 × tokens, a zero byte 1 token, another 4) and the standard intrinsic gas (16/4 per byte). */
function calldataCost(input: Hex): { bytes: number; floor: bigint; intrinsic: bigint } {
  const bytes = hexToBytes(input)
  let tokens = 0n
  for (const b of bytes) tokens += b === 0 ? 1n : 4n
  return { bytes: bytes.length, floor: 21_000n + 10n * tokens, intrinsic: 21_000n + 4n * tokens }
}

const concat = (parts: Uint8Array[]): Uint8Array => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let at = 0
  for (const p of parts) {
    out.set(p, at)
    at += p.length
  }
  return out
}

interface Row {
  leafSize: number
  depth: number
  proofBytes: number
  calldataBytes: number
  gas: Record<string, bigint[]>
  /** EIP-7623 floor of each period's osaka transaction. */
  floors: bigint[]
  /** cancun gas less 21000 and 16/4 gas per calldata byte: what the verification itself costs. */
  execution: bigint[]
}

const chains: Record<string, TestChain> = {}
beforeAll(async () => {
  chains.osaka = await startTestChain({ hardfork: 'osaka', accounts: 1 })
  chains.cancun = await startTestChain({ hardfork: 'cancun', accounts: 1 })
}, 120_000)
afterAll(async () => {
  for (const c of Object.values(chains)) await c.anvil.stop()
})

test('proving gas per period and per TiB-month by leaf size, real proofs on chain', async () => {
  const block = new Uint8Array(randomBytes(BLOCK_BYTES))
  const rows: Row[] = []
  for (const leafSize of LEAF_SIZES) {
    const depth = Math.log2(DEAL_BYTES / leafSize)
    const deal = periodicDealTree(block, leafSize, depth)
    if (leafSize === 64) {
      // At 64 B this is the project's tree: the contracts package's PeriodicTree of the same bytes.
      const reference = new PeriodicTree(block, 2 ** depth)
      expect(bytesToHex(deal.root)).toBe(bytesToHex(reference.root))
      expect(deal.path(123_457).map((h) => bytesToHex(h))).toEqual(
        reference.prove(123_457).path.map((h) => bytesToHex(h))
      )
    }
    const superTree = new ProviderSuperTree()
    for (let slot = 0; slot < DEALS; slot++) superTree.set(slot, BigInt(slot), deal.root)
    const snapshot = superTree.snapshot(DEALS)
    expect(snapshot.depth).toBe(SUPER_DEPTH)
    const dealLeaves = BigInt(2 ** depth)
    const weight = BigInt(DEALS) * dealLeaves

    const row: Row = { leafSize, depth, proofBytes: 0, calldataBytes: 0, gas: {}, floors: [], execution: [] }
    for (const [fork, c] of Object.entries(chains)) {
      const w = c.wallets[0]!
      const account: Address = w.account.address
      const deployHash = await w.deployContract({
        abi: leafSizeVerifierAbi,
        bytecode: leafSizeVerifierBytecode,
        args: [BigInt(leafSize), BigInt(depth), BigInt(DEALS), BigInt(SUPER_DEPTH), bytesToHex(snapshot.root)]
      })
      const address = (await c.publicClient.waitForTransactionReceipt({ hash: deployHash })).contractAddress!
      const proofOf = (period: bigint): Uint8Array => {
        const seed = keccak256(encodeAbiParameters([{ type: 'uint256' }], [period]))
        const items: Uint8Array[] = []
        for (let i = 0n; i < BigInt(K); i++) {
          const idx = proofSetChallengeIndex(seed, account, i, weight)
          const dealId = Number(idx / dealLeaves)
          const offset = Number(idx % dealLeaves)
          const id = numberToBytes(dealId, { size: 4 })
          items.push(id, id, deal.leaf(offset), ...deal.path(offset), ...snapshot.prove(dealId))
        }
        return concat(items)
      }
      row.gas[fork] = []
      for (let period = 1n; period <= BigInt(PERIODS); period++) {
        const proof = proofOf(period)
        // 4-byte hint and slot, the leaf, the deal's siblings, the super-tree's: the market's layout.
        expect(proof.length).toBe(K * (8 + leafSize + 32 * (depth + SUPER_DEPTH)))
        if (period === 1n) {
          const flipped = proof.slice()
          flipped[8] = flipped[8]! ^ 1
          await expect(
            c.publicClient.simulateContract({
              account: w.account,
              address,
              abi: leafSizeVerifierAbi,
              functionName: 'prove',
              args: [period, BigInt(K), bytesToHex(flipped)]
            })
          ).rejects.toThrow(/InvalidProof/)
        }
        const hash = await w.writeContract({
          address,
          abi: leafSizeVerifierAbi,
          functionName: 'prove',
          args: [period, BigInt(K), bytesToHex(proof)]
        })
        const receipt = await c.publicClient.waitForTransactionReceipt({ hash })
        expect(receipt.status).toBe('success')
        const { bytes, floor, intrinsic } = calldataCost((await c.publicClient.getTransaction({ hash })).input)
        row.gas[fork]!.push(receipt.gasUsed)
        row.proofBytes = proof.length
        row.calldataBytes = bytes
        if (fork === 'osaka') row.floors.push(floor)
        else row.execution.push(receipt.gasUsed - intrinsic)
      }
      expect(
        await c.publicClient.readContract({ address, abi: leafSizeVerifierAbi, functionName: 'provenPeriods' })
      ).toBe(BigInt(PERIODS))
    }
    rows.push(row)
  }

  const median = (xs: bigint[]): bigint => [...xs].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))[xs.length >> 1]!
  const month = periodsPerMonth(256)
  const base = Number(median(rows[0]!.gas.osaka!))
  const lines = [
    '| leaf | path levels (deal + super) | bytes per answer | calldata per period | gas per period, osaka (floor) | gas per period, cancun (no floor) | of which execution | gas per TiB-month, osaka | ÷ 64 B | $ per TiB-month at $10 per 10⁹ gas |',
    '|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|'
  ]
  for (const r of rows) {
    const osaka = Number(median(r.gas.osaka!))
    const cancun = Number(median(r.gas.cancun!))
    lines.push(
      `| ${r.leafSize} B | ${r.depth} + ${SUPER_DEPTH} | ${r.proofBytes / K} | ${r.calldataBytes} | ${osaka} (${median(r.floors)}) | ${cancun} | ${median(r.execution)} | ${Math.round(osaka * month)} | ${(osaka / base).toFixed(2)} | ${((osaka * month) / 1e8).toFixed(2)} |`
    )
  }
  process.stdout.write(
    `\nLeafSizeVerifier, 1 TiB of 1 GiB deals, K = ${K}, ${PERIODS} periods per row:\n${lines.join('\n')}\n`
  )

  for (const r of rows) {
    // Bytes are what a period costs: on osaka every answer pays the calldata floor, whatever the leaf size …
    expect(r.gas.osaka).toEqual(r.floors)
    // … and without the floor it is cheaper still, since execution is far below 24 gas per proof byte.
    expect(median(r.gas.cancun!)).toBeLessThan(median(r.gas.osaka!))
  }
  // A longer leaf adds more bytes than the levels it removes save (32 bytes each), so gas grows with the leaf.
  for (let i = 1; i < rows.length; i++)
    expect(median(rows[i]!.gas.osaka!)).toBeGreaterThan(median(rows[i - 1]!.gas.osaka!))
}, 300_000)
