import { logger } from '@libp2p/logger'
import { createPublicClient, createWalletClient, http } from 'viem'
import type { Address, Hex, PublicClient } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import {
  exitProvider, getDeal, getMarketParams, getProvider, getToken, getWithdrawable, randomOfferNonce, readTokenInfo,
  registerProvider, signOffer, storageMarketAbi, updateProvider, withdraw, rpcChain } from '@sherd/contracts'
import type { Deal, MarketClient, MarketParams, Offer, TokenInfo } from '@sherd/contracts'
import { MalformedMessageError, offerToWire } from '@sherd/protocol'
import type { OfferRequest } from '@sherd/protocol'
import { tokens } from './amounts.js'
import { CapacityExceededError, ConfigError, InsufficientStakeError, OpenDealsError, ProviderExitedError } from './errors.js'
import { MarketClock, MAX_LOG_RANGE_BLOCKS, readGenesisBlock } from './prover-chain.js'

const log = logger('sherd:node:chain')

/** RPC calls at start must not hang on a dead endpoint. */
export const RPC_TIMEOUT_MS = 10_000

export interface ChainConnection {
  mc: MarketClient
  chainId: number
  address: Address
  /** The market's token: its decimals turn typed amounts into base units, its symbol labels what is printed. */
  token: TokenInfo
}

/**
 * Connects to the market with the provider's chain key. Errors say what to fix: an unreachable RPC, an address
 * with no contract, or a contract that is not a Sherd market.
 */
export async function connectChain (init: { rpcUrl: string, market: string, privateKey: Hex, timeoutMs?: number }): Promise<ChainConnection> {
  if (!/^0x[0-9a-fA-F]{40}$/.test(init.market)) throw new ConfigError(`--contract must be a 0x-prefixed 20-byte address, got "${init.market}"`)
  const market = init.market as Address
  const transport = http(init.rpcUrl, { timeout: init.timeoutMs ?? RPC_TIMEOUT_MS, retryCount: 1 })
  const probe = createPublicClient({ transport })
  let chainId: number
  try {
    chainId = await probe.getChainId()
  } catch (err) {
    throw new ConfigError(`cannot reach the chain RPC at ${init.rpcUrl} (${(err as Error).message.split('\n')[0]}): start the chain node (anvil) or fix --rpc-url`)
  }
  const code = await probe.getCode({ address: market })
  if (code === undefined || code === '0x') {
    throw new ConfigError(`no contract is deployed at ${market} on chain ${chainId} (${init.rpcUrl}): check --contract (the devnet prints the market address)`)
  }
  const chain = rpcChain(chainId, init.rpcUrl)
  const account = privateKeyToAccount(init.privateKey)
  const publicClient = createPublicClient({ chain, transport, pollingInterval: 250 }) as PublicClient
  const walletClient = createWalletClient({ account, chain, transport })
  const mc: MarketClient = { market, publicClient, walletClient }
  try {
    await getMarketParams(mc)
  } catch (err) {
    throw new ConfigError(`the contract at ${market} is not a Sherd StorageMarket (${(err as Error).message.split('\n')[0]}): check --contract`)
  }
  const token = await readTokenInfo(publicClient, await getToken(mc))
  return { mc, chainId, address: account.address, token }
}

/** Reads the market's token (decimals, symbol) without a key: what `init` needs to turn typed amounts into base units. */
export async function readMarketToken (rpcUrl: string, market: Address, timeoutMs = RPC_TIMEOUT_MS): Promise<TokenInfo> {
  const publicClient = createPublicClient({ transport: http(rpcUrl, { timeout: timeoutMs, retryCount: 0 }) }) as PublicClient
  return await readTokenInfo(publicClient, await getToken({ market, publicClient }))
}

function isNotRegistered (err: unknown): boolean {
  return /NotRegistered/.test(String((err as Error).message))
}

/** Registers the provider with its stake, or updates price, capacity and peer id if they changed. */
export async function ensureRegistered (
  conn: ChainConnection,
  p: { stake: bigint, pricePerMiB: bigint, capacity: bigint, peerId: string },
  options: { signal?: AbortSignal, refuseToRegister?: string } = {}
): Promise<'registered' | 'updated' | 'unchanged'> {
  let current
  try {
    current = await getProvider(conn.mc, conn.address)
  } catch (err) {
    if (!isNotRegistered(err)) throw err
  }
  if (current === undefined) {
    // Registering pulls the stake from the account: never do it for a provider that chose to leave.
    if (options.refuseToRegister !== undefined) throw new ProviderExitedError(options.refuseToRegister)
    try {
      await registerProvider(conn.mc, p, { signal: options.signal })
    } catch (err) {
      throw new ConfigError(`registering ${conn.address} with a stake of ${tokens(p.stake, conn.token)} failed (${(err as Error).message.split('\n')[0]}): fund this address with tokens and gas, or lower --stake`)
    }
    log('registered %s on chain %d', conn.address, conn.chainId)
    return 'registered'
  }
  if (current.pricePerMiB !== p.pricePerMiB || current.capacity !== p.capacity || current.peerId !== p.peerId) {
    try {
      await updateProvider(conn.mc, { pricePerMiB: p.pricePerMiB, capacity: p.capacity, peerId: p.peerId }, { signal: options.signal })
    } catch (err) {
      throw new ConfigError(`updating ${conn.address}'s price, capacity and peer id on chain failed (${(err as Error).message.split('\n')[0]}): fund this address with gas, or check the RPC`)
    }
    return 'updated'
  }
  return 'unchanged'
}

