// ProviderScores: the score placement ranks by, from transfer outcomes, corrupt answers and proofs missed on chain,
// and its file (kept across runs, written atomically, a bad file starts afresh).
import { existsSync } from 'node:fs'
import { readdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { removeDir, tempDir } from '@sherd/test-support'
import { ProviderScores } from '../src/scores.js'

const dirs: string[] = []
afterEach(async () => {
  for (const d of dirs.splice(0)) await removeDir(d)
})
async function scoreFile(): Promise<string> {
  const dir = await tempDir('sherd-scores-')
  dirs.push(dir)
  return join(dir, 'nested', 'scores.json')
}

function times(n: number, f: () => void): void {
  for (let i = 0; i < n; i++) f()
}

describe('ProviderScores.score', () => {
  it('is 0.5 for a provider never seen, and reading it records nothing', () => {
    const s = new ProviderScores()
    expect(s.score('p')).toBe(0.5)
    expect(s.record('p')).toEqual({ successes: 0, failures: 0, corrupt: 0, missedProofs: 0 })
    expect(s.all().size).toBe(0)
  })

  it('is the Laplace-smoothed success ratio', () => {
    const s = new ProviderScores()
    times(3, () => {
      s.success('p')
    })
    s.failure('p')
    expect(s.score('p')).toBeCloseTo(4 / 6, 12)
    times(2, () => {
      s.failure('q')
    })
    expect(s.score('q')).toBeCloseTo(1 / 4, 12)
  })

  it('weighs a corrupt answer as three failures and then halves the score for it', () => {
    const s = new ProviderScores()
    s.success('p')
    s.corruption('p')
    expect(s.score('p')).toBeCloseTo((2 / 6) * 0.5, 12)
    // A liar ranks below a provider that failed as often.
    const t = new ProviderScores()
    t.success('slow')
    t.failure('slow')
    t.success('liar')
    t.corruption('liar')
    expect(t.score('liar')).toBeLessThan(t.score('slow'))
  })

  it("halves the score for every four missed proofs, counting each deal's misses once however often it is read", () => {
    const s = new ProviderScores()
    s.success('p')
    s.missed('p', 1n, 4)
    s.missed('p', 1n, 4)
    s.missed('p', 1n, 3) // an older read: ignored
    expect(s.record('p').missedProofs).toBe(4)
    expect(s.score('p')).toBeCloseTo((2 / 3) * 0.5, 12)
    s.missed('p', 1n, 6)
    s.missed('p', 2n, 2)
    expect(s.record('p').missedProofs).toBe(8)
    expect(s.score('p')).toBeCloseTo((2 / 3) * 0.25, 12)
  })

  it('stays above 0 however bad a provider is', () => {
    const s = new ProviderScores()
    times(50, () => {
      s.corruption('p')
    })
    times(50, () => {
      s.failure('p')
    })
    expect(s.score('p')).toBeGreaterThan(0)
    expect(s.score('p')).toBeLessThan(1e-15)
  })
})

describe('ProviderScores samples', () => {
  it('keeps a moving average (weight 0.3) of latency for small transfers and of throughput for 64 KiB or more', () => {
    const s = new ProviderScores()
    s.success('p', { ms: 100 })
    s.success('p', { ms: 200 })
    expect(s.record('p').latencyMs).toBeCloseTo(100 * 0.7 + 200 * 0.3, 9)
    s.success('p', { ms: 1000, bytes: 1_000_000 })
    s.success('p', { ms: 500, bytes: 1_000_000 })
    expect(s.record('p').bytesPerSecond).toBeCloseTo(1_000_000 * 0.7 + 2_000_000 * 0.3, 3)
    // The throughput samples left the latency alone, and a 64 KiB - 1 transfer counts as latency.
    expect(s.record('p').latencyMs).toBeCloseTo(130, 9)
    s.success('p', { ms: 130, bytes: 64 * 1024 - 1 })
    expect(s.record('p').latencyMs).toBeCloseTo(130, 9)
    expect(s.record('p').successes).toBe(5)
    expect(s.record('p').lastSeenMs).toBeGreaterThan(0)
  })

  it('counts a 0 ms transfer as 0.1 ms (no infinite throughput)', () => {
    const s = new ProviderScores()
    s.success('p', { ms: 0, bytes: 64 * 1024 })
    expect(s.record('p').bytesPerSecond).toBe((64 * 1024) / 0.0001)
  })
})

describe('ProviderScores file', () => {
  it("saves atomically and loads back every record and each deal's counted misses", async () => {
    const file = await scoreFile()
    const s = new ProviderScores(file)
    s.success('p', { ms: 50 })
    s.failure('p')
    s.corruption('q')
    s.missed('q', 7n, 4)
    await s.save()
    expect((await readdir(join(file, '..'))).filter((f) => f.endsWith('.tmp'))).toEqual([])
    const again = new ProviderScores(file)
    await again.load()
    expect(again.record('p')).toEqual(s.record('p'))
    expect(again.score('q')).toBe(s.score('q'))
    // The reloaded per-deal count keeps a re-read of deal 7 from counting its misses twice.
    again.missed('q', 7n, 4)
    expect(again.record('q').missedProofs).toBe(4)
  })

  it('starts afresh from a missing or unreadable file, and overwrites it on save', async () => {
    const file = await scoreFile()
    const missing = new ProviderScores(file)
    await missing.load()
    expect(missing.all().size).toBe(0)
    await missing.save()
    expect(existsSync(file)).toBe(true)
    await writeFile(file, '{ not json')
    const broken = new ProviderScores(file)
    await broken.load()
    expect(broken.all().size).toBe(0)
    broken.success('p')
    await broken.save()
    const reread = new ProviderScores(file)
    await reread.load()
    expect(reread.record('p').successes).toBe(1)
  })

  it('without a file, save and load do nothing', async () => {
    const s = new ProviderScores()
    s.success('p')
    await s.save()
    await s.load()
    expect(s.record('p').successes).toBe(1)
  })
})
