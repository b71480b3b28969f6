import { describe, expect, it } from 'vitest'
import { createServer } from 'node:net'
import { ChainActionError, ChainUnreachableError, ClientConfigError, connectChain } from '../src/index.js'

// A viem revert as the SDK sees it: a one-line shortMessage, pages of detail in the message.
function reverted(): Error {
  return Object.assign(new Error('The contract function "openDeals" reverted.\n\nDocs: …'), {
    shortMessage: 'The contract function "openDeals" reverted.'
  })
}

describe('ChainActionError', () => {
  it("names the market's revert and blames the provider's stake, not the client's account, for InsufficientStake", () => {
    const err = new ChainActionError('opening the deals', reverted(), undefined, 'InsufficientStake')
    expect(err.message).toMatch(/reverted\. \(InsufficientStake\); the provider's free stake does not cover/)
    expect(err.message).not.toMatch(/token balance/)
    expect(err.revert).toBe('InsufficientStake')
  })

  it("says what to do for a term beyond the provider's limit and an expired offer, and keeps the funds hint otherwise", () => {
    expect(new ChainActionError('extending', reverted(), undefined, 'TermTooLong').message).toMatch(
      /\(TermTooLong\); the term is beyond the provider's limit \(maxTermPeriods\)/
    )
    expect(new ChainActionError('opening', reverted(), undefined, 'OfferExpired').message).toMatch(/ask for a new one/)
    expect(new ChainActionError('approving', new Error('fetch failed')).message).toBe(
      "approving failed: fetch failed; check the account's token balance and gas, and the RPC"
    )
  })
})

describe('chain conditions', () => {
  it('an RPC that does not answer is a ChainUnreachableError, a ClientConfigError that keeps its cause', async () => {
    // A listener that closes every connection at once: nothing answers JSON-RPC there.
    const server = createServer((socket) => socket.destroy())
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const { port } = server.address() as { port: number }
    try {
      const err = await connectChain({
        rpcUrl: `http://127.0.0.1:${port}`,
        contract: '0x0000000000000000000000000000000000000001'
      }).catch((e: unknown) => e)
      expect(err).toBeInstanceOf(ChainUnreachableError)
      expect(err).toBeInstanceOf(ClientConfigError)
      expect((err as Error).name).toBe('ChainUnreachableError')
      expect((err as Error).message).toMatch(
        /cannot reach the chain RPC at http:\/\/127\.0\.0\.1:\d+ .*start the chain/
      )
      expect((err as Error).cause).toBeDefined()
    } finally {
      await new Promise((resolve) => server.close(resolve))
    }
  }, 120_000)
})
