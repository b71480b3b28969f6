import { spawn, spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { getProofSetDeal, getProofSetPeriod } from '@sherd/contracts'
import { removeDir, tempDir } from '@sherd/test-support'
import { startNetwork } from './network-helpers.js'
import type { TestNetwork } from './network-helpers.js'

// The real binaries as a user runs them, from dist/ (built by `npx tsc -b`), each in its own process.
const REPO = fileURLToPath(new URL('../../../', import.meta.url))
const SHERD = join(REPO, 'packages/client/bin/sherd.js')
const BINS = [
  ['sherd', SHERD],
  ['sherd-node', join(REPO, 'packages/node/bin/sherd-node.js')],
  ['sherd-devnet', join(REPO, 'packages/devnet/bin/sherd-devnet.js')]
] as const
// "Before any network" and "chain only" are checked by pointing what the command must not touch at a tripwire (a TCP
// listener that counts connections), not by timing the command, which a loaded machine makes meaningless.
const SEGMENT = 1024 * 1024

interface Run {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
  ms: number
}

let net: TestNetwork
let dir: string
let trip: Tripwire

function env(): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH ?? '',
    HOME: dir,
    XDG_CONFIG_HOME: join(dir, 'config'),
    SHERD_RPC_URL: net.anvil.url,
    SHERD_CONTRACT: net.deployment.market,
    SHERD_PRIVATE_KEY: net.clientKey,
    SHERD_BOOTSTRAP: net.bootstrap().join(',')
  }
}

/** Runs `sherd args` as a child process; `onSpawn` may signal it. */
async function sherd(
  args: string[],
  options: {
    stdin?: Buffer
    node?: string
    bin?: string
    env?: NodeJS.ProcessEnv
    onSpawn?: (pid: number) => void
  } = {}
): Promise<Run> {
  const started = performance.now()
  const child = spawn(options.node ?? process.execPath, [options.bin ?? SHERD, ...args], {
    env: { ...env(), ...options.env },
    cwd: dir,
    stdio: ['pipe', 'pipe', 'pipe']
  })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString()
  })
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString()
  })
  child.stdin.end(options.stdin)
  options.onSpawn?.(child.pid!)
  return await new Promise<Run>((resolve, reject) => {
    child.once('error', reject)
    child.once('close', (code, signal) => {
      resolve({ code, signal, stdout, stderr, ms: performance.now() - started })
    })
  })
}

interface Tripwire {
  port: number
  connections: () => number
  close: () => Promise<void>
}

async function tripwire(): Promise<Tripwire> {
  let connections = 0
  const server = createServer((socket) => {
    connections++
    socket.destroy()
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', resolve)
  })
  const address = server.address()
  if (typeof address !== 'object' || address === null) throw new Error('tripwire has no port')
  return {
    port: address.port,
    connections: () => connections,
    close: async () => {
      await new Promise((resolve) => server.close(resolve))
    }
  }
}

/** The env of a command that must not touch the network: the chain and the providers are both the tripwire. */
function offline(trip: Tripwire): NodeJS.ProcessEnv {
  return { SHERD_RPC_URL: `http://127.0.0.1:${trip.port}`, SHERD_BOOTSTRAP: providersAt(trip) }
}

/** The env of a command that may read the chain but must not wait for providers: they are the tripwire. */
function chainOnly(trip: Tripwire): NodeJS.ProcessEnv {
  return { SHERD_BOOTSTRAP: providersAt(trip) }
}

