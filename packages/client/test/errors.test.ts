import { describe, expect, it } from 'vitest'
import { ChainActionError } from '../src/index.js'

// A viem revert as the SDK sees it: the first line of the message, the contract's custom error deeper in the chain.
function reverted (errorName: string, args: unknown[]): Error {
  return Object.assign(new Error('The contract function "openDeal" reverted.\n\nDocs: …'), { cause: { data: { errorName, args } } })
}

describe('ChainActionError', () => {
  it('names the contract error and blames the provider\'s stake, not the client\'s account, for InsufficientStake', () => {
    const err = new ChainActionError('opening the deal', reverted('InsufficientStake', ['0x15d34AAf54267DB7D7c367839AAf71A00a2C6A65', 3n, 1n]))
    expect(err.message).toMatch(/reverted\. \(InsufficientStake\(0x15d34AAf54267DB7D7c367839AAf71A00a2C6A65, 3, 1\)\); the provider's free stake does not cover/)
    expect(err.message).not.toMatch(/token balance/)
  })

  it('keeps the funds hint for any other failure', () => {
    expect(new ChainActionError('approving', reverted('OfferExpired', [1n, 2n])).message).toMatch(/OfferExpired\(1, 2\)\); check the account's token balance and gas/)
    expect(new ChainActionError('approving', new Error('fetch failed')).message).toBe('approving failed: fetch failed; check the account\'s token balance and gas, and the RPC')
  })
})
