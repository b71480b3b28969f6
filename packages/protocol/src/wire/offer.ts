import { decodeOfferFields } from './messages.js'
import type { OFFER_FIELD_NAMES, OfferFields } from './messages.js'

/**
 * A storage offer in the shape of @sherd/contracts' `ProofSetOffer` (the EIP-712 struct `ProofSetMarket.Offer`,
 * domain "Sherd ProofSetMarket"); defined structurally here so the wire package does not depend on contracts, and
 * assignable to it.
 */
export interface WireOffer {
  provider: `0x${string}`
  client: `0x${string}`
  root: `0x${string}`
  size: bigint
  pricePerPeriod: bigint
  periods: number
  nonce: bigint
  expiry: bigint
}

/** An offer as wire fields: uints as decimal strings, addresses and bytes32 as 0x-hex (docs/protocol.md). */
export function offerToWire(offer: WireOffer): OfferFields {
  return {
    provider: offer.provider,
    client: offer.client,
    root: offer.root,
    size: offer.size.toString(),
    pricePerPeriod: offer.pricePerPeriod.toString(),
    periods: offer.periods.toString(),
    nonce: offer.nonce.toString(),
    expiry: offer.expiry.toString()
  }
}

/**
 * The inverse of `offerToWire`, for clients. Throws `MalformedMessageError` naming the field on a missing, unknown
 * or malformed one (the checks of `decodeOfferFields`).
 */
export function offerFromWire(fields: OfferFields): WireOffer {
  const checked = decodeOfferFields(fields)
  const field = (k: (typeof OFFER_FIELD_NAMES)[number]): string => checked[k] as string
  return {
    provider: field('provider') as `0x${string}`,
    client: field('client') as `0x${string}`,
    root: field('root') as `0x${string}`,
    size: BigInt(field('size')),
    pricePerPeriod: BigInt(field('pricePerPeriod')),
    periods: Number(field('periods')),
    nonce: BigInt(field('nonce')),
    expiry: BigInt(field('expiry'))
  }
}
