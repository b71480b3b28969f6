import type { Account, Address, Chain, PublicClient, Transport, WalletClient } from 'viem'
import { TransactionFailedError } from './errors.js'
import { sherdTokenAbi, sherdTokenBytecode, storageMarketAbi, storageMarketBytecode } from './generated/contracts.js'
import { waitForSuccess } from './market.js'
import { DEFAULT_MARKET_PARAMS } from './params.js'
import type { MarketParams } from './params.js'

export interface DeployParameters {
  /** Used to wait for receipts. */
  publicClient: PublicClient
  /** An existing ERC-20 to settle in; a fresh `SherdToken` (mintable by the deployer) when omitted. */
  token?: Address
  /** Market parameters (default `DEFAULT_MARKET_PARAMS`). */
  params?: Partial<MarketParams>
  tokenName?: string
  tokenSymbol?: string
  signal?: AbortSignal
}

export interface Deployment {
  market: Address
  token: Address
  /** Block of the market's deployment: period 0 starts here. */
  genesisBlock: bigint
  params: MarketParams
}

/**
 * Deploys the market (and a token unless one is given) from the wallet's account.
 *
 * @example
 * const { market, token } = await deploy(wallet, { publicClient, params: DEVNET_MARKET_PARAMS })
 */
export async function deploy (
  walletClient: WalletClient<Transport, Chain | undefined, Account>,
  p: DeployParameters
): Promise<Deployment> {
  const params = { ...DEFAULT_MARKET_PARAMS, ...p.params }
  const options = { signal: p.signal }
  let token = p.token
  if (token === undefined) {
    const hash = await walletClient.deployContract({
      abi: sherdTokenAbi,
      bytecode: sherdTokenBytecode,
      args: [p.tokenName ?? 'Sherd Devnet Token', p.tokenSymbol ?? 'SHERD'],
      account: walletClient.account,
      chain: walletClient.chain ?? null
    })
    const receipt = await waitForSuccess(p.publicClient, hash, options)
    token = receipt.contractAddress ?? undefined
    if (token === undefined) throw new TransactionFailedError(`token deployment ${hash} created no contract`)
  }
  const hash = await walletClient.deployContract({
    abi: storageMarketAbi,
    bytecode: storageMarketBytecode,
    args: [token, {
      periodBlocks: BigInt(params.periodBlocks),
      challengeDelayBlocks: BigInt(params.challengeDelayBlocks),
      activationBlocks: BigInt(params.activationBlocks),
      challengeCount: params.challengeCount,
      maxMissedPeriods: params.maxMissedPeriods,
      collateralBps: params.collateralBps,
      slashBps: params.slashBps,
      reporterBps: params.reporterBps
    }],
    account: walletClient.account,
    chain: walletClient.chain ?? null
  })
  const receipt = await waitForSuccess(p.publicClient, hash, options)
  const market = receipt.contractAddress ?? undefined
  if (market === undefined) throw new TransactionFailedError(`market deployment ${hash} created no contract`)
  return { market, token, genesisBlock: receipt.blockNumber, params }
}

/** Mints `amount` of a `SherdToken` to `to` (the wallet must be the token's deployer). */
export async function mintTokens (
  walletClient: WalletClient<Transport, Chain | undefined, Account>,
  p: { publicClient: PublicClient, token: Address, to: Address, amount: bigint, signal?: AbortSignal }
): Promise<void> {
  const hash = await walletClient.writeContract({
    address: p.token, abi: sherdTokenAbi, functionName: 'mint', args: [p.to, p.amount], account: walletClient.account, chain: walletClient.chain ?? null
  })
  await waitForSuccess(p.publicClient, hash, { signal: p.signal })
}
