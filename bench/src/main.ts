/**
 * npm run bench [-- <suite>...] [--full] [--list] [--size-mib N] [--providers 6[,12]]
 *
 * Runs the named suites (all by default, in registry order), prints a table per suite and writes
 * bench/results/<suite>.json, bench/results/<suite>-<chart>.svg and bench/results/latest.md (all suites' latest
 * results). The quick default is sized to finish in under 10 minutes on 2 cores; --full runs the long versions.
 * A suite that throws is reported (in its JSON and latest.md) and the others still run; the exit code is then 1.
 */
import { accountBuffersInHeapLimit } from '@sherd/protocol/heap-node'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { formatTable, machineInfo } from './harness.js'
import type { SuiteResult } from './harness.js'
import { writeDocs, writeLatest, writeSuiteFiles } from './report.js'
import { suites } from './suites/index.js'
import { parseProviders } from './suites/system.js'

// The client under test lives in this process: V8 as `sherd` runs it (its own buffer accounting unless
// SHERD_V8_BUFFER_ACCOUNTING=1), while the providers and the baselines' serving peers count buffers toward the heap
// limit as sherd-node does (@sherd/protocol/heap-node).
accountBuffersInHeapLimit({ byDefault: false })

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    full: { type: 'boolean', default: false },
    list: { type: 'boolean', default: false },
    docs: { type: 'boolean', default: false },
    'report-only': { type: 'boolean', default: false },
    'size-mib': { type: 'string' },
    providers: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false }
  }
})

if (values.help || values.list) {
  console.log(
    'usage: npm run bench -- [suite...] [--full] [--list] [--docs] [--report-only] [--size-mib N] [--providers 6[,12]]\n\nsuites:'
  )
  for (const s of suites) console.log(`  ${s.name.padEnd(12)} ${s.description}`)
  console.log('\noutputs: bench/results/<suite>.json, bench/results/<suite>-*.svg, bench/results/latest.md')
  console.log('--report-only: run nothing; rebuild latest.md (and with --docs the docs) from the JSON present')
  console.log('--size-mib N: the system suite runs at one file size of N MiB instead of 64 (1024 with --full)')
  console.log(
    '--providers 6[,12]: the system suite runs only the networks of these provider counts (6 = 4+2, 12 = 8+4; default both)'
  )
  console.log('--docs: also puts the results into docs/benchmarks.md and copies the plots to docs/img/bench-*.svg')
  process.exit(0)
}

const unknown = positionals.filter((name) => !suites.some((s) => s.name === name))
if (unknown.length > 0) {
  console.error(`unknown suite(s): ${unknown.join(', ')}; known: ${suites.map((s) => s.name).join(', ')}`)
  process.exit(2)
}
const sizeMib = values['size-mib'] === undefined ? undefined : Number(values['size-mib'])
if (sizeMib !== undefined && !(Number.isSafeInteger(sizeMib) && sizeMib >= 1)) {
  console.error(`--size-mib takes a whole number of MiB, at least 1 (got ${values['size-mib']!})`)
  process.exit(2)
}
let providers: number[] | undefined
try {
  providers = values.providers === undefined ? undefined : parseProviders(values.providers)
} catch (err) {
  console.error((err as Error).message)
  process.exit(2)
}
const selected = values['report-only']
  ? []
  : positionals.length === 0
    ? suites
    : suites.filter((s) => positionals.includes(s.name))
const machine = machineInfo()
console.log(
  `${machine.cpu} (${machine.cores} cores), Node ${machine.node}, commit ${machine.gitCommit}${values.full ? ', --full' : ''}`
)

const started = performance.now()
let failed = 0
for (const suite of selected) {
  console.log(`\n## ${suite.name}: ${suite.description}\n`)
  const t0 = performance.now()
  let result: SuiteResult = { measurements: [] }
  let error: string | undefined
  try {
    const log = (line: string): void => {
      process.stderr.write(`  [${((performance.now() - t0) / 1000).toFixed(0).padStart(4)} s] ${line}\n`)
    }
    result = await suite.run({
      full: values.full,
      log,
      ...(sizeMib === undefined ? {} : { sizeMib }),
      ...(providers === undefined ? {} : { providers })
    })
  } catch (err) {
    failed++
    error = err instanceof Error ? `${err.name}: ${err.message}` : String(err)
    console.error(`suite ${suite.name} failed: ${err instanceof Error ? err.stack : error}`)
  }
  const elapsedSec = (performance.now() - t0) / 1000
  if (result.measurements.length > 0) console.log(formatTable(result.measurements))
  for (const [key, value] of Object.entries(result.summary ?? {})) console.log(`${key}: ${value}`)
  for (const note of result.notes ?? []) console.log(`note: ${note}`)
  const written = await writeSuiteFiles({
    suite: suite.name,
    description: suite.description,
    full: values.full,
    machine,
    elapsedSec,
    ...result,
    ...(error === undefined ? {} : { error })
  })
  console.log(`${elapsedSec.toFixed(1)} s → ${written.join(', ')}`)
}
console.log(
  `\n${((performance.now() - started) / 1000).toFixed(1)} s in all → ${writeLatest(suites.map((s) => s.name))}`
)
if (values.docs) {
  const docs = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'docs')
  console.log(
    `→ ${writeDocs(
      suites.map((s) => s.name),
      join(docs, 'benchmarks.md'),
      join(docs, 'img')
    ).join(', ')}`
  )
}
if (failed > 0) process.exitCode = 1
