import { randomBytes } from 'node:crypto'
import {
  bytesToHex,
  createPublicClient,
  createTestClient,
  createWalletClient,
  encodeAbiParameters,
  erc20Abi,
  hexToBytes,
  http,
  keccak256,
  maxUint256,
  parseEventLogs,
  toHex
} from 'viem'
import type { Account, Chain, Hex, PublicClient, TransactionReceipt, Transport, WalletClient } from 'viem'
import { mnemonicToAccount } from 'viem/accounts'
import { ANVIL_MNEMONIC, startAnvil } from './anvil.js'
import { mintTokens } from './sherd-token.js'
import { proofSetMarketAbi } from './generated/contracts.js'
import { waitForSuccess } from './market-client.js'
import type { MarketClient } from './market-client.js'
import { PeriodicTree } from './periodic-tree.js'
import { ProviderSuperTree, superDepth } from './super-tree.js'
import { proveChallenges } from './audit-proof.js'
import {
  answerProofSetAudit,
  buildProofSetChunk,
  claimProofSetDeals,
  commitProofSetSeed,
  declareProofSetLost,
  extendProofSetDeals,
  deployProofSetMarket,
  getProofSetAuditSeed,
  getProofSetPeriod,
  getProofSetProvider,
  getProofSetSeed,
  getProofSetSnapshotWeight,
  getProofSetSuperRoot,
  markProofSetMissed,
  openProofSetDeals,
  PROOF_SET_AUDIT_CHALLENGES,
  PROOF_SET_DEFAULT_PARAMS,
  PROOF_SET_MIN_WEIGHT,
  proofSetChallengeCount,
  proofSetChunkCount,
  proofSetLeafCount,
  registerProofSetProvider,
  requestProofSetAudit,
  signProofSetOffer,
  submitProofSetChunk
} from './proof-set.js'
import type { ProofSetProverDeal, SignedProofSetOffer } from './proof-set.js'

/** One measured transaction. */
export interface ProofSetGasRow {
  operation: string
  gasUsed: bigint
  calldataBytes: number
  /** EIP-7623 floor: 21000 + 10 × tokens (zero byte 1 token, other bytes 4). */
  floor: bigint
}

/** Term of every measured deal: long enough that no deal ends while it is measured. */
const MEASURED_TERM_PERIODS = 100_000

/** Per-period proving gas of one proof set, measured over consecutive periods. */
export interface ProofSetSetGas {
  label: string
  deals: number
  dealBytes: bigint
  depth: number
  /** Levels of the provider's super-tree over its deals: ⌈log2 deals⌉. A challenge's path is depth + superDepth. */
  superDepth: number
  weight: bigint
  k: number
  /** Gas of all proof transactions of each measured period. */
  periodGas: bigint[]
  /** Median of `periodGas`. */
  medianPeriodGas: bigint
}

export interface ProofSetGasReport {
  hardfork: string
  periodBlocks: number
  rows: ProofSetGasRow[]
  /** (approve + openDeals of 50) ÷ 50: all a deal needs before its first proof. */
  openGasPerDeal: number
  sets: ProofSetSetGas[]
  /** 1 TiB of 1 GiB deals: median proving gas per period × periods per 30 days at 12-s blocks. */
  provingGasPerTiBMonth: number
  /** Max ÷ min of the median per-period gas of the equal-total-weight sets (10 … 10,000 deals). */
  equalWeightRatio: number
  /** claim gas ÷ deals in a 100-deal claim. */
  claimGasPerDeal: number
  /** extendDeals gas ÷ deals in a 50-deal renewal that also settles their closed periods. */
  extendGasPerDeal: number
  largestCalldataBytes: number
  largestGas: bigint
  transactions: number
}

/** Periods in 30 days at 12-s blocks for `periodBlocks`. */
export function periodsPerMonth(periodBlocks: number, blockSeconds = 12): number {
  return (30 * 24 * 3600) / (periodBlocks * blockSeconds)
}

/** Sets of equal total weight: N deals of 10,000 × MIN_WEIGHT / N leaves each. */
export const EQUAL_WEIGHT_DEALS = [10, 100, 1000, 10_000] as const
const OPEN_BATCH = 50
/** Storage slot of ProofSetMarket._seedRing (after EIP712's two fallback strings and the state before it). */
const SEED_RING_STORAGE_SLOT = 11n
const GIB = 1n << 30n

