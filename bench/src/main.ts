/**
 * npm run bench [-- <suite>...] [--full] [--list]
 *
 * Runs the named suites (all by default), prints a table per suite and writes bench/results/<suite>.json.
 * The quick default takes seconds per suite; --full runs the long versions.
 */
import { parseArgs } from 'node:util'
import { formatTable, machineInfo, writeResult } from './harness.js'
import { suites } from './suites/index.js'

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    full: { type: 'boolean', default: false },
    list: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false }
  }
})

if (values.help || values.list) {
  console.log('usage: npm run bench -- [suite...] [--full] [--list]\n\nsuites:')
  for (const s of suites) console.log(`  ${s.name.padEnd(12)} ${s.description}`)
  process.exit(0)
}

const unknown = positionals.filter((name) => !suites.some((s) => s.name === name))
if (unknown.length > 0) {
  console.error(`unknown suite(s): ${unknown.join(', ')}; known: ${suites.map((s) => s.name).join(', ')}`)
  process.exit(2)
}
const selected = positionals.length === 0 ? suites : suites.filter((s) => positionals.includes(s.name))
const machine = machineInfo()
console.log(`${machine.cpu} (${machine.cores} cores), Node ${machine.node}, commit ${machine.gitCommit}${values.full ? ', --full' : ''}`)

for (const suite of selected) {
  console.log(`\n## ${suite.name}: ${suite.description}\n`)
  const result = await suite.run({ full: values.full, log: (line) => process.stderr.write(`  ${line}\n`) })
  console.log(formatTable(result.measurements))
  for (const [key, value] of Object.entries(result.summary ?? {})) console.log(`${key}: ${value}`)
  for (const note of result.notes ?? []) console.log(`note: ${note}`)
  console.log(`→ ${writeResult(suite.name, values.full, machine, result)}`)
}
