/**
 * Outputs of a bench run, all under bench/results: `<suite>.json` (every figure, the machine, the commit),
 * `<suite>-<chart>.svg` (plots) and `latest.md`, rebuilt after every run from all the JSON files present, so a
 * single-suite run updates its own section and keeps the others.
 */
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { MIB } from './harness.js'
import type { MachineInfo, Measurement, SuiteResult } from './harness.js'
import { renderChart } from './plot.js'

/** bench/results, next to bench/dist and bench/src. */
export const RESULTS_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'results')

/** What `<suite>.json` holds. */
export interface StoredResult extends SuiteResult {
  suite: string
  description: string
  full: boolean
  machine: MachineInfo
  /** Wall time of the whole suite, seconds. */
  elapsedSec: number
  /** SVG file names (in RESULTS_DIR) of the charts, in order. */
  plots: string[]
  /** Set when the suite threw: what it said. Figures measured before the failure are kept. */
  error?: string
}

/** Writes `<suite>.json` and the suite's SVGs (removing its stale ones); returns the paths written. */
export async function writeSuiteFiles(stored: Omit<StoredResult, 'plots'>): Promise<string[]> {
  mkdirSync(RESULTS_DIR, { recursive: true })
  for (const file of readdirSync(RESULTS_DIR)) {
    if (file.startsWith(`${stored.suite}-`) && file.endsWith('.svg')) unlinkSync(join(RESULTS_DIR, file))
  }
  const written: string[] = []
  const plots: string[] = []
  for (const chart of stored.charts ?? []) {
    const file = `${stored.suite}-${chart.id}.svg`
    writeFileSync(join(RESULTS_DIR, file), await renderChart(chart))
    plots.push(file)
    written.push(join(RESULTS_DIR, file))
  }
  const path = join(RESULTS_DIR, `${stored.suite}.json`)
  writeFileSync(path, JSON.stringify({ ...stored, plots }, null, 2) + '\n')
  return [path, ...written]
}

function cell(v: number | string | undefined): string {
  if (v === undefined) return ''
  if (typeof v === 'string') return v.replaceAll('|', '\\|')
  if (Number.isInteger(v) || Math.abs(v) >= 1000) return v.toFixed(0)
  return String(+v.toPrecision(4))
}

/** A Markdown table of measurements: median with min–max, MB/s, CPU time and each suite's extra columns. */
export function markdownTable(measurements: Measurement[]): string {
  const extraKeys = [...new Set(measurements.flatMap((m) => Object.keys(m.extra ?? {})))]
  const header = ['name', 'MiB', 'runs', 'median ms', 'min–max ms', 'MB/s', 'cpu ms', ...extraKeys]
  const rows = measurements.map((m) => [
    cell(m.name),
    m.bytes === undefined ? '' : cell(m.bytes / MIB),
    String(m.runs),
    cell(m.medianMs),
    `${cell(m.minMs)}–${cell(m.maxMs)}`,
    cell(m.mbPerSec),
    cell(m.cpuMedianMs),
    ...extraKeys.map((k) => cell(m.extra?.[k]))
  ])
  return [
    `| ${header.join(' | ')} |`,
    `|${header.map((_, i) => (i === 0 ? '---' : '---:')).join('|')}|`,
    ...rows.map((r) => `| ${r.join(' | ')} |`)
  ].join('\n')
}

/** One suite's section of latest.md (also pasted into docs/benchmarks.md). */
export function suiteMarkdown(r: StoredResult, imageDir = ''): string {
  const m = r.machine
  const lines = [
    `## ${r.suite}`,
    '',
    `${r.description}. ${r.full ? '`--full`' : 'quick'} run of ${m.date.slice(0, 16).replace('T', ' ')} UTC, commit ` +
      `\`${m.gitCommit}\`, ${m.cpu} (${m.cores} cores), Node ${m.node}; ${r.elapsedSec.toFixed(0)} s.`,
    ''
  ]
  if (r.error !== undefined) lines.push(`**The suite failed:** ${r.error}`, '')
  const summary = Object.entries(r.summary ?? {})
  if (summary.length > 0) {
    lines.push('| figure | value |', '|---|---:|', ...summary.map(([k, v]) => `| ${cell(k)} | ${cell(v)} |`), '')
  }
  if (r.measurements.length > 0) lines.push(markdownTable(r.measurements), '')
  // A note of several lines (a table, a listing) is a block of its own; one-line notes are a list.
  for (const note of r.notes ?? []) lines.push(note.includes('\n') ? `\n${note.trim()}\n` : `- ${note}`)
  if ((r.notes ?? []).length > 0) lines.push('')
  for (const [i, file] of r.plots.entries()) lines.push(`![${r.charts?.[i]?.title ?? file}](${imageDir}${file})`, '')
  return lines.join('\n')
}

