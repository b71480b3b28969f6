/**
 * The bench harness: sized inputs, warm-up, N timed runs, median/min/max, MB/s, machine info, JSON results.
 * A suite is a `Suite` in suites/index.ts; it measures with `measure`/`measurePaired` and returns rows.
 */
import { execFileSync } from 'node:child_process'
import { cpus, totalmem } from 'node:os'
import { dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Chart } from './plot.js'

export const MIB = 2 ** 20

export interface SuiteContext {
  /** `--full`: the long version (bigger inputs, slow baselines at every size, more runs). */
  full: boolean
  /** Prints a progress line (stderr, so stdout stays the table). */
  log: (line: string) => void
  signal?: AbortSignal
  /** `--size-mib N`: the one file size a sized suite (system) runs at instead of its defaults, e.g. a small one while developing. */
  sizeMib?: number
  /** `--providers 6[,12]`: the networks (by provider count) the system suite runs, instead of all of them. */
  providers?: readonly number[]
}

export interface Measurement {
  /** What was measured, e.g. `root/kernel`. */
  name: string
  /** Input bytes per run, for MB/s; absent for operations without a size. */
  bytes?: number
  runs: number
  medianMs: number
  minMs: number
  maxMs: number
  /** Decimal megabytes (10^6) per second at the median time, when `bytes` is set. */
  mbPerSec?: number
  /**
   * Median CPU time (user + system) of this process per run. On a loaded machine wall time includes waiting
   * for a core; CPU time does not, so it is the steadier figure for single-threaded work.
   */
  cpuMedianMs: number
  /** Free-form figures a suite adds (ratios, counts). */
  extra?: Record<string, number | string>
}

export interface SuiteResult {
  measurements: Measurement[]
  /** Headline figures, e.g. the kernel ÷ node:crypto ratio. */
  summary?: Record<string, number | string>
  notes?: string[]
  /** Plots, rendered to bench/results/<suite>-<id>.svg (see plot.ts). */
  charts?: Chart[]
}

export interface Suite {
  name: string
  description: string
  run: (ctx: SuiteContext) => Promise<SuiteResult>
}

export interface MeasureOptions {
  bytes?: number
  /** Untimed calls first, so the JIT and the WASM tier-up settle. Default 1. */
  warmup?: number
  /** Timed calls. Default 5. */
  runs?: number
  extra?: Record<string, number | string>
}

