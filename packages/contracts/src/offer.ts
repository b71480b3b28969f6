import { getAddress, hashTypedData, isAddressEqual, recoverTypedDataAddress } from 'viem'
import type { Account, Address, Chain, Hex, Transport, WalletClient } from 'viem'
import { InvalidOfferError } from './errors.js'

/**
 * A provider's terms for one deal, signed with EIP-712 and passed by the client to `openDeal`.
 * Field order and types are the Solidity struct `StorageMarket.Offer`.
 */
export interface Offer {
  /** The provider's registered address; it signs the offer. */
  provider: Address
  /** The only address that may open the deal (and pays the escrow). */
  client: Address
  /** Merkle root of the shard (32 bytes, @sherd/proofs). */
  root: Hex
  /** Shard size in bytes (1..2^40); leafCount = ceil(size / 64). */
  size: bigint
  /** Tokens paid per proven period. */
  pricePerPeriod: bigint
  /** Periods the deal runs once activated; escrow = pricePerPeriod × periods. */
  periods: number
  /** Longest term (in periods) the client may extend the deal to, at the same price; ≥ periods. */
  maxPeriods: number
  /** Any unused 256-bit number; each (provider, nonce) opens at most one deal. */
  nonce: bigint
  /** Unix time (seconds) after which the offer cannot be opened. */
  expiry: bigint
}

/** EIP-712 domain name and version of the market. */
export const OFFER_DOMAIN_NAME = 'Sherd StorageMarket'
export const OFFER_DOMAIN_VERSION = '1'

/** EIP-712 types of an offer. */
export const OFFER_TYPES = {
  Offer: [
    { name: 'provider', type: 'address' },
    { name: 'client', type: 'address' },
    { name: 'root', type: 'bytes32' },
    { name: 'size', type: 'uint64' },
    { name: 'pricePerPeriod', type: 'uint256' },
    { name: 'periods', type: 'uint32' },
    { name: 'maxPeriods', type: 'uint32' },
    { name: 'nonce', type: 'uint256' },
    { name: 'expiry', type: 'uint64' }
  ]
} as const

/** The EIP-712 domain of the market at `market` on chain `chainId`. */
export function offerDomain (chainId: number, market: Address) {
  return { name: OFFER_DOMAIN_NAME, version: OFFER_DOMAIN_VERSION, chainId, verifyingContract: market } as const
}

/** The digest a provider signs for `offer` (equals `StorageMarket.hashOffer(offer)`). */
export function hashOffer (offer: Offer, chainId: number, market: Address): Hex {
  return hashTypedData({ domain: offerDomain(chainId, market), types: OFFER_TYPES, primaryType: 'Offer', message: offer })
}

/** A fresh random offer nonce. */
export function randomOfferNonce (): bigint {
  const bytes = crypto.getRandomValues(new Uint8Array(32))
  return BigInt('0x' + Buffer.from(bytes).toString('hex'))
}

export interface SignOfferParameters {
  market: Address
  offer: Offer
}

/**
 * Signs `offer` with the wallet's account, which must be `offer.provider`. Used by the provider node on request.
 *
 * @example
 * const signature = await signOffer(wallet, { market, offer })
 */
export async function signOffer (
  walletClient: WalletClient<Transport, Chain | undefined, Account>,
  { market, offer }: SignOfferParameters
): Promise<Hex> {
  if (!isAddressEqual(walletClient.account.address, offer.provider)) {
    throw new InvalidOfferError(`offer.provider ${offer.provider} is not the signing account ${walletClient.account.address}`)
  }
  const chainId = walletClient.chain?.id ?? await walletClient.getChainId()
  return await walletClient.signTypedData({
    account: walletClient.account,
    domain: offerDomain(chainId, market),
    types: OFFER_TYPES,
    primaryType: 'Offer',
    message: offer
  })
}

export interface VerifyOfferParameters {
  offer: Offer
  signature: Hex
  market: Address
  chainId: number
  /** The expected client; checked when given. */
  client?: Address
  /** Unix seconds to check expiry against (default: now). */
  now?: bigint
}

/**
 * Checks an offer before opening it: signed by `offer.provider` (an EOA) for this market and chain, not expired,
 * and well-formed. Throws `InvalidOfferError` saying which check failed. Used by the client SDK.
 */
export async function verifyOffer ({ offer, signature, market, chainId, client, now }: VerifyOfferParameters): Promise<void> {
  const seconds = now ?? BigInt(Math.floor(Date.now() / 1000))
  if (offer.expiry < seconds) throw new InvalidOfferError(`offer expired at ${offer.expiry} (now ${seconds}); ask the provider for a new one`)
  if (offer.size < 1n || offer.size > 2n ** 40n) throw new InvalidOfferError(`offer size ${offer.size} not in 1..2^40`)
  if (offer.periods < 1 || offer.maxPeriods < offer.periods) {
    throw new InvalidOfferError(`offer periods ${offer.periods} / maxPeriods ${offer.maxPeriods} invalid`)
  }
  if (client !== undefined && !isAddressEqual(client, offer.client)) {
    throw new InvalidOfferError(`offer is for client ${offer.client}, not ${client}`)
  }
  let signer: Address
  try {
    signer = await recoverTypedDataAddress({
      domain: offerDomain(chainId, market), types: OFFER_TYPES, primaryType: 'Offer', message: offer, signature
    })
  } catch (err) {
    throw new InvalidOfferError(`offer signature is malformed: ${(err as Error).message}`)
  }
  if (!isAddressEqual(signer, offer.provider)) {
    throw new InvalidOfferError(`offer is signed by ${getAddress(signer)}, not by its provider ${offer.provider}`)
  }
}