export interface MeasureProofSetGasOptions {
  hardfork?: string
  /** Include the equal-weight sets (16,000 deals; minutes) and the 64 MiB set. */
  full?: boolean
  /** Pre-fill the seed ring so proofs pay the steady-state cost of storing a seed (a rewritten slot). */
  warmSeedRing?: boolean
  /** Periods measured per set. */
  periods?: number
  log?: (line: string) => void
  signal?: AbortSignal
}

function calldataFloor(input: Hex): { bytes: number; floor: bigint } {
  const bytes = hexToBytes(input)
  let tokens = 0n
  for (const b of bytes) tokens += b === 0 ? 1n : 4n
  return { bytes: bytes.length, floor: 21_000n + 10n * tokens }
}

interface SetSpec {
  label: string
  deals: number
  leafCount: number
  /** Account index of the set's provider. */
  provider: number
}

interface OpenedSet extends SetSpec {
  tree: PeriodicTree
  prover: ProofSetProverDeal[]
  dealIds: bigint[]
  /** The provider's super-tree over the set's deal roots, as the contract builds it. */
  superTree: ProviderSuperTree
}

/**
 * Measures ProofSetMarket on a fresh anvil with the default (256-block) parameters: batch opening, proving periods
 * of real sets (1 TiB of 1 GiB deals; with `full`, equal-total-weight sets of 10 … 10,000 deals and 64 MiB deals),
 * a full 64-challenge chunk at depth 34 + 4, claims, an audit, a miss and a declaration. Deals of a set share one
 * random block repeated to the deal's size (`PeriodicTree`), so every proof is a real full-depth Merkle path.
 */