/** Every `<suite>.json` present that this report can read, in `order` (then any others). */
function readResults(order: string[]): StoredResult[] {
  const files = existsSync(RESULTS_DIR) ? readdirSync(RESULTS_DIR).filter((f) => f.endsWith('.json')) : []
  const results: StoredResult[] = []
  for (const file of files) {
    try {
      const r = JSON.parse(readFileSync(join(RESULTS_DIR, file), 'utf8')) as StoredResult
      // Results written by an older harness lack fields this report needs; skip them rather than misreport.
      if (typeof r.suite === 'string' && Array.isArray(r.measurements) && Array.isArray(r.plots)) results.push(r)
    } catch {}
  }
  const rank = (name: string): number => {
    const i = order.indexOf(name)
    return i === -1 ? order.length : i
  }
  return results.sort((a, b) => rank(a.suite) - rank(b.suite) || a.suite.localeCompare(b.suite))
}

/**
 * Every headline figure that is a ratio (its name has "÷") across all suites: hot path against its baseline, each
 * measured in the same run.
 */
export function ratioTable(results: StoredResult[]): string {
  const rows = results.flatMap((r) =>
    Object.entries(r.summary ?? {})
      .filter(([k]) => k.includes('÷'))
      .map(([k, v]) => `| ${r.suite} | ${cell(k)} | ${cell(v)} |`)
  )
  if (rows.length === 0) return ''
  return [
    '| suite | ratio (above 1: the first named is faster, or larger) | value |',
    '|---|---|---:|',
    ...rows,
    ''
  ].join('\n')
}

const PREAMBLE =
  'Every figure is the median of several timed runs after a warm-up, with the fastest and slowest run; ' +
  'MB/s are 10^6 bytes per second. Ratios are taken run by run in the same process and are the figures to compare ' +
  'across machines.'

/** Writes latest.md from every `<suite>.json` present; returns its path. */
export function writeLatest(order: string[]): string {
  const results = readResults(order)
  const body = [
    '# Latest benchmark results',
    '',
    `Written by \`npm run bench\` (bench/src/report.ts) from the \`bench/results/*.json\` present. ${PREAMBLE}`,
    '',
    '## Ratios',
    '',
    ratioTable(results),
    ...results.map((r) => suiteMarkdown(r))
  ].join('\n')
  const path = join(RESULTS_DIR, 'latest.md')
  writeFileSync(path, body)
  return path
}

export const DOCS_START = '<!-- bench results: start (npm run bench -- --docs rewrites this part) -->'
export const DOCS_END = '<!-- bench results: end -->'

/**
 * `--docs`: copies every plot to `<imgDir>/bench-<file>.svg` and replaces the part of `docsFile` between DOCS_START
 * and DOCS_END with the results (the same sections as latest.md). Returns the paths written.
 */
export function writeDocs(order: string[], docsFile: string, imgDir: string): string[] {
  const doc = readFileSync(docsFile, 'utf8')
  const start = doc.indexOf(DOCS_START)
  const end = doc.indexOf(DOCS_END)
  if (start === -1 || end < start) throw new Error(`${docsFile} has no "${DOCS_START}" … "${DOCS_END}" markers`)
  mkdirSync(imgDir, { recursive: true })
  const written: string[] = []
  const results = readResults(order)
  for (const r of results) {
    for (const file of r.plots) {
      copyFileSync(join(RESULTS_DIR, file), join(imgDir, `bench-${file}`))
      written.push(join(imgDir, `bench-${file}`))
    }
  }
  const sections = results.map((r) =>
    suiteMarkdown({ ...r, plots: r.plots.map((f) => `bench-${f}`) }, 'img/').replace(/^## /, '### ')
  )
  const ratios = `### Ratios\n\n${ratioTable(results)}`
  writeFileSync(
    docsFile,
    `${doc.slice(0, start)}${DOCS_START}\n\n${PREAMBLE}\n\n${ratios}\n${sections.join('\n')}\n${doc.slice(end)}`
  )
  return [docsFile, ...written]
}
