import { MalformedMessageError } from './errors.js'
import type { OfferFields } from './messages.js'

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
export function offerToWire (offer: WireOffer): OfferFields {
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

const ADDRESS = /^0x[0-9a-fA-F]{40}$/
const BYTES32 = /^0x[0-9a-fA-F]{64}$/
const UINT = /^(0|[1-9][0-9]{0,77})$/

/** The inverse of `offerToWire`, for clients. Throws `MalformedMessageError` on a missing or malformed field. */
export function offerFromWire (fields: OfferFields): WireOffer {
  const get = (k: string, re: RegExp): string => {
    const v = fields[k]
    if (v === undefined || !re.test(v)) throw new MalformedMessageError(`offer field ${k} is missing or malformed`)
    return v
  }
  const uint32 = (k: string): number => {
    const n = Number(get(k, UINT))
    if (n > 2 ** 32 - 1) throw new MalformedMessageError(`offer field ${k} exceeds uint32`)
    return n
  }
  return {
    provider: get('provider', ADDRESS) as `0x${string}`,
    client: get('client', ADDRESS) as `0x${string}`,
    root: get('root', BYTES32) as `0x${string}`,
    size: BigInt(get('size', UINT)),
    pricePerPeriod: BigInt(get('pricePerPeriod', UINT)),
    periods: uint32('periods'),
    nonce: BigInt(get('nonce', UINT)),
    expiry: BigInt(get('expiry', UINT))
  }
}
