/**
 * Peak memory of the networked client on a large file, measured as a person runs it. Runs `sherd-devnet` as a child
 * process (anvil + N `sherd-node` processes: none of the network's memory is counted here) and reads its
 * devnet.json; writes a generated file (pseudo-random) to the devnet's dir; then `sherd put <file>` and
 * `sherd get <link>`, each the CLI's bin in a process of its own (its shebang's V8 flags included). A command's peak
 * is the kernel's high-water mark (VmHWM in /proc/<pid>/status), read until it exits; get's stdout is hashed here
 * and checked against the input's SHA-256. CPU is the command's user + system time (getrusage of the child).
 *
 *   npx tsc -b bench && npx node bench/dist/rss-client.js [--size-mib 1024] [--providers 6] [--segment-mib N] [--k 4 --m 2] [--skip-get]
 *     [--periods 8] [--block-time 4] [--discovery-timeout-ms 120000] [--keep-logs DIR] [--debug]
 *
 * --keep-logs copies the providers' logs (the devnet's logs/provider-<i>.log, their stderr) to DIR before the devnet's
 * dir is removed, so a failed upload can be read from the provider's side; --debug has them log DEBUG=sherd:*.
 *
 * Without --segment-mib the client's default applies (a put of known size streams segments of that size).
 * A code of k + m needs k + m providers (no provider holds two shards of a segment): --k 10 --m 20 --providers 30.
 *
 * Writes bench/results/rss-client-<k>+<m>-<size MiB>.json (e.g. rss-client-4+2-4096.json): { "put peak RSS MiB",
 * "get peak RSS MiB", sizeMiB, k, m, ... }, one file per code and size, so a 10 + 20 run does not overwrite 4 + 2's.
 */
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { createWriteStream } from 'node:fs'
import { once } from 'node:events'
import { createHash } from 'node:crypto'
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import type { Hex } from 'viem'
import { incompressibleBytes } from './incompressible.js'

const MiB = 2 ** 20
const { values } = parseArgs({
  options: {
    'size-mib': { type: 'string', default: '1024' },
    providers: { type: 'string', default: '6' },
    'segment-mib': { type: 'string' },
    k: { type: 'string' },
    m: { type: 'string' },
    'skip-get': { type: 'boolean' },
    periods: { type: 'string', default: '8' },
    'block-time': { type: 'string', default: '4' },
    'keep-logs': { type: 'string' },
    'discovery-timeout-ms': { type: 'string', default: '120000' },
    debug: { type: 'boolean' }
  }
})
const sizeBytes = Number(values['size-mib']) * MiB
// The CLI's default code when -k / -m are not given.
const k = Number(values.k ?? 4)
const m = Number(values.m ?? 2)
const segmentSize = values['segment-mib'] === undefined ? undefined : Number(values['segment-mib']) * MiB

/** The `sherd` commands under way, stopped with the devnet when this process is told to stop. */
const running = new Set<ChildProcess>()

const mib = (bytes: number): string => (bytes / MiB).toFixed(0)

/**
 * Runs the `sherd` bin with `args` until it exits, sampling its VmHWM every 20 ms (the kernel's own maximum, so a
 * peak between samples is not missed, only one in the last 20 ms before exit). stdout goes to `onStdout`.
 */
async function runSherd(
  args: string[],
  env: NodeJS.ProcessEnv,
  onStdout: (chunk: Buffer) => void
): Promise<{ code: number | null; peakKiB: number; seconds: number; cpuSeconds: number }> {
  const started = performance.now()
  const child: ChildProcess = spawn(sherdBin, args, { env, stdio: ['ignore', 'pipe', 'inherit'] })
  running.add(child)
  child.once('exit', () => running.delete(child))
  let peakKiB = 0
  let cpuTicks = 0
  const read = async (): Promise<void> => {
    const status = await readFile(`/proc/${child.pid}/status`, 'utf8').catch(() => '')
    const kib = Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0)
    if (kib > peakKiB) peakKiB = kib
    // utime + stime of the process and its threads, in clock ticks (fields 14 and 15 of /proc/<pid>/stat).
    const stat = await readFile(`/proc/${child.pid}/stat`, 'utf8').catch(() => '')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    const ticks = Number(fields[11] ?? 0) + Number(fields[12] ?? 0)
    if (ticks > cpuTicks) cpuTicks = ticks
  }
  const sampler = setInterval(() => {
    void read()
  }, 20)
  child.stdout!.on('data', onStdout)
  const [code] = (await once(child, 'exit')) as [number | null]
  clearInterval(sampler)
  return { code, peakKiB, seconds: (performance.now() - started) / 1000, cpuSeconds: cpuTicks / CLOCK_TICKS_PER_SECOND }
}
/** Linux's USER_HZ, the unit of /proc/<pid>/stat's times (100 on every mainstream kernel build). */
const CLOCK_TICKS_PER_SECOND = 100
const sherdBin = fileURLToPath(new URL('../../packages/client/bin/sherd.js', import.meta.url))