export async function measureProofSetGas(options: MeasureProofSetGasOptions = {}): Promise<ProofSetGasReport> {
  const log = options.log ?? (() => {})
  const hardfork = options.hardfork ?? 'osaka'
  const specs: SetSpec[] = [{ label: '1 TiB of 1 GiB deals', deals: 1024, leafCount: 2 ** 24, provider: 2 }]
  if (options.full === true) {
    for (const [i, n] of EQUAL_WEIGHT_DEALS.entries()) {
      specs.push({
        label: `${n} deals, equal total weight`,
        deals: n,
        leafCount: (10_000 * Number(PROOF_SET_MIN_WEIGHT)) / n,
        provider: 3 + i
      })
    }
    specs.push({ label: '4,096 deals of 64 MiB (weight 1 TiB)', deals: 4096, leafCount: 2 ** 20, provider: 7 })
  }
  const bigProvider = 8
  const accountCount = 11
  const anvil = await startAnvil({ accounts: accountCount, hardfork, signal: options.signal })
  try {
    // Mining a period's 256 blocks over a state of thousands of deals takes anvil well over viem's default 10 s.
    const transport = http(anvil.url, { timeout: 600_000, retryCount: 0 })
    const publicClient = createPublicClient({ transport, pollingInterval: 20 }) as PublicClient
    const testClient = createTestClient({ transport, mode: 'anvil' })
    const wallets: Array<WalletClient<Transport, Chain | undefined, Account>> = Array.from(
      { length: accountCount },
      (_, i) => createWalletClient({ account: mnemonicToAccount(ANVIL_MNEMONIC, { addressIndex: i }), transport })
    )
    const deployer = wallets[0]!
    const clientIndex = 1
    const reporterIndex = 10
    const chainId = anvil.chainId

    const rows: ProofSetGasRow[] = []
    let largestCalldataBytes = 0
    let largestGas = 0n
    let transactions = 0
    const track = async (receipt: TransactionReceipt, operation?: string): Promise<ProofSetGasRow> => {
      const tx = await publicClient.getTransaction({ hash: receipt.transactionHash })
      const { bytes, floor } = calldataFloor(tx.input)
      transactions++
      if (bytes > largestCalldataBytes) largestCalldataBytes = bytes
      if (receipt.gasUsed > largestGas) largestGas = receipt.gasUsed
      const row = { operation: operation ?? '', gasUsed: receipt.gasUsed, calldataBytes: bytes, floor }
      if (operation !== undefined) rows.push(row)
      return row
    }

    const d = await deployProofSetMarket(deployer, {
      publicClient,
      params: PROOF_SET_DEFAULT_PARAMS,
      signal: options.signal
    })
    const deployTx = (await publicClient.getBlock({ blockNumber: d.genesisBlock, includeTransactions: true }))
      .transactions[0]
    if (deployTx !== undefined)
      await track(await publicClient.getTransactionReceipt({ hash: deployTx.hash }), 'deploy ProofSetMarket')
    const mc = (i: number): MarketClient => ({ market: d.market, publicClient, walletClient: wallets[i]! })
    const supply = 10n ** 36n
    for (const i of [clientIndex, ...specs.map((s) => s.provider), bigProvider]) {
      await mintTokens(deployer, { publicClient, token: d.token, to: wallets[i]!.account.address, amount: supply })
    }
    for (const i of [...specs.map((s) => s.provider), bigProvider]) {
      await waitForSuccess(
        publicClient,
        await wallets[i]!.writeContract({
          address: d.token,
          abi: erc20Abi,
          functionName: 'approve',
          args: [d.market, maxUint256],
          chain: null
        })
      )
      await track(
        await registerProofSetProvider(mc(i), {
          stake: supply / 2n,
          peerId: '12D3KooWGzxzKZYveHXtpG6AsrUJBcWxHBFS2HsEoGTxrMLvKXtf',
          maxTermPeriods: 2 * MEASURED_TERM_PERIODS
        })
      )
    }
    const approve = await track(
      await waitForSuccess(
        publicClient,
        await wallets[clientIndex]!.writeContract({
          address: d.token,
          abi: erc20Abi,
          functionName: 'approve',
          args: [d.market, maxUint256],
          chain: null
        })
      ),
      'approve (client, once per batch at most)'
    )

    const mineTo = async (target: bigint): Promise<void> => {
      const n = await publicClient.getBlockNumber({ cacheTime: 0 })
      if (target > n + 1n) await testClient.mine({ blocks: Number(target - n - 1n) })
    }

    if (options.warmSeedRing === true) {
      // A network past its first 256 periods rewrites ring slots instead of filling empty ones. Mining 65,536
      // blocks to get there takes anvil minutes, so the slots are pre-filled with a value no period matches
      // (low 32 bits all ones), after checking with a real commitSeed where the ring lives in storage.
      await mineTo((await getProofSetPeriod(mc(0), 0n)).challengeBlock + 1n)
      const r = await track(await commitProofSetSeed(mc(reporterIndex), 0n))
      const slotOf = (i: bigint): Hex =>
        keccak256(encodeAbiParameters([{ type: 'uint256' }, { type: 'uint256' }], [i, SEED_RING_STORAGE_SLOT]))
      const stored = await publicClient.getStorageAt({ address: d.market, slot: slotOf(0n) })
      if (stored !== (await getProofSetSeed(mc(0), 0n)))
        throw new Error(`seed ring not at storage slot ${SEED_RING_STORAGE_SLOT}: the layout changed`)
      rows.push({ ...r, operation: 'commitSeed (empty ring slot)' })
      const filler = toHex(BigInt(keccak256(toHex('filler'))) | 0xffffffffn, { size: 32 })
      for (let i = 1n; i < 256n; i++)
        await testClient.setStorageAt({ address: d.market, index: slotOf(i), value: filler })
    }

    // Opening thousands of deals spans periods; their seeds are stored as they pass so the provider can answer
    // those periods late (unmeasured) and be on time from the first measured one.
    let seeded = options.warmSeedRing === true ? 0n : -1n
    const keepSeeds = async (): Promise<void> => {
      const next = (await publicClient.getBlockNumber({ cacheTime: 0 })) + 1n
      for (let q = seeded + 1n; ; q++) {
        const period = await getProofSetPeriod(mc(0), q)
        if (period.challengeBlock >= next - 1n) break
        await track(await commitProofSetSeed(mc(reporterIndex), q))
        seeded = q
      }
    }

    const block = new Uint8Array(randomBytes(4096))
    const nonces = new Map<number, bigint>()
    const openSet = async (spec: SetSpec, label: string): Promise<OpenedSet> => {
      const tree = new PeriodicTree(block, spec.leafCount)
      const size = BigInt(spec.leafCount) * 64n
      const provider = wallets[spec.provider]!
      const set: OpenedSet = { ...spec, tree, prover: [], dealIds: [], superTree: new ProviderSuperTree() }
      for (let first = 0; first < spec.deals; first += OPEN_BATCH) {
        options.signal?.throwIfAborted()
        const offers: SignedProofSetOffer[] = []
        for (let i = first; i < Math.min(spec.deals, first + OPEN_BATCH); i++) {
          const nonce = nonces.get(spec.provider) ?? 0n
          nonces.set(spec.provider, nonce + 1n)
          const offer = {
            provider: provider.account.address,
            client: wallets[clientIndex]!.account.address,
            root: bytesToHex(tree.root),
            size,
            pricePerPeriod: 1_000n,
            periods: MEASURED_TERM_PERIODS,
            nonce,
            expiry: BigInt(Math.floor(Date.now() / 1000) + 24 * 3600)
          }
          offers.push({ offer, signature: await signProofSetOffer(provider, { market: d.market, offer, chainId }) })
        }
        const { receipt } = await openProofSetDeals(mc(clientIndex), { offers }, { signal: options.signal })
        await keepSeeds()
        await track(
          receipt,
          first === OPEN_BATCH && offers.length === OPEN_BATCH
            ? `openDeals, ${OPEN_BATCH} offers (${label})`
            : undefined
        )
        for (const log of parseEventLogs({ abi: proofSetMarketAbi, logs: receipt.logs, eventName: 'DealOpened' })) {
          set.dealIds.push(log.args.dealId)
          set.superTree.set(log.args.slot, log.args.dealId, log.args.root)
          set.prover.push({
            dealId: log.args.dealId,
            slot: log.args.slot,
            rangeStart: log.args.rangeStart,
            leafCount: proofSetLeafCount(log.args.size),
            voidFrom: BigInt(log.args.endPeriod),
            tree
          })
        }
      }
      log(`opened ${spec.label}`)
      return set
    }

    const sets: OpenedSet[] = []
    for (const spec of specs) sets.push(await openSet(spec, spec.label))
    // The deepest deal and the largest K per transaction: 16 deals of 1 TiB, K = 64, one full chunk at depth 34 + 4.
    const big = await openSet(
      { label: '16 TiB of 1 TiB deals (one full chunk)', deals: 16, leafCount: 2 ** 34, provider: bigProvider },
      '1 TiB deals'
    )
    const openRow = rows.find((r) => r.operation.startsWith('openDeals'))
    const openGasPerDeal =
      openRow === undefined ? Number.NaN : (Number(openRow.gasUsed) + Number(approve.gasUsed)) / OPEN_BATCH

    const periods = options.periods ?? 6
    const first = (await getProofSetPeriod(mc(0))).period + 1n
    const perSet = new Map<OpenedSet, bigint[]>()
    const proveSet = async (set: OpenedSet, period: bigint, label?: string): Promise<bigint> => {
      const address = wallets[set.provider]!.account.address
      const provider = await getProofSetProvider(mc(0), address)
      if (provider.due !== period) throw new Error(`${set.label}: due period ${provider.due}, expected ${period}`)
      const weight = await getProofSetSnapshotWeight(mc(0), address, period)
      const seed = await getProofSetSeed(mc(0), period)
      // The TypeScript super-tree must agree with the contract's before a proof is built on it.
      const chain = await getProofSetSuperRoot(mc(0), address, period)
      const superTree = set.superTree.snapshot(chain.slots)
      if (bytesToHex(superTree.root) !== chain.root)
        throw new Error(
          `${set.label}: super-root ${bytesToHex(superTree.root)} over ${chain.slots} deals, the contract's ${chain.root}`
        )
      let gas = 0n
      for (let chunk = 0; chunk < proofSetChunkCount(proofSetChallengeCount(weight)); chunk++) {
        const { proof } = buildProofSetChunk({
          seed,
          provider: address,
          period,
          weight,
          chunk,
          deals: set.prover,
          superTree
        })
        const receipt = await submitProofSetChunk(
          mc(set.provider),
          { period, chunk, proof },
          { signal: options.signal }
        )
        await track(receipt, label)
        gas += receipt.gasUsed
      }
      return gas
    }
    // Every set proves from `first`; periods before it (while deals were being opened) are answered unmeasured.
    for (const set of [...sets, big]) {
      const address = wallets[set.provider]!.account.address
      await mineTo((await getProofSetPeriod(mc(0), first)).challengeBlock + 1n)
      for (let due = (await getProofSetProvider(mc(0), address)).due; due < first; due++) await proveSet(set, due)
    }
    for (let i = 0n; i < BigInt(periods); i++) {
      const period = first + i
      await mineTo((await getProofSetPeriod(mc(0), period)).challengeBlock + 1n)
      for (const set of sets) {
        const gas = await proveSet(set, period, i === 1n ? `prove, ${set.label}` : undefined)
        perSet.set(set, [...(perSet.get(set) ?? []), gas])
      }
      if (i === 1n) await proveSet(big, period, `prove, ${big.label}`)
      else await proveSet(big, period)
      log(`period ${period} proven`)
    }
    const last = first + BigInt(periods)
    await mineTo((await getProofSetPeriod(mc(0), last)).startBlock)

    // Settlement and the rarer operations, on the 1 GiB set.
    const gib = sets[0]!
    const claim = await track(
      await claimProofSetDeals(mc(reporterIndex), gib.dealIds.slice(0, 100)),
      `claim, 100 deals × ${periods} periods`
    )
    // A client's renewal: 50 unclaimed deals, so the extension settles their closed periods too, as it would.
    const extended = await extendProofSetDeals(
      mc(clientIndex),
      { dealIds: gib.dealIds.slice(100, 100 + OPEN_BATCH), addedPeriods: periods },
      { signal: options.signal }
    )
    await track(extended.receipt, `extendDeals, ${OPEN_BATCH} deals × ${periods} closed periods`)
    await track(await requestProofSetAudit(mc(clientIndex), gib.dealIds[0]!), 'requestAudit')
    await mineTo((await getProofSetPeriod(mc(0), last + 1n)).startBlock)
    await track(await declareProofSetLost(mc(gib.provider), [gib.dealIds[1]!]), 'declareLost, 1 deal')
    await mineTo((await getProofSetPeriod(mc(0), last + 1n)).challengeBlock + 1n)
    const auditSeed = await getProofSetAuditSeed(mc(0), gib.dealIds[0]!, last + 1n)
    await track(
      await answerProofSetAudit(mc(gib.provider), {
        dealId: gib.dealIds[0]!,
        proof: proveChallenges(gib.tree, auditSeed, PROOF_SET_AUDIT_CHALLENGES)
      }),
      `answerAudit (depth ${gib.tree.depth}, ${PROOF_SET_AUDIT_CHALLENGES} leaves)`
    )
    await mineTo((await getProofSetPeriod(mc(0), last + 2n)).startBlock)
    await track(
      await markProofSetMissed(mc(reporterIndex), { provider: wallets[gib.provider]!.account.address, period: last }),
      'markMissed'
    )

    const setGas: ProofSetSetGas[] = sets.map((set) => {
      const gas = perSet.get(set) ?? []
      const sorted = [...gas].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
      const weight =
        BigInt(set.deals) *
        (BigInt(set.leafCount) > PROOF_SET_MIN_WEIGHT ? BigInt(set.leafCount) : PROOF_SET_MIN_WEIGHT)
      return {
        label: set.label,
        deals: set.deals,
        dealBytes: BigInt(set.leafCount) * 64n,
        depth: set.tree.depth,
        superDepth: superDepth(set.deals),
        weight,
        k: Number(proofSetChallengeCount(weight)),
        periodGas: gas,
        medianPeriodGas: sorted[Math.floor(sorted.length / 2)] ?? 0n
      }
    })
    const equal = setGas.filter((s) => s.label.includes('equal total weight')).map((s) => Number(s.medianPeriodGas))
    return {
      hardfork,
      periodBlocks: d.params.periodBlocks,
      rows,
      openGasPerDeal,
      sets: setGas,
      provingGasPerTiBMonth: Number(setGas[0]!.medianPeriodGas) * periodsPerMonth(d.params.periodBlocks),
      equalWeightRatio: equal.length > 0 ? Math.max(...equal) / Math.min(...equal) : Number.NaN,
      claimGasPerDeal: Number(claim.gasUsed) / 100,
      extendGasPerDeal: Number(extended.receipt.gasUsed) / OPEN_BATCH,
      largestCalldataBytes,
      largestGas,
      transactions
    }
  } finally {
    await anvil.stop()
  }
}

/** The ProofSetMarket gas table of docs/contracts.md. */
export function formatProofSetGasTable(r: ProofSetGasReport): string {
  const lines = ['| operation | gas | calldata bytes | EIP-7623 floor |', '|---|---:|---:|---:|']
  for (const row of r.rows) lines.push(`| ${row.operation} | ${row.gasUsed} | ${row.calldataBytes} | ${row.floor} |`)
  lines.push(
    '',
    '| proof set | deals | deal size | path levels (deal + super) | K | median gas per period | periods measured |',
    '|---|---:|---:|---:|---:|---:|---:|'
  )
  for (const s of r.sets) {
    const size =
      s.dealBytes >= GIB ? `${Number(s.dealBytes) / Number(GIB)} GiB` : `${Number(s.dealBytes) / 2 ** 20} MiB`
    lines.push(
      `| ${s.label} | ${s.deals} | ${size} | ${s.depth} + ${s.superDepth} | ${s.k} | ${s.medianPeriodGas} | ${s.periodGas.length} |`
    )
  }
  return lines.join('\n')
}
