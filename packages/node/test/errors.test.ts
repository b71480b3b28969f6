import { describe, expect, it } from 'vitest'
import {
  ChainUnreachableError,
  ConfigError,
  InvalidAmountError,
  NotAMarketError,
  connectChain,
  resolveAmount,
  amountForConfig,
  parseBootstrapList
} from '../src/index.js'

const KEY = `0x${'11'.repeat(32)}` as const

describe('node errors: one class per condition a caller handles, each keeping its cause', () => {
  it('an RPC that does not answer is a ChainUnreachableError (still a ConfigError) with the transport error as its cause', async () => {
    // Port 9 (discard) on loopback: nothing listens, the connection is refused at once.
    const err = await connectChain({
      rpcUrl: 'http://127.0.0.1:9',
      market: `0x${'22'.repeat(20)}`,
      privateKey: KEY
    }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(ChainUnreachableError)
    expect(err).toBeInstanceOf(ConfigError)
    expect((err as Error).name).toBe('ChainUnreachableError')
    expect((err as Error).message).toMatch(/cannot reach the chain RPC at http:\/\/127\.0\.0\.1:9 .*fix --rpc-url/)
    expect((err as Error).cause).toBeInstanceOf(Error)
    expect(err).not.toBeInstanceOf(NotAMarketError)
  }, 60_000)

  it("a bad amount is an InvalidAmountError; one the token cannot hold keeps the parser's error as its cause", () => {
    expect(() => amountForConfig('12,5', '--price')).toThrow(InvalidAmountError)
    let caught: unknown
    try {
      resolveAmount('0.0000001 tokens', { decimals: 6, symbol: 'USDC' }, 'the price')
    } catch (err) {
      caught = err
    }
    expect(caught).toBeInstanceOf(InvalidAmountError)
    expect((caught as Error).message).toMatch(/^the price: /)
    expect((caught as Error).cause).toBeInstanceOf(Error)
  })

  it("a bootstrap address that is not a multiaddr keeps the multiaddr parser's error as its cause", () => {
    let caught: unknown
    try {
      parseBootstrapList(['not-a-multiaddr'])
    } catch (err) {
      caught = err
    }
    expect((caught as Error).name).toBe('ConfigError')
    expect((caught as Error).cause).toBeInstanceOf(Error)
  })
})
