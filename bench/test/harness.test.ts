// The bench harness's interleaved measurement, which the system suite's Helia comparison relies on: every entry
// once per run in order, setup outside the timing, a CPU figure from elsewhere when given, ratios run by run.
import { describe, expect, it } from 'vitest'
import { measureInterleaved, pairedRatio, summarize } from '../src/harness.js'

describe('measureInterleaved', () => {
  it('calls each entry once per run, in order, with its setup just before it, warm-up included', async () => {
    const calls: string[] = []
    const { measurements, wallMs, cpuMs } = await measureInterleaved(
      [
        {
          name: 'a',
          setup: () => {
            calls.push('setup a')
          },
          fn: () => {
            calls.push('a')
          }
        },
        {
          name: 'b',
          fn: async () => {
            calls.push('b')
          }
        },
        {
          name: 'c',
          setup: async () => {
            calls.push('setup c')
          },
          fn: () => {
            calls.push('c')
          },
          cpuMs: () => 42
        }
      ],
      { runs: 2, warmup: 1, bytes: 1e6 }
    )
    const run = ['setup a', 'a', 'b', 'setup c', 'c']
    expect(calls).toEqual([...run, ...run, ...run])
    expect(measurements.map((m) => [m.name, m.runs, m.bytes])).toEqual([
      ['a', 2, 1e6],
      ['b', 2, 1e6],
      ['c', 2, 1e6]
    ])
    expect(wallMs.map((t) => t.length)).toEqual([2, 2, 2])
    // An entry whose work ran in another process reports that process's CPU time, not this one's.
    expect(cpuMs[2]).toEqual([42, 42])
    expect(measurements[2]!.cpuMedianMs).toBe(42)
  })

  it('does not time the setup', async () => {
    let inSetup = false
    const { cpuMs } = await measureInterleaved(
      [
        {
          name: 'spin',
          // Busy CPU work in setup only: the fn's own CPU time must not include it.
          setup: () => {
            inSetup = true
            const end = Date.now() + 200
            while (Date.now() < end) {
              /* spin */
            }
            inSetup = false
          },
          fn: () => {
            expect(inSetup).toBe(false)
          }
        }
      ],
      { runs: 1, warmup: 0 }
    )
    expect(cpuMs[0]![0]!).toBeLessThan(150)
  })
})

describe('pairedRatio', () => {
  it('is the median of the per-run ratios baseline ÷ hot', () => {
    expect(pairedRatio([10, 30, 8], [5, 10, 8])).toBe(2)
    expect(pairedRatio([4, 9], [2, 3])).toBe(2.5)
  })

  it('refuses runs that do not pair up', () => {
    expect(() => pairedRatio([1, 2], [1])).toThrow(RangeError)
    expect(() => pairedRatio([], [])).toThrow(RangeError)
  })
})

describe('summarize', () => {
  it('gives median, min, max and MB/s of per-run times', () => {
    const m = summarize('sum', [300, 100, 200], [30, 10, 20], 2e6)
    expect(m).toMatchObject({
      name: 'sum',
      runs: 3,
      medianMs: 200,
      minMs: 100,
      maxMs: 300,
      cpuMedianMs: 20,
      bytes: 2e6,
      mbPerSec: 10
    })
  })
})
