// `npm start` as a user runs it: the sherd-devnet demo as its own process, then the CLIs pointed at the devnet it
// leaves running, then Ctrl-C (SIGINT).
import { spawn, execFile } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { afterAll, describe, expect, it } from 'vitest'
import { randomBytes, sha256 } from './helpers.js'

const run = promisify(execFile)
const root = fileURLToPath(new URL('..', import.meta.url))
const bin = (pkg: string, name: string): string => join(root, 'packages', pkg, 'bin', name)
/** The bound: the file read back and the repair done within 5 minutes on 2 cores. */
const DEMO_BUDGET_MS = 5 * 60_000

/** Pids of processes whose command line mentions `text` (the devnet's dir names every provider's data dir). */
function processesMentioning(text: string): number[] {
  return readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .flatMap((pid) => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(text) ? [Number(pid)] : []
      } catch {
        return []
      }
    })
}

describe('npm start', () => {
  let child: ChildProcess | undefined
  afterAll(() => {
    if (child?.exitCode === null) child.kill('SIGKILL')
  })

  it(
    'tells the demo story within 5 minutes, leaves a devnet the CLIs can use, and Ctrl-C cleans up',
    async () => {
      const startedAt = Date.now()
      child = spawn(process.execPath, [bin('devnet', 'sherd-devnet.js'), 'demo'], {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, NO_COLOR: '1' }
      })
      let out = ''
      child.stdout!.on('data', (d: Buffer) => {
        out += d.toString()
      })
      child.stderr!.on('data', (d: Buffer) => {
        out += d.toString()
      })
      const exited = new Promise<number | null>((resolve) => {
        child!.once('exit', (code) => {
          resolve(code)
        })
      })
      const seen = (text: string): Promise<number> =>
        new Promise((resolve, reject) => {
          const check = (): void => {
            if (out.includes(text)) {
              clearInterval(timer)
              resolve(Date.now() - startedAt)
            }
            if (child!.exitCode !== null) {
              clearInterval(timer)
              reject(new Error(`sherd-devnet exited before "${text}":\n${out}`))
            }
          }
          const timer = setInterval(check, 200)
        })

      const readBackMs = await seen('file read back byte-identical')
      const repairedMs = await seen('the file is healthy again')
      await seen('Ctrl-C stops every process')
      expect(readBackMs).toBeLessThan(DEMO_BUDGET_MS)
      expect(repairedMs).toBeLessThan(DEMO_BUDGET_MS)
      // The story's chapters, in order.
      const chapters = [
        'Starting a devnet',
        'Storing a 4.0 MiB file with k = 4, m = 2',
        'A keeper looks after the file with its repair capability only',
        'claim their pay',
        'Two providers stop',
        'crashes and stays down',
        'FAILED after 3 missed periods',
        'The keeper repaired the file on its own',
        'The devnet is running'
      ]
      const at = chapters.map((c) => out.indexOf(c))
      expect(
        at.every((i) => i >= 0),
        out
      ).toBe(true)
      expect([...at].sort((a, b) => a - b)).toEqual(at)
      expect(out).toMatch(/deal #\d+ opened with provider \d/)
      expect(out).toMatch(/opened 6 deals in one transaction/)
      expect(out).toMatch(/period \d+: 6 of 6 deals proven/)
      expect(out).toMatch(/claim of deal #\d+ \(provider \d\): [\d.]+ SHERD paid to the provider/)
      expect(out).toMatch(/provider \d \(shard 0\): \d+ periods proven, [1-9][\d.]* SHERD claimed/)
      expect(out).toMatch(/slashed [\d.]+ SHERD/)
      // The repair is the keeper's, from the file's repair capability, and nothing ran `sherd repair`.
      expect(out).toMatch(/keeper started with sherd:\/\/\S+#r=/)
      expect(out).toMatch(/keeper: repairing segment\(s\) 0/)
      expect(out).toMatch(/keeper: deal #\d+ with provider \d+ for rebuilt shard 2 recorded/)
      expect(out).toMatch(/repaired by the keeper: shard 2 moved from provider \d+ to provider \d+/)
      expect(out).toMatch(/keeper: published the file's latest version .* to [1-9]\d* of \d+ providers/)
      expect(out).toContain('the original link still works')

      // The CLIs, pointed at the devnet with the env file it printed.
      const envFile = /source (\S+devnet\.env)/.exec(out)?.[1]
      expect(envFile).toBeDefined()
      const env: Record<string, string> = { ...(process.env as Record<string, string>) }
      for (const line of readFileSync(envFile!, 'utf8').split('\n')) {
        const m = /^export (\w+)='(.*)'$/.exec(line)
        if (m !== null) env[m[1]!] = m[2]!
      }
      const dir = dirname(envFile!)
      env.XDG_DATA_HOME = dir // the put journal, kept out of the home directory of whoever runs the tests
      const file = join(dir, 'cli-input.bin')
      const data = randomBytes(200_000)
      await writeFile(file, data)
      const put = await run(process.execPath, [bin('client', 'sherd.js'), 'put', file, '--periods', '4'], { env })
      const link = put.stdout.trim()
      expect(link).toMatch(/^sherd:\/\//)
      const copy = join(dir, 'cli-output.bin')
      await run(process.execPath, [bin('client', 'sherd.js'), 'get', link, '-o', copy], { env })
      expect(sha256(readFileSync(copy))).toBe(sha256(data))
      const status = await run(process.execPath, [
        bin('node', 'sherd-node.js'),
        'status',
        '--data-dir',
        join(dir, 'provider-0')
      ])
      expect(JSON.parse(status.stdout)).toMatchObject({ chain: { registered: true } })

      // Ctrl-C: everything stops, nothing is left.
      const anvilPort = /anvil is up at http:\/\/127\.0\.0\.1:(\d+)/.exec(out)?.[1]
      const anvilArgs = `--port\0${anvilPort}\0`
      expect(processesMentioning(dir)).toHaveLength(7)
      expect(processesMentioning(anvilArgs)).toHaveLength(1)
      child.kill('SIGINT')
      expect(await exited).toBe(0)
      expect(out).toContain(`removed ${dir}`)
      expect(existsSync(dir)).toBe(false)
      expect(processesMentioning(dir)).toEqual([])
      expect(processesMentioning(anvilArgs)).toEqual([])
    },
    DEMO_BUDGET_MS + 60_000
  )
})
