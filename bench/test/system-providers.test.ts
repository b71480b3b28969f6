// The system suite's --providers selection: only known networks, in the suite's order, a typo refused up front
// (a devnet run is minutes long; a wrong count should not cost them).
import { describe, expect, it } from 'vitest'
import { parseProviders } from '../src/suites/system.js'

describe('--providers', () => {
  it('names one network or both, comma-separated, in the suite order', () => {
    expect(parseProviders('6')).toEqual([6])
    expect(parseProviders('12')).toEqual([12])
    expect(parseProviders('12, 6')).toEqual([6, 12])
    expect(parseProviders('6,6')).toEqual([6])
  })

  it('refuses a count the suite has no network for, naming the ones it has', () => {
    expect(() => parseProviders('8')).toThrow(/among 6, 12/)
    expect(() => parseProviders('')).toThrow(RangeError)
    expect(() => parseProviders('6,x')).toThrow(/got "6,x"/)
    expect(() => parseProviders('06')).toThrow(RangeError)
  })
})
