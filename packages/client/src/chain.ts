import {
  getProofSetParams,
  getProofSetWithdrawable,
  proofSetMarketAbi,
  readTokenInfo,
  rpcChain
} from '@sherd/contracts'
import type { MarketClient, ProofSetParams, TokenInfo } from '@sherd/contracts'
import { createNonceManager, createPublicClient, createWalletClient, erc20Abi, http } from 'viem'
import type { Account, Address, Chain, Hex, PublicClient, Transport, WalletClient } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { jsonRpc } from 'viem/nonce'
import { ChainUnreachableError, ClientConfigError, NotAMarketError, WrongChainError } from './errors.js'

/** How to reach the chain: the part of `ClientConfig` that needs no libp2p. */
export interface ChainConfig {
  rpcUrl?: string
  publicClient?: PublicClient
  walletClient?: WalletClient<Transport, Chain | undefined, Account>
  account?: string | Account
  contract?: Address | string
  pollingIntervalMs?: number
  /**
   * What a deployment file says the chain is (`readMarketDeployment`): the connection is refused when the RPC
   * answers with another chain id or the market settles in another token, since the file then names another network.
   */
  expect?: { chainId?: number; token?: Address; source?: string }
}

/** A checked connection to the market: the chain answers and the contract is a ProofSetMarket. */
export interface ChainConnection {
  publicClient: PublicClient
  walletClient?: WalletClient<Transport, Chain | undefined, Account>
  market: MarketClient
  chainId: number
  /** The paying account, when one was configured. */
  account?: Address
}

export interface WalletInfo {
  readonly address: Address
  readonly token: Address
  /** Base units of the token (see `tokenInfo` for its decimals and symbol). */
  readonly balance: bigint
  /** Native coin for gas, wei. */
  readonly gasBalance: bigint
  /** Refunds waiting in the market (withdrawn by `delete`), base units. */
  readonly withdrawable: bigint
  readonly tokenInfo: TokenInfo
}

/**
 * Connects to the chain and checks the market, without libp2p: what `createClient().start()` does first, and all
 * that commands reading only chain state need (a wallet, deal states). Returns undefined when no chain is
 * configured at all.
 */
export async function connectChain(
  config: ChainConfig,
  options: { signal?: AbortSignal } = {}
): Promise<ChainConnection | undefined> {
  const rpcUrl = config.rpcUrl
  let publicClient = config.publicClient
  if (config.contract === undefined) {
    if (
      publicClient !== undefined ||
      rpcUrl !== undefined ||
      config.walletClient !== undefined ||
      config.account !== undefined
    ) {
      throw new ClientConfigError(
        'a chain was configured but no contract: pass contract (the market address; the devnet prints it)'
      )
    }
    return undefined
  }
  if (!/^0x[0-9a-fA-F]{40}$/.test(config.contract)) {
    throw new ClientConfigError(`contract must be the market's 0x-prefixed 20-byte address, got "${config.contract}"`)
  }
  if (publicClient === undefined && rpcUrl === undefined) {
    throw new ClientConfigError(
      'contract was given but no chain: pass rpcUrl (e.g. http://127.0.0.1:8545) or publicClient'
    )
  }
  let chainId: number
  const transport = http(rpcUrl, { timeout: 30_000, retryCount: 2 })
  try {
    chainId =
      publicClient !== undefined
        ? await publicClient.getChainId()
        : await createPublicClient({ transport }).getChainId()
  } catch (err) {
    throw new ChainUnreachableError(
      `cannot reach the chain RPC${rpcUrl === undefined ? '' : ` at ${rpcUrl}`} (${(err as Error).message.split('\n')[0]}): start the chain (anvil, or the devnet) or fix rpcUrl`,
      { cause: err }
    )
  }
  options.signal?.throwIfAborted()
  const chain = rpcChain(chainId, rpcUrl)
  publicClient ??= createPublicClient({
    chain,
    transport,
    ...(config.pollingIntervalMs === undefined ? {} : { pollingInterval: config.pollingIntervalMs })
  }) as PublicClient
  let walletClient = config.walletClient
  if (walletClient === undefined && config.account !== undefined) {
    if (rpcUrl === undefined)
      throw new ClientConfigError('account was given without rpcUrl: pass rpcUrl, or a walletClient')
    const account =
      typeof config.account === 'string'
        ? privateKeyToAccount(config.account as Hex, {
            // A nonce manager of this client's own: viem's shared one is keyed by (address, chain id), so a second
            // chain with the same id and account (a fresh devnet) would inherit the first one's nonces and hang.
            nonceManager: createNonceManager({ source: jsonRpc() })
          })
        : config.account
    walletClient = createWalletClient({ account, chain, transport })
  }
  const market: MarketClient = {
    market: config.contract as Address,
    publicClient,
    ...(walletClient === undefined ? {} : { walletClient })
  }
  const source = config.expect?.source === undefined ? '' : ` (from ${config.expect.source})`
  if (config.expect?.chainId !== undefined && config.expect.chainId !== chainId) {
    throw new WrongChainError(
      `the RPC answers for chain ${chainId} but the deployment${source} is on chain ${config.expect.chainId}: pass that chain's --rpc-url, or the deployment file of this chain`
    )
  }
  try {
    await marketParams(market)
  } catch (err) {
    throw new NotAMarketError(
      `the contract at ${config.contract} on chain ${chainId} is not a Sherd ProofSetMarket (${(err as Error).message.split('\n')[0]}): check contract (or --deployment)`,
      { cause: err }
    )
  }
  if (config.expect?.token !== undefined) {
    const token = await publicClient.readContract({
      address: market.market,
      abi: proofSetMarketAbi,
      functionName: 'token'
    })
    if (token.toLowerCase() !== config.expect.token.toLowerCase()) {
      throw new NotAMarketError(
        `the market ${market.market} settles in token ${token}, not ${config.expect.token} as the deployment${source} says: the file names another deployment; use the right --deployment or --contract`
      )
    }
  }
  return {
    publicClient,
    market,
    chainId,
    ...(walletClient === undefined ? {} : { walletClient, account: walletClient.account.address })
  }
}

