// `sherd put` killed at every phase, as a user would (Ctrl-C) or a crash would (SIGKILL): the real CLI as a child
// process against a devnet of real sherd-node processes. Afterwards either nothing is on chain and no journal
// entry exists, or `sherd put --resume` finishes the put, opens no deal twice, and the file reads back.
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { readdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { readProofSetEvents } from '@sherd/contracts'
import { startDevnet } from '@sherd/devnet'
import type { Devnet } from '@sherd/devnet'
import { createWalletClient, erc20Abi, http } from 'viem'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import { removeDir, tempDir } from '@sherd/test-support'
import { expectTransactionsOfBounded, TEST_DEAL_PERIODS } from './helpers.js'

const SHERD_BIN = fileURLToPath(new URL('../packages/client/bin/sherd.js', import.meta.url))
// Two segments of 4 + 2 shards: 12 deals, opened in one openDeals batch.
const SEGMENT_BYTES = 64 * 1024
const FILE_BYTES = SEGMENT_BYTES + 30_000
const DEALS_PER_PUT = 12
const COMMAND_TIMEOUT_MS = 120_000

let devnet: Devnet
let dir: string

interface Run {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
  events: Array<Record<string, unknown>>
}

function env(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    HOME: dir,
    XDG_CONFIG_HOME: join(dir, 'config'),
    SHERD_RPC_URL: devnet.rpcUrl,
    SHERD_CONTRACT: devnet.market,
    SHERD_PRIVATE_KEY: devnet.client.privateKey,
    SHERD_BOOTSTRAP: devnet.bootstrap.join(','),
    SHERD_JOURNAL_DIR: join(dir, 'journal'),
    ...extra
  }
}

/**
 * Runs `sherd args…`; with `kill`, sends `kill.signal` as soon as stderr shows a progress event that `kill.at`
 * accepts (the CLI's --progress-json lines), so the phase is reached by events, not by timing.
 */
