import { buildTree } from '@sherd/proofs'
import { randomBytes } from 'node:crypto'
import { bytesToHex, createPublicClient, createTestClient, createWalletClient, erc20Abi, hexToBytes, http, maxUint256 } from 'viem'
import type { Hex, PublicClient, TransactionReceipt } from 'viem'
import { mnemonicToAccount } from 'viem/accounts'
import { ANVIL_MNEMONIC, startAnvil } from './anvil.js'
import { deploy, mintTokens } from './deploy.js'
import {
  activateDeal, getActivationSeed, getDeal, getPeriodInfo, markMissed, openDeal, registerProvider, submitProofs,
  waitForSuccess, withdraw
} from './market.js'
import type { MarketClient } from './market.js'
import { randomOfferNonce, signOffer } from './offer.js'
import { DEFAULT_MARKET_PARAMS } from './params.js'
import { proveChallenges } from './proof.js'
import { deriveChallengeSeed } from './seed.js'

/** The shard of the gas table: 4 MiB, 65,536 leaves, depth 16 (DESIGN.md's reference case). */
export const GAS_SHARD_BYTES = 4 * 1024 * 1024
/** The batch sizes of the gas table; 100 × c = 1,000 challenged leaves is the per-leaf reference. */
export const GAS_BATCH_SIZES = [100, 10, 1] as const

export interface GasRow {
  operation: string
  gasUsed: bigint
  calldataBytes: number
  /** EIP-7623 floor: 21000 + 10 × tokens (tokens = zero bytes + 4 × non-zero bytes). */
  floor: bigint
  /** 21000 + 4 × tokens: what calldata costs without the floor; gasUsed − this = execution when above the floor. */
  standardCalldata: bigint
}

export interface GasReport {
  hardfork: string
  rows: GasRow[]
  /** gasUsed of the 100-deal batch ÷ (100 × c). */
  gasPerChallengedLeaf: number
}

function calldataCost (input: Hex): { bytes: number, floor: bigint, standardCalldata: bigint } {
  const bytes = hexToBytes(input)
  let tokens = 0n
  for (const b of bytes) tokens += b === 0 ? 1n : 4n
  return { bytes: bytes.length, floor: 21_000n + 10n * tokens, standardCalldata: 21_000n + 4n * tokens }
}

/**
 * Measures the gas of each market operation on a fresh anvil (`hardfork` or anvil's default): open a deal,
 * activate, proof batches of 100, 10 and 1 deals at the default c on 4 MiB shards, mark missed, withdraw.
 * Used by the contracts' gas test (which enforces the per-leaf budget) and by the bench suite.
 */