// The token never changes for a market, and every amount a command prints needs it: read it once per connection.
const tokenCache = new WeakMap<MarketClient, Promise<TokenInfo>>()

/** The market's payment token: address, decimals and symbol (read once per market client). */
export async function marketToken(market: MarketClient): Promise<TokenInfo> {
  let info = tokenCache.get(market)
  if (info === undefined) {
    info = market.publicClient
      .readContract({ address: market.market, abi: proofSetMarketAbi, functionName: 'token' })
      .then(async (address) => await readTokenInfo(market.publicClient, address))
    info.catch(() => {
      tokenCache.delete(market)
    })
    tokenCache.set(market, info)
  }
  return await info
}

const paramsCache = new WeakMap<MarketClient, Promise<ProofSetParams & { genesisBlock: bigint }>>()

/** The market's parameters and genesis block (immutable in the contract: read once per market client). */
export async function marketParams(market: MarketClient): Promise<ProofSetParams & { genesisBlock: bigint }> {
  let params = paramsCache.get(market)
  if (params === undefined) {
    params = Promise.all([
      getProofSetParams(market),
      market.publicClient.readContract({ address: market.market, abi: proofSetMarketAbi, functionName: 'genesisBlock' })
    ]).then(([p, genesisBlock]) => ({ ...p, genesisBlock }))
    params.catch(() => {
      paramsCache.delete(market)
    })
    paramsCache.set(market, params)
  }
  return await params
}

/** The market's collateralBps (what a deal locks from its provider's stake, per 10,000 of its escrow). */
export async function marketCollateralBps(market: MarketClient): Promise<bigint> {
  return BigInt((await marketParams(market)).collateralBps)
}

/** The paying account's address and balances. */
export async function readWallet(chain: ChainConnection | undefined): Promise<WalletInfo> {
  if (chain?.account === undefined) {
    throw new ClientConfigError(
      'wallet needs the chain and an account: pass rpcUrl, contract and account (--private-key / SHERD_PRIVATE_KEY)'
    )
  }
  const account = chain.account
  const tokenInfo = await marketToken(chain.market)
  const [balance, gasBalance, withdrawable] = await Promise.all([
    chain.publicClient.readContract({
      address: tokenInfo.address,
      abi: erc20Abi,
      functionName: 'balanceOf',
      args: [account]
    }),
    chain.publicClient.getBalance({ address: account }),
    getProofSetWithdrawable(chain.market, account)
  ])
  return { address: account, token: tokenInfo.address, balance, gasBalance, withdrawable, tokenInfo }
}
