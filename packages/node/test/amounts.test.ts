import { describe, expect, it } from 'vitest'
import { amountForConfig, resolveAmount } from '../src/index.js'

const SHERD = { decimals: 18, symbol: 'SHERD' }
const USDC = { decimals: 6, symbol: 'USDC' }

describe('token amounts in the provider config', () => {
  it('keeps base units as a whole number and anything else as written, with its unit explicit', () => {
    expect(amountForConfig('1000base', '--stake')).toBe('1000')
    expect(amountForConfig('1000wei', '--stake')).toBe('1000')
    expect(amountForConfig('0.001', '--price')).toBe('0.001 tokens')
    expect(amountForConfig('1000', '--stake')).toBe('1000 tokens')
    expect(amountForConfig('12.5 SHERD', '--stake')).toBe('12.5 SHERD')
    expect(() => amountForConfig('1.5base', '--stake')).toThrow(/base units are whole numbers/)
    expect(() => amountForConfig('12,5', '--price')).toThrow(/--price "12,5" is not a token amount/)
  })

  it("resolves both forms with the token's decimals; a plain whole number in the file stays base units", () => {
    expect(resolveAmount('1000', SHERD, 'stake')).toBe(1000n)
    expect(resolveAmount('1000 tokens', SHERD, 'stake')).toBe(1000n * 10n ** 18n)
    expect(resolveAmount('0.001 tokens', USDC, 'price')).toBe(1000n)
    expect(resolveAmount('2 sherd', SHERD, 'price')).toBe(2n * 10n ** 18n)
    expect(() => resolveAmount('0.0000001 tokens', USDC, 'the price')).toThrow(/the price: .*USDC has 6 decimals/)
    expect(() => resolveAmount('2 SHERD', USDC, 'the stake')).toThrow(/the token here is USDC, not SHERD/)
  })
})
