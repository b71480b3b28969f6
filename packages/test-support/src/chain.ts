import { deployProofSetMarket, mintTokens, PROOF_SET_DEVNET_PARAMS, rpcChain, startAnvil } from '@sherd/contracts'
import type { Anvil, MarketClient, ProofSetDeployment, ProofSetParams, StartAnvilOptions } from '@sherd/contracts'
import { createPublicClient, createTestClient, createWalletClient, http } from 'viem'
import type { Account, Chain, PublicClient, TestClient, Transport, WalletClient } from 'viem'
import { anvilAccount } from './keys.js'

/** One token in base units (SherdToken has 18 decimals). */
export const TOKEN = 10n ** 18n

export type TestWallet = WalletClient<Transport, Chain, Account>

/** A started anvil and viem clients for each of its dev accounts. */
export interface TestChain {
  anvil: Anvil
  chain: Chain
  publicClient: PublicClient
  testClient: TestClient<'anvil'>
  /** anvil's dev accounts, by index. */
  accounts: Account[]
  /** A wallet client per account, same index. */
  wallets: TestWallet[]
}

export type StartTestChainOptions = Omit<StartAnvilOptions, 'mnemonic'>

const DEFAULT_ACCOUNTS = 10

/** Starts anvil on a free port (stop it with `chain.anvil.stop()`). */
export async function startTestChain(options: StartTestChainOptions = {}): Promise<TestChain> {
  const count = options.accounts ?? DEFAULT_ACCOUNTS
  const anvil = await startAnvil({ ...options, accounts: count })
  const chain = rpcChain(anvil.chainId, anvil.url, 'anvil')
  const transport = http(anvil.url)
  // 50 ms polling: anvil answers at once, and viem's 4 s default would dominate every receipt wait.
  const publicClient = createPublicClient({ chain, transport, pollingInterval: 50 }) as PublicClient
  const testClient = createTestClient({ chain, transport, mode: 'anvil' })
  const accounts: Account[] = Array.from({ length: count }, (_, i) => anvilAccount(i))
  const wallets = accounts.map((account) => createWalletClient({ account, chain, transport }))
  return { anvil, chain, publicClient, testClient, accounts, wallets }
}

export interface DeployTestMarketOptions {
  /** Over the devnet's parameters (8-block periods); pass PROOF_SET_DEFAULT_PARAMS for the real ones. */
  params?: Partial<ProofSetParams>
  /** Accounts minted `amount` tokens (default: every account but the deployer, 0). */
  fund?: readonly number[]
  /** Base units minted to each funded account (default 1,000,000 tokens). */
  amount?: bigint
}

/** The deployment, and a market client acting as any account. */
export interface TestMarket extends ProofSetDeployment {
  as: (index: number) => MarketClient
}

/** Deploys a ProofSetMarket and a SherdToken from account 0 and mints tokens to the funded accounts. */
export async function deployTestMarket(c: TestChain, options: DeployTestMarketOptions = {}): Promise<TestMarket> {
  const deployer = c.wallets[0]
  if (deployer === undefined) throw new Error('the test chain has no accounts: start it with accounts ≥ 1')
  const deployment = await deployProofSetMarket(deployer, {
    publicClient: c.publicClient,
    params: { ...PROOF_SET_DEVNET_PARAMS, ...options.params }
  })
  const fund = options.fund ?? c.accounts.map((_, i) => i).slice(1)
  const amount = options.amount ?? 1_000_000n * TOKEN
  for (const index of fund) {
    const account = c.accounts[index]
    if (account === undefined)
      throw new Error(`cannot fund account ${index}: the test chain has ${c.accounts.length} accounts`)
    await mintTokens(deployer, { publicClient: c.publicClient, token: deployment.token, to: account.address, amount })
  }
  const as = (index: number): MarketClient => {
    const walletClient = c.wallets[index]
    if (walletClient === undefined)
      throw new Error(`no account ${index}: the test chain has ${c.wallets.length} accounts`)
    return { market: deployment.market, publicClient: c.publicClient, walletClient }
  }
  return { ...deployment, as }
}
