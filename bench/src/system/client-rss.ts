/**
 * Client peak memory, in a process of its own so nothing else's memory counts: starts an @sherd/client against a
 * running network, notes the RSS of the idle started client (the baseline), then puts a generated file of
 * `sizeBytes` (streamed, never held whole) and gets it back, sampling RSS every 20 ms per phase. Prints one JSON
 * line: { idleMiB, putPeakMiB, getPeakMiB, maxRssMiB, putMs, getMs }.
 *
 *   node bench/dist/system/client-rss.js '<json: rpcUrl, contract, account, bootstrap, sizeBytes, k, m, periods>'
 */
import { accountBuffersInHeapLimit } from '@sherd/protocol/heap-node'
import { createHash } from 'node:crypto'
import { createClient } from '@sherd/client'
import { incompressibleBytes } from '../incompressible.js'

// The client runs V8 as `sherd` does (@sherd/protocol/heap-node).
accountBuffersInHeapLimit({ byDefault: false })

interface Args {
  rpcUrl: string
  contract: string
  account: `0x${string}`
  bootstrap: string[]
  sizeBytes: number
  k: number
  m: number
  periods: number
}

const MIB = 2 ** 20
const SAMPLE_INTERVAL_MS = 20

async function peakDuring<T>(fn: () => Promise<T>): Promise<{ value: T; peakMiB: number; ms: number }> {
  let peak = process.memoryUsage.rss()
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage.rss())
  }, SAMPLE_INTERVAL_MS)
  const start = performance.now()
  try {
    const value = await fn()
    peak = Math.max(peak, process.memoryUsage.rss())
    return { value, peakMiB: peak / MIB, ms: performance.now() - start }
  } finally {
    clearInterval(timer)
  }
}

const args = JSON.parse(process.argv[2] ?? '{}') as Args
const client = createClient({
  rpcUrl: args.rpcUrl,
  contract: args.contract,
  account: args.account,
  bootstrap: args.bootstrap,
  k: args.k,
  m: args.m,
  periods: args.periods,
  waitForActivation: false
})
await client.start()
globalThis.gc?.()
const idleMiB = process.memoryUsage.rss() / MIB
const inHash = createHash('sha256')
const put = await peakDuring(
  async () => await client.put(incompressibleBytes(args.sizeBytes, inHash), { expectedSize: args.sizeBytes })
)
const outHash = createHash('sha256')
const get = await peakDuring(async () => {
  let n = 0
  for await (const chunk of client.get(put.value.link)) {
    outHash.update(chunk)
    n += chunk.length
  }
  return n
})
await client.stop()
if (get.value !== args.sizeBytes || !inHash.digest().equals(outHash.digest())) {
  process.stderr.write(`client-rss: got ${get.value} bytes back of ${args.sizeBytes}, or different bytes\n`)
  process.exit(1)
}
process.stdout.write(
  JSON.stringify({
    idleMiB,
    putPeakMiB: put.peakMiB,
    getPeakMiB: get.peakMiB,
    maxRssMiB: process.resourceUsage().maxRSS / 1024,
    putMs: put.ms,
    getMs: get.ms
  }) + '\n'
)
process.exit(0)