function median(sorted: number[]): number {
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

/** A measurement from per-run wall and CPU times (e.g. of a sum of two interleaved steps). */
export function summarize(
  name: string,
  times: number[],
  cpuTimes: number[],
  bytes: number | undefined,
  extra?: Record<string, number | string>
): Measurement {
  const sorted = [...times].sort((a, b) => a - b)
  const medianMs = median(sorted)
  const cpuMedianMs = median([...cpuTimes].sort((a, b) => a - b))
  const m: Measurement = {
    name,
    runs: times.length,
    medianMs,
    minMs: sorted[0]!,
    maxMs: sorted[sorted.length - 1]!,
    cpuMedianMs
  }
  if (bytes !== undefined) {
    m.bytes = bytes
    m.mbPerSec = bytes / 1e6 / (medianMs / 1000)
  }
  if (extra !== undefined) m.extra = extra
  return m
}

/** Times `fn` (sync or async) `runs` times after `warmup` untimed calls. */
export async function measure(name: string, fn: () => unknown, options: MeasureOptions = {}): Promise<Measurement> {
  const { warmup = 1, runs = 5 } = options
  for (let i = 0; i < warmup; i++) await fn()
  const times: number[] = []
  const cpuTimes: number[] = []
  for (let i = 0; i < runs; i++) {
    const [wall, cpu] = await timed(fn)
    times.push(wall)
    cpuTimes.push(cpu)
  }
  return summarize(name, times, cpuTimes, options.bytes, options.extra)
}

/** Wall and CPU milliseconds of one call. */
async function timed(fn: () => unknown): Promise<[number, number]> {
  const cpu = process.cpuUsage()
  const start = performance.now()
  await fn()
  const wall = performance.now() - start
  const used = process.cpuUsage(cpu)
  return [wall, (used.user + used.system) / 1000]
}

/**
 * Times two functions alternately, run by run, and gives the median of the per-pair ratios time(a) ÷ time(b),
 * that is speed(b) ÷ speed(a). On a shared machine the load changes from second to second; a ratio of two
 * adjacent runs is far steadier than a ratio of two separately taken medians.
 */
export async function measurePaired(
  a: { name: string; fn: () => unknown },
  b: { name: string; fn: () => unknown },
  options: MeasureOptions = {}
): Promise<{ a: Measurement; b: Measurement; ratio: number; cpuRatio: number }> {
  const { warmup = 1, runs = 5 } = options
  for (let i = 0; i < warmup; i++) {
    await a.fn()
    await b.fn()
  }
  const ta: number[] = []
  const tb: number[] = []
  const ca: number[] = []
  const cb: number[] = []
  for (let i = 0; i < runs; i++) {
    const [wa, xa] = await timed(a.fn)
    const [wb, xb] = await timed(b.fn)
    ta.push(wa)
    ca.push(xa)
    tb.push(wb)
    cb.push(xb)
  }
  const pairRatio = (x: number[], y: number[]): number => median(x.map((t, i) => t / y[i]!).sort((p, q) => p - q))
  return {
    a: summarize(a.name, ta, ca, options.bytes),
    b: summarize(b.name, tb, cb, options.bytes),
    ratio: pairRatio(ta, tb),
    cpuRatio: pairRatio(ca, cb)
  }
}

/** The median over runs of baseline[i] ÷ hot[i]: above 1, the hot path is faster. */
export function pairedRatio(baseline: readonly number[], hot: readonly number[]): number {
  if (baseline.length !== hot.length || hot.length === 0)
    throw new RangeError(`pairedRatio needs equally many runs of each (${baseline.length}, ${hot.length})`)
  return median(baseline.map((t, i) => t / hot[i]!).sort((p, q) => p - q))
}

export interface InterleavedEntry {
  name: string
  fn: () => unknown
  /** Untimed work before every call of `fn` (warm-up calls too), e.g. fresh input. */
  setup?: () => unknown
  /**
   * CPU milliseconds of the last call when its work ran in other processes (this process only waited); without
   * it, this process's CPU time during the call.
   */
  cpuMs?: () => number
}

/**
 * `measurePaired` for more than two: in every run each entry is called once, in order, so every entry of a run
 * sees nearly the same load. Gives each entry's measurement and the per-run times, for `pairedRatio` between any
 * two entries or sums of entries.
 */
export async function measureInterleaved(
  entries: readonly InterleavedEntry[],
  options: MeasureOptions = {}
): Promise<{ measurements: Measurement[]; wallMs: number[][]; cpuMs: number[][] }> {
  const { warmup = 1, runs = 5 } = options
  for (let i = 0; i < warmup; i++) {
    for (const e of entries) {
      await e.setup?.()
      await e.fn()
    }
  }
  const wallMs = entries.map((): number[] => [])
  const cpuMs = entries.map((): number[] => [])
  for (let i = 0; i < runs; i++) {
    for (const [j, e] of entries.entries()) {
      await e.setup?.()
      const [wall, cpu] = await timed(e.fn)
      wallMs[j]!.push(wall)
      cpuMs[j]!.push(e.cpuMs === undefined ? cpu : e.cpuMs())
    }
  }
  return { measurements: entries.map((e, j) => summarize(e.name, wallMs[j]!, cpuMs[j]!, options.bytes)), wallMs, cpuMs }
}

export interface MachineInfo {
  cpu: string
  cores: number
  memoryGiB: number
  node: string
  v8: string
  platform: string
  gitCommit: string
  date: string
}

export function machineInfo(): MachineInfo {
  let gitCommit = 'unknown'
  try {
    // Ask the repository this file is in, wherever the command was started from.
    const cwd = dirname(fileURLToPath(import.meta.url))
    gitCommit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], {
      cwd,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore']
    }).trim()
    // The bench's own outputs (committed results and plots) do not make the code dirty.
    const dirty = execFileSync(
      'git',
      [
        'status',
        '--porcelain',
        '--untracked-files=no',
        '--',
        ':(top)',
        ':(top,exclude)bench/results',
        ':(top,exclude)docs/img',
        ':(top,exclude)docs/benchmarks.md'
      ],
      { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }
    )
    if (dirty.trim() !== '') gitCommit += '+dirty'
  } catch {}
  const list = cpus()
  return {
    cpu: list[0]?.model.trim() ?? 'unknown',
    cores: list.length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    v8: process.versions.v8,
    platform: `${process.platform}-${process.arch}`,
    gitCommit,
    date: new Date().toISOString()
  }
}

function fixed(n: number | undefined, digits: number): string {
  return n === undefined ? '' : n.toFixed(digits)
}

/** A plain-text table of measurements (name, size, median/min/max ms, MB/s, extras). */
export function formatTable(measurements: Measurement[]): string {
  const extraKeys = [...new Set(measurements.flatMap((m) => Object.keys(m.extra ?? {})))]
  const header = ['name', 'MiB', 'runs', 'median ms', 'min ms', 'max ms', 'MB/s', 'cpu ms', ...extraKeys]
  const rows = measurements.map((m) => [
    m.name,
    m.bytes === undefined ? '' : String(+(m.bytes / MIB).toFixed(3)),
    String(m.runs),
    fixed(m.medianMs, 2),
    fixed(m.minMs, 2),
    fixed(m.maxMs, 2),
    fixed(m.mbPerSec, 1),
    fixed(m.cpuMedianMs, 2),
    ...extraKeys.map((k) => {
      const v = m.extra?.[k]
      return typeof v === 'number' ? String(+v.toFixed(4)) : (v ?? '')
    })
  ])
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)))
  const line = (cells: string[]): string =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ')
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n')
}

/**
 * A measurement as a chart row: MB/s at the median with the MB/s of the slowest and fastest run as its range
 * (or, without `bytes`, the median/min/max milliseconds).
 */
export function chartRow(m: Measurement, fields: Record<string, number | string>): Record<string, number | string> {
  if (m.bytes === undefined) return { ...fields, value: m.medianMs, min: m.minMs, max: m.maxMs }
  const rate = (ms: number): number => m.bytes! / 1e6 / (ms / 1000)
  return { ...fields, value: rate(m.medianMs), min: rate(m.maxMs), max: rate(m.minMs) }
}