export async function measureMarketGas (options: { hardfork?: string, signal?: AbortSignal } = {}): Promise<GasReport> {
  const anvil = await startAnvil({ accounts: 4, ...(options.hardfork === undefined ? {} : { hardfork: options.hardfork }), signal: options.signal })
  try {
    const transport = http(anvil.url)
    const publicClient = createPublicClient({ transport, pollingInterval: 50 }) as PublicClient
    const testClient = createTestClient({ transport, mode: 'anvil' })
    const wallets = [0, 1, 2, 3].map((i) => createWalletClient({ account: mnemonicToAccount(ANVIL_MNEMONIC, { addressIndex: i }), transport }))
    const [deployer, providerWallet, clientWallet, reporterWallet] = wallets as [typeof wallets[0], typeof wallets[0], typeof wallets[0], typeof wallets[0]]
    const d = await deploy(deployer, { publicClient, params: DEFAULT_MARKET_PARAMS, signal: options.signal })
    const mc = (w: typeof deployer): MarketClient => ({ market: d.market, publicClient, walletClient: w })
    const provider = mc(providerWallet)
    const client = mc(clientWallet)
    const supply = 10n ** 30n
    for (const w of [providerWallet, clientWallet]) await mintTokens(deployer, { publicClient, token: d.token, to: w.account.address, amount: supply })
    await registerProvider(provider, { stake: supply, pricePerMiB: 1n, capacity: 1n << 40n, peerId: '12D3KooWGzxzKZYveHXtpG6AsrUJBcWxHBFS2HsEoGTxrMLvKXtf' })
    // One allowance for every deal, so each openDeal is measured alone.
    await waitForSuccess(publicClient, await clientWallet.writeContract({
      address: d.token, abi: erc20Abi, functionName: 'approve', args: [d.market, maxUint256], chain: null
    }))

    const rows: GasRow[] = []
    const row = async (operation: string, receipt: TransactionReceipt): Promise<void> => {
      const tx = await publicClient.getTransaction({ hash: receipt.transactionHash })
      const { bytes, floor, standardCalldata } = calldataCost(tx.input)
      rows.push({ operation, gasUsed: receipt.gasUsed, calldataBytes: bytes, floor, standardCalldata })
    }

    const tree = buildTree(new Uint8Array(randomBytes(GAS_SHARD_BYTES)))
    const c = d.params.challengeCount
    const total = GAS_BATCH_SIZES.reduce((a, b) => a + b, 0)
    const dealIds: bigint[] = []
    for (let i = 0; i < total; i++) {
      options.signal?.throwIfAborted()
      const offer = {
        provider: providerWallet.account.address,
        client: clientWallet.account.address,
        root: bytesToHex(tree.root),
        size: BigInt(GAS_SHARD_BYTES),
        pricePerPeriod: 10n ** 18n,
        periods: 4,
        maxPeriods: 4,
        nonce: randomOfferNonce(),
        expiry: BigInt(Math.floor(Date.now() / 1000) + 3600)
      }
      const { dealId, receipt } = await openDeal(client, { offer, signature: await signOffer(providerWallet, { market: d.market, offer }) })
      if (i === 0) await row('openDeal', receipt)
      dealIds.push(dealId)
    }
    let period = 0n
    for (const [i, dealId] of dealIds.entries()) {
      const receipt = await activateDeal(provider, { dealId, proof: proveChallenges(tree, await getActivationSeed(provider, dealId), c) })
      if (i === 0) await row(`activate (depth ${tree.depth}, c = ${c})`, receipt)
      const start = (await getDeal(provider, dealId)).startPeriod
      if (start > period) period = start
    }

    // Each batch proves deals never proven before, so each pays the same first-write storage costs.
    const info = await getPeriodInfo(provider, period)
    const mineTo = async (target: bigint): Promise<void> => {
      const n = await publicClient.getBlockNumber({ cacheTime: 0 })
      if (target > n + 1n) await testClient.mine({ blocks: Number(target - n - 1n) })
    }
    await mineTo(info.firstProofBlock)
    const { hash: blockHash } = await publicClient.getBlock({ blockNumber: info.challengeBlock })
    let next = 0
    let gasPerChallengedLeaf = 0
    for (const n of GAS_BATCH_SIZES) {
      const batch = dealIds.slice(next, next + n)
      next += n
      const receipt = await submitProofs(provider, {
        period,
        items: batch.map((dealId) => ({ dealId, proof: proveChallenges(tree, deriveChallengeSeed(blockHash, dealId, period), c) }))
      })
      await row(`submitProofs, ${n} deal${n === 1 ? '' : 's'}`, receipt)
      if (n === 100) gasPerChallengedLeaf = Number(receipt.gasUsed) / (n * c)
    }

    // A period nobody proved: let it close, then mark it.
    await mineTo((await getPeriodInfo(provider, period + 1n)).endBlock)
    await row('markMissed', await markMissed(mc(reporterWallet), { dealId: dealIds[0]!, period: period + 1n }))
    await row('withdraw', (await withdraw(provider)).receipt)
    return { hardfork: options.hardfork ?? 'default', rows, gasPerChallengedLeaf }
  } finally {
    await anvil.stop()
  }
}

/**
 * The gas table of docs/contracts.md from a report on the default hardfork and one on a hardfork without the
 * EIP-7623 floor (cancun), which exposes the execution gas the floor hides.
 */
export function formatGasTable (current: GasReport, noFloor: GasReport): string {
  const lines = [
    '| operation | gas | calldata bytes | EIP-7623 floor | execution gas | execution below the floor |',
    '|---|---:|---:|---:|---:|---:|'
  ]
  for (const [i, r] of current.rows.entries()) {
    const old = noFloor.rows[i]
    const execution = old === undefined ? undefined : old.gasUsed - old.standardCalldata
    const below = execution === undefined ? undefined : r.floor - r.standardCalldata - execution
    lines.push(`| ${r.operation} | ${r.gasUsed} | ${r.calldataBytes} | ${r.floor} | ${execution ?? '?'} | ${below === undefined ? '?' : below > 0n ? below : 0n} |`)
  }
  return lines.join('\n')
}