async function sherd(
  args: string[],
  options: {
    env?: NodeJS.ProcessEnv
    kill?: { at: (e: Record<string, unknown>) => boolean; signal: NodeJS.Signals }
  } = {}
): Promise<Run> {
  const child = spawn(process.execPath, [SHERD_BIN, ...args], {
    env: env(options.env),
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let stdout = ''
  let stderr = ''
  let pending = ''
  let killed = false
  const events: Array<Record<string, unknown>> = []
  child.stdout.on('data', (b: Buffer) => {
    stdout += b.toString()
  })
  child.stderr.on('data', (b: Buffer) => {
    stderr += b.toString()
    pending += b.toString()
    const lines = pending.split('\n')
    pending = lines.pop()!
    for (const line of lines) {
      if (!line.startsWith('{')) continue
      const e = JSON.parse(line) as Record<string, unknown>
      events.push(e)
      if (!killed && options.kill?.at(e) === true) {
        killed = true
        child.kill(options.kill.signal)
      }
    }
  })
  const timer = setTimeout(() => {
    child.kill('SIGKILL')
  }, COMMAND_TIMEOUT_MS)
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => {
    child.once('exit', (c, s) => {
      resolve([c, s])
    })
  })
  clearTimeout(timer)
  if (options.kill !== undefined && !killed)
    throw new Error(`the put never reached the phase to kill it at; stderr:\n${stderr}`)
  return { code, signal, stdout, stderr, events }
}

async function journalIds(): Promise<string[]> {
  try {
    return (await readdir(join(dir, 'journal')))
      .filter((n) => n.endsWith('.json'))
      .map((n) => n.slice(0, -5))
      .sort()
  } catch {
    return []
  }
}

async function dealsOpened(): Promise<bigint[]> {
  const logs = await readProofSetEvents(
    { market: devnet.market, publicClient: devnet.publicClient },
    {
      eventName: 'DealOpened',
      args: { client: devnet.client.address },
      fromBlock: 0n
    }
  )
  return logs.map((l) => l.args.dealId)
}

/** Sets the client account's allowance to the market to 0 and waits until that is mined. */
async function clearAllowance(): Promise<void> {
  const account = privateKeyToAccount(devnet.client.privateKey)
  const wallet = createWalletClient({ account, chain: devnet.chain, transport: http(devnet.rpcUrl) })
  const hash = await wallet.writeContract({
    address: devnet.token,
    abi: erc20Abi,
    functionName: 'approve',
    args: [devnet.market, 0n]
  })
  await devnet.publicClient.waitForTransactionReceipt({ hash })
}

beforeAll(async () => {
  dir = await tempDir('sherd-put-journal-')
  devnet = await startDevnet({ providers: 6, handleSignals: false })
}, 240_000)

afterAll(async () => {
  // Every transaction the CLI sent, killed or not, fits a real chain.
  if (devnet !== undefined)
    console.log(
      'client transactions within 128 KiB and 2^24 gas:',
      await expectTransactionsOfBounded(devnet, devnet.client.address)
    )
  await devnet?.stop()
  if (dir !== undefined) await removeDir(dir)
})

const putArgs = (file: string): string[] => [
  'put',
  file,
  '--segment-size',
  String(SEGMENT_BYTES),
  '--periods',
  String(TEST_DEAL_PERIODS),
  '--no-wait',
  '--progress-json'
]

describe('sherd put, interrupted', () => {
  it('--dry-run shows cost and placement and spends nothing; an unfunded key is refused before any upload', async () => {
    const file = join(dir, 'dry.bin')
    await writeFile(file, randomBytes(FILE_BYTES))
    const before = await dealsOpened()
    const dry = await sherd(['put', file, '--segment-size', String(SEGMENT_BYTES), '--dry-run', '--json'])
    expect(dry.code, dry.stderr).toBe(0)
    const estimate = JSON.parse(dry.stdout) as { shards: unknown[]; escrow: string; missing: string }
    expect(estimate.shards).toHaveLength(DEALS_PER_PUT)
    expect(BigInt(estimate.escrow)).toBeGreaterThan(0n)
    expect(estimate.missing).toBe('0')
    const text = await sherd(['put', file, '--segment-size', String(SEGMENT_BYTES), '--dry-run'])
    expect(text.stdout).toMatch(/cost \(escrow\)\s+[0-9.,]+ SHERD/)

    const poor = await sherd(putArgs(file), { env: { SHERD_PRIVATE_KEY: generatePrivateKey() } })
    expect(poor.code).toBe(1)
    expect(poor.stderr).toMatch(/InsufficientFundsError: .*SHERD missing/)
    expect(poor.events.filter((e) => e.type === 'put:shard-stored')).toHaveLength(0)
    expect(await dealsOpened()).toEqual(before)
    expect(await journalIds()).toEqual([])
  }, 180_000)

  const phases: Array<{ name: string; signal: NodeJS.Signals; at: (e: Record<string, unknown>) => boolean }> = [
    { name: 'upload', signal: 'SIGINT', at: (e) => e.type === 'put:shard-stored' },
    { name: 'approval', signal: 'SIGKILL', at: (e) => e.type === 'put:approved' },
    // Recorded in the journal, its transaction not sent yet.
    { name: 'batch recorded', signal: 'SIGKILL', at: (e) => e.type === 'put:batch-recorded' },
    // Sent and accepted by the chain, its deals not recorded yet: resume finds them from the nonces.
    { name: 'batch sent', signal: 'SIGKILL', at: (e) => e.type === 'put:batch-sent' },
    { name: 'batch sent', signal: 'SIGINT', at: (e) => e.type === 'put:batch-sent' },
    { name: 'deals recorded', signal: 'SIGKILL', at: (e) => e.type === 'put:deal-opened' && e.dealsOpened === 1 },
    { name: 'manifest', signal: 'SIGINT', at: (e) => e.type === 'put:manifest-stored' }
  ]
  for (const phase of phases) {
    it(`${phase.signal} at ${phase.name}: nothing on chain, or resume finishes the put once`, async () => {
      const file = join(dir, `${phase.name.replaceAll(' ', '-')}-${phase.signal}.bin`)
      const data = randomBytes(FILE_BYTES)
      await writeFile(file, data)
      const entriesBefore = await journalIds()
      const dealsBefore = (await dealsOpened()).length
      // A put stopped during its upload leaves the allowance its early approval set, and the next put then needs
      // no approval: the approval phase must start from none.
      if (phase.name === 'approval') await clearAllowance()

      const run = await sherd(putArgs(file), { kill: { at: phase.at, signal: phase.signal } })
      // A signal that lands after the last step finds the put done: then it printed the link, and resume has
      // nothing to do but print it again.
      if (run.code === 0) expect(run.stdout).toMatch(/^sherd:\/\//)
      const newEntries = (await journalIds()).filter((id) => !entriesBefore.includes(id))
      const opened = (await dealsOpened()).length - dealsBefore
      if (newEntries.length === 0) {
        expect(opened, 'no journal entry, so nothing may be on chain').toBe(0)
        if (phase.signal === 'SIGINT') expect(run.stderr).toMatch(/no deal was opened/)
        return
      }
      expect(newEntries).toHaveLength(1)
      const id = newEntries[0]!
      if (phase.signal === 'SIGINT' && run.code !== 0) {
        expect(run.code).toBe(130)
        expect(run.stderr).toContain(`sherd put --resume ${id}`)
      }

      const ls = await sherd(['ls', '--json'])
      expect(ls.code, ls.stderr).toBe(0)
      const listed = (
        JSON.parse(ls.stdout) as { files: Array<{ id: string; fileSize: number; resumable: boolean; health: string }> }
      ).files.find((f) => f.id === id)!
      expect(listed.fileSize).toBe(FILE_BYTES)

      const resumed = await sherd(['put', '--resume', id, '--no-wait', '--json'])
      expect(resumed.code, resumed.stderr).toBe(0)
      const result = JSON.parse(resumed.stdout) as { link: string; deals: Array<{ dealId?: string }> }
      expect(result.deals.every((d) => d.dealId !== undefined)).toBe(true)
      expect((await dealsOpened()).length - dealsBefore, 'one deal per shard, none twice').toBe(DEALS_PER_PUT)

      const again = await sherd(['put', '--resume', id, '--no-wait', '--json'])
      expect(again.code, again.stderr).toBe(0)
      expect((JSON.parse(again.stdout) as { link: string }).link).toBe(result.link)
      expect((await dealsOpened()).length - dealsBefore).toBe(DEALS_PER_PUT)

      const back = join(dir, `${id}.back`)
      const get = await sherd(['get', result.link, '-o', back])
      expect(get.code, get.stderr).toBe(0)
      expect((await readFile(back)).equals(data)).toBe(true)
    }, 360_000)
  }

  it("SIGINT while waiting for the deals' terms to begin: the link is printed with the journal entry, and resume prints tokens", async () => {
    const file = join(dir, 'activation-SIGINT.bin')
    const data = randomBytes(FILE_BYTES)
    await writeFile(file, data)
    const args = [...putArgs(file).filter((a) => a !== '--no-wait'), '--wait']
    const run = await sherd(args, {
      kill: { at: (e) => e.type === 'put:journal' && e.state === 'stored', signal: 'SIGINT' }
    })
    if (run.code === 0) return // every deal's term began before the signal landed: the link was printed as usual
    expect(run.code, run.stderr).toBe(130)
    expect(run.stderr).toMatch(/the file is stored \(journal entry \S+\)/)
    const link = run.stdout.trim()
    expect(link).toMatch(/^sherd:\/\/\S+#\S+$/)
    const id = /journal entry (\S+)\)/.exec(run.stderr)![1]!
    const resumed = await sherd(['put', '--resume', id, '--no-wait'])
    expect(resumed.code, resumed.stderr).toBe(0)
    expect(resumed.stdout.trim()).toBe(link)
    expect(resumed.stderr).toMatch(/escrow [0-9.,]+ SHERD/)
    const back = join(dir, 'activation.back')
    const get = await sherd(['get', link, '-o', back])
    expect(get.code, get.stderr).toBe(0)
    expect((await readFile(back)).equals(data)).toBe(true)
  }, 180_000)

  it('--abandon gives an interrupted put up: nothing more is opened, resume is refused, ls shows it', async () => {
    const file = join(dir, 'abandoned.bin')
    await writeFile(file, randomBytes(FILE_BYTES))
    const entriesBefore = await journalIds()
    const dealsBefore = (await dealsOpened()).length
    await sherd(putArgs(file), { kill: { at: (e) => e.type === 'put:journal', signal: 'SIGKILL' } })
    const [id] = (await journalIds()).filter((x) => !entriesBefore.includes(x))
    expect(id).toBeDefined()
    const abandoned = await sherd(['put', '--abandon', id!, '--json'])
    expect(abandoned.code, abandoned.stderr).toBe(0)
    const r = JSON.parse(abandoned.stdout) as { neverOpened: number; running: unknown[] }
    const opened = (await dealsOpened()).length - dealsBefore
    expect(r.neverOpened).toBe(DEALS_PER_PUT - opened)
    expect(r.running).toHaveLength(opened)
    const resumed = await sherd(['put', '--resume', id!])
    expect(resumed.code).toBe(1)
    expect(resumed.stderr).toMatch(/JournalError: .*abandoned/)
    expect((await dealsOpened()).length - dealsBefore).toBe(opened)
    // Resuming everything finds nothing left: every other put here was finished above.
    const all = await sherd(['put', '--resume', '--no-wait'])
    expect(all.code, all.stderr).toBe(0)
    expect(all.stderr).toMatch(/nothing to resume/)
    const ls = await sherd(['ls', '--json'])
    expect(
      (JSON.parse(ls.stdout) as { files: Array<{ id: string; health: string }> }).files.find((f) => f.id === id)!.health
    ).toBe('abandoned')
  }, 360_000)

  it('sherd ls lists every put with size, cost, expiry date and health, without providers', async () => {
    const started = Date.now()
    const ls = await sherd(['ls'], { env: { SHERD_BOOTSTRAP: '' } })
    expect(ls.code, ls.stderr).toBe(0)
    expect(ls.stdout.split('\n')[0]).toMatch(/^id\s+name\s+size\s+cost\s+expires\s+health\s+deals/)
    const rows = ls.stdout.trim().split('\n').slice(1)
    expect(rows.length).toBeGreaterThan(0)
    for (const row of rows.filter((r) => !r.includes('abandoned')))
      expect(row).toMatch(/SHERD\s+~\d{4}-\d\d-\d\d \d\d:\d\dZ\s+(healthy|degraded)/)
    expect(Date.now() - started).toBeLessThan(30_000)
  }, 60_000)
})