function providersAt(trip: Tripwire): string {
  return net
    .bootstrap()
    .map((a) => a.replace(/\/tcp\/\d+\//, `/tcp/${trip.port}/`))
    .join(',')
}

async function partFiles(): Promise<string[]> {
  return (await readdir(dir)).filter((f) => f.endsWith('.part'))
}

/** An older Node on this machine (the system one), to check the bins refuse it; undefined if there is none. */
function oldNode(): string | undefined {
  for (const candidate of ['/usr/bin/node', '/usr/local/bin/node', '/bin/node']) {
    if (!existsSync(candidate)) continue
    const version = spawnSync(candidate, ['--version'], { encoding: 'utf8' }).stdout.trim()
    if (Number(version.replace(/^v/, '').split('.')[0]) < 22) return candidate
  }
  return undefined
}

beforeAll(async () => {
  net = await startNetwork(6)
  trip = await tripwire()
  dir = await tempDir('sherd-cli-ux-')
  await mkdir(join(dir, 'config'))
})

afterAll(async () => {
  await net?.close()
  await trip?.close()
  if (dir !== undefined) await removeDir(dir)
})

describe('the sherd binaries as a user runs them', () => {
  it('--version prints each package version', async () => {
    for (const [name, bin] of BINS) {
      const r = await sherd(['--version'], { bin })
      expect(r.code).toBe(0)
      expect(r.stdout).toBe(`${name} 0.1.0\n`)
    }
  })

  it("sherd's shebang starts it, and gives Node its heap flags and glibc its mmap threshold", () => {
    // Run as a command, as npm's bin link runs it: the kernel reads the shebang, env -S splits it.
    const direct = spawnSync(SHERD, ['--version'], { env: { PATH: process.env.PATH ?? '' }, encoding: 'utf8' })
    expect(direct.stdout).toBe('sherd 0.1.0\n')
    // What that line hands the process, seen from inside one started by the same line.
    const shebang = readFileSync(SHERD, 'utf8').split('\n')[0]!
    expect(shebang.startsWith('#!/usr/bin/env -S ')).toBe(true)
    const probe = 'process.stdout.write(JSON.stringify([process.env.MALLOC_MMAP_THRESHOLD_, process.execArgv]))'
    const seen = spawnSync('/usr/bin/env', ['-S', `${shebang.slice('#!/usr/bin/env -S '.length)} -e '${probe}'`], {
      env: { PATH: process.env.PATH ?? '' },
      encoding: 'utf8'
    })
    expect(JSON.parse(seen.stdout)).toEqual([
      '1048576',
      expect.arrayContaining(['--max-semi-space-size=2', '--max-old-space-size=512'])
    ])
  })

  it.skipIf(oldNode() === undefined)(
    'on Node < 22 every bin says what to do and exits non-zero, before anything crashes',
    async () => {
      for (const [, bin] of BINS) {
        const r = await sherd(['--version'], { bin, node: oldNode()! })
        expect(r.code).toBe(1)
        expect(r.stderr).toMatch(
          /^Sherd needs Node\.js >= 22 \(this is v\d+\.\d+\.\d+\); run it with npx from the repository, or install Node 22\+\n$/
        )
        expect(r.stdout).toBe('')
      }
    }
  )

  it('a garbage link is refused at once, before any network, and -o leaves the existing file alone', async () => {
    const precious = join(dir, 'precious.txt')
    await writeFile(precious, 'keep me')
    for (const args of [
      ['get', 'hello', '-o', 'precious.txt'],
      ['get', 'hello', '-o', 'precious.txt', '--force'],
      ['stat', 'sherd://nonsense#x', '--no-probe'],
      ['extend', 'hello', '3']
    ]) {
      const r = await sherd(args, { env: offline(trip) })
      expect(r.code).toBe(1)
      expect(r.stderr).toMatch(/^error: InvalidLinkError: link/)
      expect(r.stderr).not.toMatch(/\n\s+at /)
      console.log(`sherd ${args.join(' ')}: exit ${r.code} in ${r.ms.toFixed(0)} ms`)
    }
    expect(trip.connections()).toBe(0)
    expect(await readFile(precious, 'utf8')).toBe('keep me')
    expect(await partFiles()).toEqual([])
  })

  it('put refuses a directory at once, and a missing file, without a stack trace', async () => {
    const before = trip.connections()
    const r = await sherd(['put', dir], { env: offline(trip) })
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/is a directory; sherd put stores one file: pack it first \(tar/)
    expect(trip.connections()).toBe(before)
    const missing = await sherd(['put', join(dir, 'nope.bin')])
    expect(missing.code).toBe(1)
    expect(missing.stderr).toBe(`error: ${join(dir, 'nope.bin')}: no such file\n`)
    const badPrice = await sherd(['put', SHERD, '--max-price', '2XYZ'], { env: chainOnly(trip) })
    expect(badPrice.code).toBe(2)
    expect(badPrice.stderr).toMatch(/--max-price: "2XYZ": the token here is \w+, not XYZ/)
    expect(trip.connections()).toBe(before)
    const tooPrecise = await sherd(['put', SHERD, '--max-price', '1,000.0000000000000000001'])
    expect(tooPrecise.code).toBe(2)
    expect(tooPrecise.stderr).toMatch(/--max-price: "1000.0000000000000000001": \w+ has 18 decimals/)
  })

  it('wallet prints token amounts with decimals and symbol', async () => {
    const before = trip.connections()
    const r = await sherd(['wallet'], { env: chainOnly(trip) })
    expect(r.stderr).toBe('')
    expect(r.code).toBe(0)
    expect(trip.connections()).toBe(before)
    console.log(`sherd wallet: ${r.ms.toFixed(0)} ms`)
    // The test network funds the client with 1,000,000 tokens (18 decimals).
    expect(r.stdout).toMatch(/^balance {5}1,000,000 \w+$/m)
    expect(r.stdout).toMatch(/^token {7}\w+ \(0x[0-9a-fA-F]{40}, 18 decimals\)$/m)
    const asJson = JSON.parse((await sherd(['wallet', '--json'])).stdout) as {
      balance: string
      token: { decimals: number }
    }
    expect(asJson.balance).toBe((1_000_000n * 10n ** 18n).toString())
    expect(asJson.token.decimals).toBe(18)
  })

  it('put - reads stdin; get -o refuses an existing file, replaces it with --force only once verified; a failed or interrupted get leaves it as it was', async () => {
    // Four 1 MiB segments, so an interrupted get is caught with one segment written and three to go.
    const data = randomBytes(4 * SEGMENT)
    const put = await sherd(['put', '-', '--segment-size', String(SEGMENT), '--no-wait'], { stdin: data })
    expect(put.code).toBe(0)
    expect(put.stderr).toMatch(/^stored 4194304 bytes in 4 segment\(s\) under 24 deal\(s\); escrow [\d,.]+ \w+\n$/)
    const link = put.stdout.trim()
    expect(link).toMatch(/^sherd:\/\/\S+#\S+$/)

    const target = join(dir, 'copy.bin')
    await writeFile(target, 'old contents')
    const before = trip.connections()
    const refused = await sherd(['get', link, '-o', 'copy.bin'], { env: offline(trip) })
    expect(refused.code).toBe(1)
    expect(refused.stderr).toMatch(/copy\.bin exists and was left as it is: pass --force/)
    expect(trip.connections()).toBe(before)
    expect(await readFile(target, 'utf8')).toBe('old contents')

    // A valid link with the wrong key: the manifest does not decrypt, nothing is written.
    const wrongKey = link.slice(0, -2) + (link.endsWith('AA') ? 'BA' : 'AA')
    const failed = await sherd(['get', wrongKey, '-o', 'copy.bin', '--force'])
    expect(failed.code).toBe(1)
    expect(failed.stderr).toMatch(/^error: \w+Error: /)
    expect(await readFile(target, 'utf8')).toBe('old contents')
    expect(await partFiles()).toEqual([])

    // Interrupted: stop the process once the temporary file holds the first segment (it cannot finish while
    // stopped), then Ctrl-C it. The old file stays, the temporary file goes.
    let sawPart = false
    // The poll's checks await, so two of them can pass at once: only the first may signal (a second SIGINT is a
    // forced exit, not the Ctrl-C under test).
    let signalled = false
    const interrupted = await sherd(['get', link, '-o', 'copy.bin', '--force'], {
      onSpawn: (pid) => {
        const poll = setInterval(() => {
          void (async () => {
            const parts = await partFiles()
            if (parts.length === 0) return
            const size = await stat(join(dir, parts[0]!)).then(
              (s) => s.size,
              () => 0
            )
            if (size < SEGMENT || signalled) return
            signalled = true
            clearInterval(poll)
            process.kill(pid, 'SIGSTOP')
            sawPart = (await readFile(target, 'utf8')) === 'old contents'
            process.kill(pid, 'SIGINT')
            process.kill(pid, 'SIGCONT')
          })()
        }, 10)
      }
    })
    expect(sawPart).toBe(true)
    expect(interrupted.code).toBe(130)
    expect(interrupted.stderr).toMatch(/aborted/)
    expect(await readFile(target, 'utf8')).toBe('old contents')
    expect(await partFiles()).toEqual([])

    const replaced = await sherd(['get', link, '-o', 'copy.bin', '--force'])
    expect(replaced.stderr).toBe('')
    expect(replaced.code).toBe(0)
    expect((await readFile(target)).equals(data)).toBe(true)
    expect(await partFiles()).toEqual([])

    // /dev/stdin is a pipe here: streamed to its end like "-".
    const viaDevice = await sherd(['put', '/dev/stdin', '--no-wait'], { stdin: data.subarray(0, 1000) })
    expect(viaDevice.code).toBe(0)
    const back = await sherd(['get', viaDevice.stdout.trim(), '-o', 'device.bin'])
    expect(back.code).toBe(0)
    expect((await readFile(join(dir, 'device.bin'))).equals(data.subarray(0, 1000))).toBe(true)
  }, 240_000)

  it('stat shows when storage ends; extend on ended deals exits 1 with the true reason', async () => {
    const file = join(dir, 'short.bin')
    await writeFile(file, randomBytes(50_000))
    const put = await sherd(['put', file, '--periods', '1'])
    expect(put.code).toBe(0)
    const link = put.stdout.trim()

    const market = { market: net.deployment.market as `0x${string}`, publicClient: net.publicClient }
    const statRun = await sherd(['stat', link, '--no-probe', '--json'])
    expect(statRun.code).toBe(0)
    const s = JSON.parse(statRun.stdout) as {
      storageEndBlock: string
      storageEndsAtMs: number
      costPerPeriod: string
      segments: Array<{ shards: Array<{ dealId: string; endBlock: string; endsAtMs: number }> }>
    }
    for (const sh of s.segments[0]!.shards) {
      const deal = await getProofSetDeal(market, BigInt(sh.dealId))
      const end = await getProofSetPeriod(market, deal.endPeriod)
      expect(BigInt(sh.endBlock)).toBe(end.startBlock)
      expect(sh.endsAtMs).toBeGreaterThan(Date.now() - 60_000)
    }
    expect(BigInt(s.storageEndBlock)).toBeGreaterThan(0n)
    // The put cached the sealed manifest, so that stat read only the chain; without the cache the manifest comes
    // from the bootstrap providers and the answer is the same.
    expect(
      existsSync(join(dir, '.cache', 'sherd', 'manifests', link.slice('sherd://'.length, link.indexOf('#'))))
    ).toBe(true)
    const uncached = await sherd(['stat', link, '--no-probe', '--json'], {
      env: { SHERD_CACHE_DIR: join(dir, 'empty-cache') }
    })
    expect(uncached.code).toBe(0)
    expect((JSON.parse(uncached.stdout) as { storageEndBlock: string }).storageEndBlock).toBe(s.storageEndBlock)
    expect(BigInt(s.costPerPeriod)).toBeGreaterThan(0n)
    const beforeTable = trip.connections()
    const table = await sherd(['stat', link, '--no-probe'], { env: chainOnly(trip) })
    expect(trip.connections()).toBe(beforeTable)
    expect(table.stdout).toMatch(/^stored until ~\d{4}-\d\d-\d\d \d\d:\d\d UTC \(block \d+\)/m)
    expect(table.stdout).toMatch(/^costs [\d,.]+ \w+ per period; escrow left [\d,.]+ \w+$/m)
    console.log(`sherd stat --no-probe: ${table.ms.toFixed(0)} ms`)

    // Past the end of the one-period term.
    const last = BigInt(s.storageEndBlock)
    const head = await net.publicClient.getBlockNumber({ cacheTime: 0 })
    await net.mine(Number(last - head + 2n))

    const extend = await sherd(['extend', link, '5'])
    expect(extend.code).toBe(1)
    expect(extend.stdout).toBe('')
    expect(extend.stderr).toMatch(
      /^error: 6 of 6 deal\(s\) were not extended \(nothing was paid\):\n {2}deals? .*: (its term ended with period \d+|the deal is \w+).*cannot be extended/
    )
    expect(extend.stderr).not.toMatch(/token balance/)
    const after = await sherd(['stat', link, '--no-probe'])
    // Every term is over: stat says when, and that there is nothing left to repair from.
    expect(after.stdout).toMatch(
      /^storage ENDED on \d{4}-\d\d-\d\d \d\d:\d\d UTC: every deal's term is over.*put the file again/m
    )
    expect(after.stdout).not.toMatch(/run sherd repair/)
    expect(after.stdout).toMatch(/\b(ended|failed)\b.*\d{4}-\d\d-\d\d \d\d:\d\d UTC/)
  }, 240_000)
})
