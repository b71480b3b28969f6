import { describe, expect, it } from 'vitest'
import { formatTokenAmount, InvalidTokenAmountError, parseTokenAmount } from '../src/index.js'

const SHERD = { decimals: 18, symbol: 'SHERD' }

describe('token amounts', () => {
  it('reads whole tokens, decimals, the symbol and base units', () => {
    expect(parseTokenAmount('1000', SHERD)).toBe(1000n * 10n ** 18n)
    expect(parseTokenAmount('12.5', SHERD)).toBe(125n * 10n ** 17n)
    expect(parseTokenAmount('.5', SHERD)).toBe(5n * 10n ** 17n)
    expect(parseTokenAmount(' 12.5 sherd ', SHERD)).toBe(125n * 10n ** 17n)
    expect(parseTokenAmount('12.5SHERD', SHERD)).toBe(125n * 10n ** 17n)
    expect(parseTokenAmount('1000base', SHERD)).toBe(1000n)
    expect(parseTokenAmount('7 wei', SHERD)).toBe(7n)
  })

  it('refuses what could be misread', () => {
    for (const bad of ['', '-1', '1e18', '1,000', '1.5base', '1 USDC', '0x10', '1.0000000000000000001']) {
      expect(() => parseTokenAmount(bad, SHERD), bad).toThrow(InvalidTokenAmountError)
    }
  })

  it('prints exactly what can be typed back', () => {
    expect(formatTokenAmount(997151937500000000000000n, SHERD)).toBe('997,151.9375 SHERD')
    expect(formatTokenAmount(0n, SHERD)).toBe('0 SHERD')
    expect(formatTokenAmount(1n, SHERD)).toBe('0.000000000000000001 SHERD')
    expect(formatTokenAmount(1234567n * 10n ** 15n, SHERD, { maxFractionDigits: 2 })).toBe('1,234.56 SHERD')
    expect(formatTokenAmount(-5n * 10n ** 17n, SHERD)).toBe('-0.5 SHERD')
    for (const amount of [0n, 1n, 10n ** 18n, 123456789012345678901234n]) {
      expect(parseTokenAmount(formatTokenAmount(amount, SHERD).replace(/,/g, ''), SHERD)).toBe(amount)
    }
  })
})
