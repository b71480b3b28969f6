import { buildTree } from '@sherd/proofs'
import type { MerkleTree } from '@sherd/proofs'
import { randomBytes } from 'node:crypto'
import { expect } from 'vitest'
import { bytesToHex, createPublicClient, createTestClient, createWalletClient, http } from 'viem'
import type { Account, Chain, Hex, PublicClient, TestClient, Transport, WalletClient } from 'viem'
import { mnemonicToAccount } from 'viem/accounts'
import { ANVIL_MNEMONIC, decodeProofSetRevert, rpcChain, startAnvil } from '../src/index.js'
import type { Anvil } from '../src/index.js'

export interface Chainside {
  anvil: Anvil
  chain: Chain
  publicClient: PublicClient
  testClient: TestClient<'anvil'>
  accounts: Account[]
  wallets: Array<WalletClient<Transport, Chain, Account>>
}

const ACCOUNT_COUNT = 10

export async function startChain (options: { hardfork?: string } = {}): Promise<Chainside> {
  const anvil = await startAnvil({ accounts: ACCOUNT_COUNT, ...options })
  const chain = rpcChain(anvil.chainId, anvil.url, 'anvil')
  const transport = http(anvil.url)
  const publicClient = createPublicClient({ chain, transport, pollingInterval: 50 }) as PublicClient
  const testClient = createTestClient({ chain, transport, mode: 'anvil' })
  const accounts = Array.from({ length: ACCOUNT_COUNT }, (_, i) => mnemonicToAccount(ANVIL_MNEMONIC, { addressIndex: i }))
  const wallets = accounts.map((account) => createWalletClient({ account, chain, transport }))
  return { anvil, chain, publicClient, testClient, accounts, wallets }
}

export const TOKEN = 10n ** 18n

/** Random shard bytes and their tree. */
export function randomShard (size: number): { data: Uint8Array, tree: MerkleTree, root: Hex } {
  const data = new Uint8Array(randomBytes(size))
  const tree = buildTree(data)
  return { data, tree, root: bytesToHex(tree.root) }
}

/** Mines blocks until the chain's next block number is `target` (no-op if already past). */
export async function mineTo (c: Chainside, target: bigint): Promise<void> {
  const n = await c.publicClient.getBlockNumber({ cacheTime: 0 })
  // The next transaction lands in block n + 1.
  if (target > n + 1n) await c.testClient.mine({ blocks: Number(target - n - 1n) })
}

/** Awaits `promise`, expecting it to revert with `errorName` (and `args`, when given). */
export async function expectRevert (promise: Promise<unknown>, errorName: string, args?: readonly unknown[]): Promise<void> {
  let caught: unknown
  try {
    await promise
  } catch (err) {
    caught = err
  }
  const revert = decodeProofSetRevert(caught)
  if (revert === undefined) throw new Error(`expected revert ${errorName}, got ${caught === undefined ? 'success' : String(caught)}`)
  expect(revert.errorName).toBe(errorName)
  if (args !== undefined) expect(revert.args).toEqual(args)
}
