/**
 * Data-path throughput for 64 MiB at (4,2), (10,4), (10,20), (29,51), default 32 MiB segments.
 *
 *   npx tsc -b bench && npx node bench/dist/pipeline-throughput.js [--size-mib 64]
 */
import { parseArgs } from 'node:util'
import { measurePipeline, pipelineTable } from './pipeline-measure.js'
import type { PipelineResult } from './pipeline-measure.js'

const { values } = parseArgs({ options: { 'size-mib': { type: 'string', default: '64' } } })
const fileBytes = Number(values['size-mib']) * 2 ** 20

// Warm-up: compiles the WASM kernels and lets the JIT settle before anything is timed.
await measurePipeline({ k: 4, m: 2, fileBytes: 4 * 2 ** 20 })
const results: PipelineResult[] = []
for (const [k, m] of [[4, 2], [10, 4], [10, 20], [29, 51]] as const) results.push(await measurePipeline({ k, m, fileBytes }))
console.log(`${values['size-mib']} MiB of plaintext, 32 MiB segments, Node ${process.version}\n`)
console.log(pipelineTable(results))
