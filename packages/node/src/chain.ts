import { logger } from '@libp2p/logger'
import { createPublicClient, createWalletClient, http } from 'viem'
import type { Address, Hex, PublicClient } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import {
  exitProvider, getMarketParams, getProvider, getWithdrawable, randomOfferNonce, registerProvider, signOffer,
  updateProvider, withdraw, rpcChain } from '@sherd/contracts'
import type { MarketClient, Offer } from '@sherd/contracts'
import { MalformedMessageError, offerToWire } from '@sherd/protocol'
import type { OfferRequest } from '@sherd/protocol'
import { CapacityExceededError, ConfigError } from './errors.js'
import type { OfferSigner } from './shard-service.js'

const log = logger('sherd:node:chain')

/** RPC calls at start must not hang on a dead endpoint. */
export const RPC_TIMEOUT_MS = 10_000
/** Offers stay valid this long: enough for a client to open the deal, short enough to re-price. */
export const OFFER_TTL_SECONDS = 3600
const MIB = 1024n * 1024n

export interface ChainConnection {
  mc: MarketClient
  chainId: number
  address: Address
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
  return { mc, chainId, address: account.address }
}

function isNotRegistered (err: unknown): boolean {
  return /NotRegistered/.test(String((err as Error).message))
}

/** Registers the provider with its stake, or updates price, capacity and peer id if they changed. */
export async function ensureRegistered (
  conn: ChainConnection,
  p: { stake: bigint, pricePerMiB: bigint, capacity: bigint, peerId: string },
  options: { signal?: AbortSignal } = {}
): Promise<'registered' | 'updated' | 'unchanged'> {
  let current
  try {
    current = await getProvider(conn.mc, conn.address)
  } catch (err) {
    if (!isNotRegistered(err)) throw err
  }
  if (current === undefined) {
    try {
      await registerProvider(conn.mc, p, options)
    } catch (err) {
      throw new ConfigError(`registering ${conn.address} with a stake of ${p.stake} failed (${(err as Error).message.split('\n')[0]}): fund this address with tokens and gas, or lower --stake`)
    }
    log('registered %s on chain %d', conn.address, conn.chainId)
    return 'registered'
  }
  if (current.pricePerMiB !== p.pricePerMiB || current.capacity !== p.capacity || current.peerId !== p.peerId) {
    await updateProvider(conn.mc, { pricePerMiB: p.pricePerMiB, capacity: p.capacity, peerId: p.peerId }, options)
    return 'updated'
  }
  return 'unchanged'
}

/**
 * Signs offers for the market: price per period = ceil(size × pricePerMiB / MiB), a fresh nonce, expiry
 * OFFER_TTL_SECONDS ahead. Refuses shards that would not fit in the free space.
 */
export function chainOfferSigner (conn: ChainConnection, p: { pricePerMiB: bigint, freeBytes: () => number, ttlSeconds?: number }): OfferSigner {
  return async (request: OfferRequest, options) => {
    const { root, byteLength, periods, client } = request
    if (root === undefined || byteLength === undefined || periods === undefined || client === undefined) {
      throw new MalformedMessageError('an offer request needs root, byteLength, periods and client')
    }
    if (byteLength > p.freeBytes()) throw new CapacityExceededError(`a shard of ${byteLength} bytes does not fit (${p.freeBytes()} bytes free); try another provider`)
    const maxPeriods = request.maxPeriods ?? periods
    if (periods < 1 || maxPeriods < periods) throw new MalformedMessageError(`offer periods ${periods} / maxPeriods ${maxPeriods} are invalid`)
    const size = BigInt(byteLength)
    const offer: Offer = {
      provider: conn.address,
      client,
      root: `0x${Buffer.from(root).toString('hex')}`,
      size,
      pricePerPeriod: (size * p.pricePerMiB + MIB - 1n) / MIB,
      periods,
      maxPeriods,
      nonce: randomOfferNonce(),
      expiry: BigInt(Math.floor(Date.now() / 1000) + (p.ttlSeconds ?? OFFER_TTL_SECONDS))
    }
    options.signal?.throwIfAborted()
    const signature = await signOffer(conn.mc.walletClient!, { market: conn.mc.market, offer })
    return { offer: offerToWire(offer), signature: Uint8Array.from(Buffer.from(signature.slice(2), 'hex')) }
  }
}

/** Withdraws earnings (and a released stake); 0 when there is nothing to withdraw. */
export async function withdrawEarnings (conn: ChainConnection, options: { signal?: AbortSignal } = {}): Promise<{ amount: bigint, tx?: Hex }> {
  if (await getWithdrawable(conn.mc, conn.address) === 0n) return { amount: 0n }
  const { amount, receipt } = await withdraw(conn.mc, options)
  return { amount, tx: receipt.transactionHash }
}

/** Leaves the registry; refused while deals are open. */
export async function exitMarket (conn: ChainConnection, options: { signal?: AbortSignal } = {}): Promise<Hex> {
  try {
    return (await exitProvider(conn.mc, options)).transactionHash
  } catch (err) {
    if (/ProviderHasOpenDeals/.test(String((err as Error).message))) {
      throw new ConfigError('this provider still has open deals: keep the node running until they end, then run exit again')
    }
    if (isNotRegistered(err)) throw new ConfigError(`${conn.address} is not registered with this market: nothing to exit`)
    throw err
  }
}