/** The devnet starts N processes (30 for 10 + 20) on 2 shared cores: allow it minutes. */
const DEVNET_START_TIMEOUT_MS = 600_000
const dir = await mkdtemp(join(tmpdir(), 'sherd-rss-client-'))
const devnetBin = fileURLToPath(new URL('../../packages/devnet/bin/sherd-devnet.js', import.meta.url))
// The deals open only once the whole file is placed and end `--periods` devnet periods (8 blocks each) later; the
// get must finish before that, or the providers delete the shards under it. A 4 GiB put takes ~20 min on the
// loaded shared machine, its get several minutes: 4-second blocks and 8 periods keep the shards for ~4 min after
// the put, and 8 periods of 6 GiB over 12 providers stay inside each provider's devnet stake.
const devnet = spawn(
  process.execPath,
  [
    devnetBin,
    '--providers',
    String(values.providers),
    '--block-time',
    String(values['block-time']),
    '--dir',
    dir,
    ...(values.debug === true ? ['--debug'] : [])
  ],
  { stdio: ['ignore', 'pipe', 'inherit'] }
)
// The devnet tells why it failed to start on stdout (its story): the last lines are kept to say so.
let devnetTail: string[] = []
devnet.stdout!.on('data', (chunk: Buffer) => {
  devnetTail = [...devnetTail, ...chunk.toString('utf8').split('\n')].filter((line) => line !== '').slice(-12)
})
const devnetExited = new Promise<void>((resolve) =>
  devnet.once('exit', () => {
    resolve()
  })
)
// A signal to this process alone (`kill`, a CI step's timeout; a terminal's Ctrl-C reaches the whole group) would
// otherwise leave the devnet, anvil and every provider running, with the file's copies in the temp dir.
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    console.error(`rss-client: ${signal}, stopping the devnet`)
    for (const child of running) child.kill('SIGTERM')
    devnet.kill('SIGTERM')
    void devnetExited
      .then(async () => await rm(dir, { recursive: true, force: true }))
      .finally(() => process.exit(128 + (signal === 'SIGINT' ? 2 : 15)))
  })
}
/** Waits for devnet.json; removes the devnet's dir (and stops it) when it never comes, so a failed start leaves nothing. */
async function devnetInfo(): Promise<{
  rpcUrl: string
  market: string
  client: { privateKey: Hex }
  bootstrap: string[]
}> {
  let info: Awaited<ReturnType<typeof devnetInfo>> | undefined
  try {
    for (const started = Date.now(); info === undefined; await new Promise((resolve) => setTimeout(resolve, 500))) {
      if (devnet.exitCode !== null)
        throw new Error(
          `sherd-devnet exited before it was ready (is the repository built? npm run build); it said:\n${devnetTail.join('\n')}`
        )
      if (Date.now() - started > DEVNET_START_TIMEOUT_MS)
        throw new Error(`sherd-devnet did not write devnet.json in time; it said:\n${devnetTail.join('\n')}`)
      info = await readFile(join(dir, 'devnet.json'), 'utf8').then(
        (t) => JSON.parse(t) as typeof info,
        () => undefined
      )
    }
    return info
  } catch (err) {
    devnet.kill('SIGTERM')
    await devnetExited
    await rm(dir, { recursive: true, force: true })
    throw err
  }
}
const info = await devnetInfo()
const report: Record<string, number | string> = {
  sizeMiB: Number(values['size-mib']),
  segmentMiB: values['segment-mib'] === undefined ? 'default' : Number(values['segment-mib']),
  providers: Number(values.providers)
}
const env = {
  PATH: process.env.PATH ?? '',
  XDG_CONFIG_HOME: dir,
  XDG_CACHE_HOME: dir,
  XDG_DATA_HOME: dir,
  SHERD_RPC_URL: info.rpcUrl,
  SHERD_CONTRACT: info.market,
  SHERD_BOOTSTRAP: info.bootstrap.join(','),
  SHERD_PRIVATE_KEY: info.client.privateKey,
  // Passed on so that V8's default can be measured against the bins' setting (@sherd/protocol/heap-node).
  ...(process.env.SHERD_V8_BUFFER_ACCOUNTING === undefined
    ? {}
    : { SHERD_V8_BUFFER_ACCOUNTING: process.env.SHERD_V8_BUFFER_ACCOUNTING }),
  ...(process.env.NODE_OPTIONS === undefined ? {} : { NODE_OPTIONS: process.env.NODE_OPTIONS })
}
const file = join(dir, 'input.bin')
try {
  const inputHash = createHash('sha256')
  const out = createWriteStream(file)
  for await (const chunk of incompressibleBytes(sizeBytes, inputHash)) {
    if (!out.write(chunk)) await once(out, 'drain')
  }
  out.end()
  await once(out, 'close')
  console.log(
    `file ${mib(sizeBytes)} MiB, segment ${segmentSize === undefined ? 'default' : `${mib(segmentSize)} MiB`}, ${values.providers} provider processes`
  )

  const putArgs = [
    'put',
    file,
    '--json',
    '--no-wait',
    '--periods',
    String(values.periods),
    // The put needs every one of k + m providers' announcements; under load (30 providers on 2 cores) the last
    // came after the CLI's default 10 s. The wait ends as soon as enough are seen, so only a failing put waits longer.
    '--discovery-timeout-ms',
    String(values['discovery-timeout-ms']),
    ...(segmentSize === undefined ? [] : ['--segment-size', String(segmentSize)]),
    ...(values.k === undefined ? [] : ['-k', values.k]),
    ...(values.m === undefined ? [] : ['-m', values.m])
  ]
  let putJson = ''
  const put = await runSherd(putArgs, env, (chunk) => {
    putJson += chunk.toString('utf8')
  })
  if (put.code !== 0) throw new Error(`sherd put exited with code ${put.code}`)
  const putResult = JSON.parse(putJson) as { link: string; deals: unknown[]; manifest?: { k: number; m: number } }
  console.log(
    `put (sherd put, own process): ${mib(sizeBytes)} MiB in ${put.seconds.toFixed(1)} s = ${(sizeBytes / 1e6 / put.seconds).toFixed(1)} MB/s, ` +
      `${(sizeBytes / 1e6 / put.cpuSeconds).toFixed(1)} MB per CPU-second, peak RSS ${mib(put.peakKiB * 1024)} MiB (VmHWM), ${putResult.deals.length} deals`
  )
  report['put peak RSS MiB'] = Math.round(put.peakKiB / 1024)
  report['put MB/s'] = +(sizeBytes / 1e6 / put.seconds).toFixed(1)
  report['put MB per CPU-second'] = +(sizeBytes / 1e6 / put.cpuSeconds).toFixed(1)
  report.deals = putResult.deals.length
  report.k = k
  report.m = m
  // The input is not needed for the get (its hash is kept): free the disk before the get's output is counted.
  await rm(file, { force: true })

  if (values['skip-get'] !== true) {
    const outputHash = createHash('sha256')
    let gotBytes = 0
    const get = await runSherd(['get', putResult.link], env, (chunk) => {
      outputHash.update(chunk)
      gotBytes += chunk.byteLength
    })
    console.log(
      `get (sherd get, own process): ${mib(gotBytes)} MiB in ${get.seconds.toFixed(1)} s = ${(gotBytes / 1e6 / get.seconds).toFixed(1)} MB/s, ` +
        `${(gotBytes / 1e6 / get.cpuSeconds).toFixed(1)} MB per CPU-second, peak RSS ${mib(get.peakKiB * 1024)} MiB (VmHWM), exit code ${get.code}`
    )
    if (get.code !== 0) process.exitCode = 1
    report['get peak RSS MiB'] = Math.round(get.peakKiB / 1024)
    report['get MB/s'] = +(gotBytes / 1e6 / get.seconds).toFixed(1)
    report['get MB per CPU-second'] = +(gotBytes / 1e6 / get.cpuSeconds).toFixed(1)
    const same = inputHash.digest('hex') === outputHash.digest('hex')
    console.log(same ? 'output SHA-256 matches input' : 'OUTPUT DIFFERS FROM INPUT')
    if (!same) process.exitCode = 1
    report.outputMatches = same ? 'yes' : 'no'
  }
  const results = fileURLToPath(new URL('../results/', import.meta.url))
  await mkdir(results, { recursive: true })
  await writeFile(
    join(results, `rss-client-${k}+${m}-${values['size-mib']}.json`),
    JSON.stringify(report, null, 2) + '\n'
  )
} finally {
  devnet.kill('SIGTERM')
  await devnetExited
  if (values['keep-logs'] !== undefined) {
    await cp(join(dir, 'logs'), values['keep-logs'], { recursive: true }).catch((err: unknown) => {
      console.error(`could not keep the providers' logs: ${(err as Error).message}`)
    })
  }
  await rm(dir, { recursive: true, force: true })
}