/** Withdraws earnings (and a released stake); 0 when there is nothing to withdraw. */
export async function withdrawEarnings (conn: ChainConnection, options: { signal?: AbortSignal } = {}): Promise<{ amount: bigint, tx?: Hex }> {
  if (await getWithdrawable(conn.mc, conn.address) === 0n) return { amount: 0n }
  const { amount, receipt } = await withdraw(conn.mc, options)
  return { amount, tx: receipt.transactionHash }
}

/** Seconds per block, measured over the last blocks (12, Ethereum's slot, on a chain too young to tell). */
async function secondsPerBlock (publicClient: PublicClient, head: bigint): Promise<{ headTime: number, perBlock: number }> {
  const back = head < 100n ? head : 100n
  const [latest, earlier] = await Promise.all([
    publicClient.getBlock({ blockNumber: head }), publicClient.getBlock({ blockNumber: head - back })
  ])
  const perBlock = back === 0n ? 12 : Number(latest.timestamp - earlier.timestamp) / Number(back)
  return { headTime: Number(latest.timestamp), perBlock: perBlock > 0 ? perBlock : 12 }
}

/** `2026-12-01 23:41 UTC`: a date a person reads, to the minute (block times are estimates anyway). */
function formatDate (ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 16).replace('T', ' ')} UTC`
}

/** One open deal of a provider, and the block (and estimated date) from which it can be settled. */
export interface OpenDeal {
  id: bigint
  state: 'pending' | 'active'
  /** First block in which endDeal (active) or expireDeal (pending) is accepted. */
  settlesAtBlock: bigint
  settlesAt: string
  /** It can be settled now (the head has reached `settlesAtBlock`). */
  due: boolean
}

/**
 * The provider's open deals, newest first: its DealOpened events read backwards from the head (in ranges RPC
 * endpoints accept) until as many open deals as the registry counts are found, so the scan reaches back only as far
 * as the oldest open deal.
 */
export async function findOpenDeals (conn: ChainConnection, options: { signal?: AbortSignal } = {}): Promise<OpenDeal[]> {
  const { mc } = conn
  const expected = (await getProvider(mc, conn.address)).openDeals
  const [params, genesis, head] = await Promise.all([getMarketParams(mc), readGenesisBlock(mc), mc.publicClient.getBlockNumber({ cacheTime: 0 })])
  const clock = new MarketClock(genesis, params)
  const { headTime, perBlock } = await secondsPerBlock(mc.publicClient, head)
  const found: OpenDeal[] = []
  for (let to = head; to >= genesis && found.length < expected; to -= MAX_LOG_RANGE_BLOCKS) {
    options.signal?.throwIfAborted()
    const from = to - MAX_LOG_RANGE_BLOCKS + 1n > genesis ? to - MAX_LOG_RANGE_BLOCKS + 1n : genesis
    const logs = await mc.publicClient.getContractEvents({
      address: mc.market, abi: storageMarketAbi, eventName: 'DealOpened', args: { provider: conn.address }, fromBlock: from, toBlock: to, strict: true
    })
    for (const entry of logs.reverse()) {
      const deal = await getDeal(mc, entry.args.dealId)
      if (deal.state !== 'pending' && deal.state !== 'active') continue
      const block = settlesAtBlock(deal, clock, params)
      const at = headTime * 1000 + Math.max(0, Number(block - head)) * perBlock * 1000
      found.push({ id: deal.id, state: deal.state, settlesAtBlock: block, settlesAt: formatDate(at), due: block <= head + 1n })
    }
  }
  return found
}

function settlesAtBlock (deal: Deal, clock: MarketClock, params: MarketParams): bigint {
  // expireDeal is accepted after the activation deadline; endDeal once the period after the term has opened.
  if (deal.state === 'pending') return deal.openedBlock + BigInt(params.activationBlocks) + 1n
  return clock.startBlock(deal.startPeriod + BigInt(deal.periods))
}

/** Leaves the registry; refused while deals are open, with the list of them and when each can be settled. */
export async function exitMarket (conn: ChainConnection, options: { signal?: AbortSignal } = {}): Promise<Hex> {
  try {
    return (await exitProvider(conn.mc, options)).transactionHash
  } catch (err) {
    if (/ProviderHasOpenDeals/.test(String((err as Error).message))) {
      const open = await findOpenDeals(conn, options)
      const lines = open.map((d) => {
        if (d.due) return `  deal ${d.id}: ${d.state === 'active' ? 'its term is over' : 'never activated, past its deadline'}; a running node settles it within seconds`
        return d.state === 'active'
          ? `  deal ${d.id}: active, its term ends at block ${d.settlesAtBlock} (about ${d.settlesAt})`
          : `  deal ${d.id}: never activated, expires after block ${d.settlesAtBlock - 1n} (about ${d.settlesAt})`
      })
      const last = open.reduce<OpenDeal | undefined>((a, d) => (a === undefined || d.settlesAtBlock > a.settlesAtBlock ? d : a), undefined)
      throw new OpenDealsError(
        `${conn.address} still has ${open.length === 1 ? 'an open deal' : `${open.length} open deals`}:\n${lines.join('\n')}\n` +
        'Keep `sherd-node start` running: it proves them to the end and then settles them itself (endDeal / expireDeal), ' +
        `releasing their stake and capacity. Run exit again after that${last === undefined ? '' : ` (from about ${last.settlesAt})`}.`
      )
    }
    if (isNotRegistered(err)) throw new ConfigError(`${conn.address} is not registered with this market: nothing to exit`)
    throw err
  }
}
