// README.md is executable: every fenced block in it is run here the way a user would run it, or this test fails.
//
// The blocks come from README.md itself, in order, each in a fresh "terminal" (cwd = the repository root, the
// environment of a user's shell: no npm_* or VITEST* variables, the repository's Node first on PATH). A shell block
// is cut into commands (`\` continues a line, `#` starts a comment, `&&` separates commands); each command, after
// the placeholder substitutions below, must match one of the handlers in HANDLERS, which runs it and checks what
// README.md says it does. A command no handler knows, or a placeholder left unsubstituted, fails the test. A
// TypeScript block is the SDK example: it is saved, and run by the block that says `node example.ts`.
//
// A block can be marked in README.md, on the line before its fence:
//   <!-- readme-test: skip: <reason> -->                 not run (the reason is required)
//   <!-- readme-test: instead `<command>`: <reason> -->  <command> is run instead of the block (through HANDLERS)
//
// Placeholders, as a user fills them in (SUBSTITUTIONS):
//   /tmp/sherd-devnet-…/devnet.env   the env file of the devnet this test starts (`npx sherd-devnet`, printed)
//   'sherd://…'                      the link the last `npx sherd put` printed
//   http://127.0.0.1:<port>          provider 0's status URL (printed by the devnet, in devnet.json)
//   ./photo.jpg, photo-back.jpg      files in a temp dir (a random 300 kB "photo" is made when missing)
//   /srv/sherd                       a temp data dir
//   https://rpc.example.org, 0xMarket…   the devnet's RPC URL and market
//   /ip4/0.0.0.0/tcp/4001, 7070      free ports on 127.0.0.1 (this machine is shared: loopback, no fixed ports)
//   [--flag …]                       optional parts are left out
//   /tmp/sherd-packs, sherd-app      temp dirs outside the repository
// `npm install <tarballs>` gets `--prefer-offline --no-audit --no-fund` so the npm cache makes it fast.
//
// Run elsewhere, and checked here to still be so: `npm install` and `npm test` are exactly what CI runs (.ci/run);
// `npm start` is test/demo.test.ts (the start script, run as a process); `npm run lint`, `npm run build` and
// `npm run typecheck` are the first steps of `npm test` itself (running build here would rewrite src/generated and
// dist/ under the other test files running in parallel); `npm run format` is checked to be Biome's, not run.
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { existsSync, readFileSync, readdirSync } from 'node:fs'
import { readFile, writeFile } from 'node:fs/promises'
import { basename, delimiter, dirname, isAbsolute, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createPublicClient, createWalletClient, erc20Abi, http, parseEther } from 'viem'
import type { Address, Hex } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { rpcChain } from '@sherd/contracts'
import { freePorts } from '@sherd/devnet'
import { removeDir, tempDir } from '@sherd/test-support'

const root = fileURLToPath(new URL('..', import.meta.url))
const README = join(root, 'README.md')
/** Enough for any single command here on 2 busy cores (a put waits for its deals' first proofs). */
const COMMAND_TIMEOUT_MS = 240_000
const PHOTO_BYTES = 300_000
const SHELL_LANGS = ['sh', 'bash', 'shell', 'console']
/** The example's own shard count (k + m = 4 + 2, the SDK's default) needs 6 providers. */
const DEVNET_PROVIDERS = 6

// ---- README.md → blocks → commands -------------------------------------------------------------------------

type Marker = { kind: 'skip'; reason: string } | { kind: 'instead'; command: string; reason: string }

interface ReadmeBlock {
  /** 1-based line of the opening fence. */
  line: number
  lang: string
  body: string
  heading: string
  marker?: Marker
}

function parseMarker(text: string, line: number): Marker {
  const skip = /^skip:\s*(\S.*)$/.exec(text)
  if (skip !== null) return { kind: 'skip', reason: skip[1]! }
  const instead = /^instead `([^`]+)`:\s*(\S.*)$/.exec(text)
  if (instead !== null) return { kind: 'instead', command: instead[1]!, reason: instead[2]! }
  throw new Error(
    `README.md:${line}: cannot read the marker "${text}": write "skip: <reason>" or "instead \`<command>\`: <reason>"`
  )
}

function readmeBlocks(markdown: string): ReadmeBlock[] {
  const lines = markdown.split('\n')
  const blocks: ReadmeBlock[] = []
  let heading = ''
  let pending: { marker: Marker; line: number } | undefined
  for (let i = 0; i < lines.length; i++) {
    const text = lines[i]!
    const h = /^#{1,6}\s+(.*)$/.exec(text)
    if (h !== null) heading = h[1]!
    const marker = /^<!--\s*readme-test:\s*(.*?)\s*-->\s*$/.exec(text)
    if (marker !== null) {
      pending = { marker: parseMarker(marker[1]!, i + 1), line: i + 1 }
      continue
    }
    const fence = /^```(\S*)\s*$/.exec(text)
    if (fence !== null) {
      const start = i
      const body: string[] = []
      for (i++; i < lines.length && !/^```\s*$/.test(lines[i]!); i++) body.push(lines[i]!)
      if (i >= lines.length) throw new Error(`README.md:${start + 1}: the block is never closed`)
      blocks.push({
        line: start + 1,
        lang: fence[1]!,
        body: body.join('\n'),
        heading,
        ...(pending === undefined ? {} : { marker: pending.marker })
      })
      pending = undefined
      continue
    }
    if (pending !== undefined && text.trim() !== '')
      throw new Error(`README.md:${pending.line}: a readme-test marker must be right before a code block`)
  }
  return blocks
}

/** Cuts `# comment` off a shell line, leaving `#` inside quotes or words (`sherd://…#…`) alone. */
function stripComment(line: string): string {
  let quote: string | undefined
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!
    if (quote !== undefined) {
      if (c === quote) quote = undefined
      continue
    }
    if (c === "'" || c === '"') quote = c
    else if (c === '#' && (i === 0 || /\s/.test(line[i - 1]!))) return line.slice(0, i)
  }
  return line
}

function shellCommands(body: string): string[] {
  const commands: string[] = []
  let current = ''
  for (const raw of body.split('\n')) {
    const line = stripComment(raw)
    if (/\\\s*$/.test(line)) {
      current += line.replace(/\\\s*$/, ' ')
      continue
    }
    current += line
    const command = current.replace(/\s+/g, ' ').trim()
    current = ''
    if (command !== '') commands.push(...command.split(' && ').map((c) => c.trim()))
  }
  if (current.trim() !== '') throw new Error(`a command ends in a line continuation: ${current}`)
  return commands
}

// ---- a user's terminal ------------------------------------------------------------------------------------

interface DevnetFiles {
  envFile: string
  info: {
    rpcUrl: string
    chainId: number
    market: Address
    token: Address
    client: { privateKey: Hex }
    providers: Array<{ httpUrl: string }>
  }
}

interface Terminal {
  block: ReadmeBlock
  cwd: string
  env: NodeJS.ProcessEnv
  /**
   * Long-running commands (`sherd-node start`, `sherd keeper start`), stopped with Ctrl-C (SIGINT to their process
   * group) after the block; `stoppedLine` is what the command prints once stopped (default: the node's).
   */
  background: Array<{
    command: string
    child: ChildProcess
    output: () => string
    exited: Promise<number | null>
    stoppedLine?: string
  }>
}

/** What the blocks share: the devnet, the user's files, the saved example, values later commands need. */
interface Session {
  devnet: DevnetFiles
  work: string
  lastPut?: { file: string; link: string }
  example?: { body: string; line: number }
  exampleRan: boolean
  provider?: { chainAddress?: Address }
  ports: { listen: number; http: number }
  /** What each README command became and which handler ran it (printed when the test fails). */
  log: string[]
}

function userEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const [key, value] of Object.entries(process.env)) {
    if (/^(npm_|VITEST|NODE_ENV$|NODE_OPTIONS$)/.test(key)) continue
    env[key] = value
  }
  // A user of this repository runs npx in it (npm puts node_modules/.bin first) with a Node that runs libp2p 3.
  env.PATH = [dirname(process.execPath), join(root, 'node_modules', '.bin'), process.env.PATH ?? ''].join(delimiter)
  env.NO_COLOR = '1'
  return env
}

interface RunResult {
  stdout: string
  stderr: string
}

async function sh(t: Terminal, command: string, timeoutMs = COMMAND_TIMEOUT_MS): Promise<RunResult> {
  // Its own process group, so a timeout stops npx and what it started, not only bash.
  const child = spawn('bash', ['-c', command], {
    cwd: t.cwd,
    env: t.env,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let stdout = ''
  let stderr = ''
  child.stdout!.on('data', (d: Buffer) => {
    stdout += d.toString()
  })
  child.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString()
  })
  let timedOut = false
  const timer = setTimeout(() => {
    timedOut = true
    process.kill(-child.pid!, 'SIGKILL')
  }, timeoutMs)
  const code = await new Promise<number | null>((r) => {
    child.once('close', (c) => {
      r(c)
    })
  })
  clearTimeout(timer)
  if (code !== 0) {
    throw new Error(
      `README.md:${t.block.line} (${t.block.heading}): \`${command}\` in ${t.cwd} failed ` +
        `(${timedOut ? `killed after ${timeoutMs} ms` : `exit ${String(code)}`}):\n${stdout.slice(-4000)}\n${stderr.slice(-4000)}`
    )
  }
  return { stdout, stderr }
}

function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex')
}

function insideRepo(dir: string): boolean {
  const rel = relative(root, dir)
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel))
}

async function ensurePhoto(file: string): Promise<void> {
  if (!existsSync(file)) await writeFile(file, randomBytes(PHOTO_BYTES))
}

// ---- placeholders -----------------------------------------------------------------------------------------

const SUBSTITUTIONS: Array<[RegExp, (s: Session) => string]> = [
  [/\s\[[^\]]*\]/g, () => ''],
  [/\/tmp\/sherd-devnet-[^\s/]*\/devnet\.env/g, (s) => s.devnet.envFile],
  [
    /'sherd:\/\/[^']*'/g,
    (s) => {
      if (s.lastPut === undefined) throw new Error('a sherd:// link is used before any `npx sherd put` printed one')
      return `'${s.lastPut.link}'`
    }
  ],
  [/http:\/\/127\.0\.0\.1:<port>/g, (s) => s.devnet.info.providers[0]!.httpUrl],
  [/(?<=\s|^)\.\/photo\.jpg\b/g, (s) => join(s.work, 'photo.jpg')],
  [/(?<=\s|^)photo-back\.jpg\b/g, (s) => join(s.work, 'photo-back.jpg')],
  [/\/srv\/sherd\b/g, (s) => join(s.work, 'srv-sherd')],
  [/https:\/\/rpc\.example\.org/g, (s) => s.devnet.info.rpcUrl],
  [/0xMarket…/g, (s) => s.devnet.info.market],
  [/\/ip4\/0\.0\.0\.0\/tcp\/4001/g, (s) => `/ip4/127.0.0.1/tcp/${s.ports.listen}`],
  [/--http-port 7070\b/g, (s) => `--http-port ${s.ports.http}`],
  [/\/tmp\/sherd-packs\b/g, (s) => join(s.work, 'sherd-packs')],
  [/(?<=\s|^)sherd-app\b/g, (s) => join(s.work, 'sherd-app')]
]

function substitute(command: string, s: Session): string {
  let out = command
  for (const [pattern, value] of SUBSTITUTIONS) out = out.replace(pattern, () => value(s))
  const left = /…|<[\w-]+>|0x…/.exec(out)
  if (left !== null)
    throw new Error(
      `\`${command}\`: the placeholder "${left[0]}" has no substitution in test/readme.test.ts (SUBSTITUTIONS)`
    )
  return out
}

// ---- what each command is, and how it is checked ------------------------------------------------------------

interface Handler {
  name: string
  pattern: RegExp
  run: (m: RegExpExecArray, t: Terminal, s: Session) => Promise<void>
}

/** The npm commands .ci/run runs (the rest of it installs what the tests need from Debian, e.g. chromium). */
function ciCommands(): string[] {
  return readFileSync(join(root, '.ci', 'run'), 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => /^npm\s/.test(l))
}

function packageScripts(): Record<string, string> {
  return (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts
}

/** `npm test` runs build, then typecheck, then vitest: what it runs before the tests is covered by every run. */
function expectPartOfNpmTest(script: string): void {
  const steps = packageScripts()
    .test!.split('&&')
    .map((x) => x.trim())
  expect(steps, 'package.json scripts.test').toContain(script)
  expect(steps.indexOf(script), `${script} runs before the tests`).toBeLessThan(
    steps.findIndex((x) => x.startsWith('vitest run'))
  )
}

function jsonOf(out: string, command: string): Record<string, unknown> {
  try {
    return JSON.parse(out) as Record<string, unknown>
  } catch {
    throw new Error(`\`${command}\` did not print JSON:\n${out}`)
  }
}

const HANDLERS: Handler[] = [
  {
    name: 'npm install (CI runs it: .ci/run)',
    pattern: /^npm install$/,
    run: async (_m, t) => {
      expect(insideRepo(t.cwd)).toBe(true)
      expect(ciCommands()).toEqual(['npm install', 'npm test'])
    }
  },
  {
    name: 'npm test (CI runs it: .ci/run)',
    pattern: /^npm test$/,
    run: async () => {
      expect(ciCommands()).toEqual(['npm install', 'npm test'])
    }
  },
  {
    name: 'npm start (test/demo.test.ts runs it as a process)',
    pattern: /^npm start$/,
    run: async () => {
      expect(packageScripts().start).toBe('node packages/devnet/bin/sherd-devnet.js demo')
      expect(readFileSync(join(root, 'test', 'demo.test.ts'), 'utf8')).toContain(
        "[bin('devnet', 'sherd-devnet.js'), 'demo']"
      )
    }
  },
  {
    name: 'npm run build / typecheck / lint (the first steps of npm test)',
    pattern: /^npm run (build|typecheck|lint)$/,
    run: async (m) => {
      expectPartOfNpmTest(`npm run ${m[1]!}`)
    }
  },
  {
    // Not run: it would rewrite the tree under the other test files running in parallel. `npm run lint`, which
    // npm test runs, fails on any file it would change.
    name: 'npm run format (Biome, configured in biome.json)',
    pattern: /^npm run format$/,
    run: async () => {
      expect(packageScripts().format).toBe('biome format --write .')
      expect(existsSync(join(root, 'biome.json')), 'biome.json at the repository root').toBe(true)
    }
  },
  {
    name: 'source an env file',
    pattern: /^source (\S+)$/,
    run: async (m, t) => {
      const { stdout } = await sh(t, `source ${m[1]!} && env -0`)
      const env: NodeJS.ProcessEnv = {}
      for (const entry of stdout.split('\0')) {
        const at = entry.indexOf('=')
        if (at > 0) env[entry.slice(0, at)] = entry.slice(at + 1)
      }
      expect(env.SHERD_RPC_URL, 'devnet.env sets SHERD_RPC_URL').toBeDefined()
      t.env = env
    }
  },
  {
    name: 'sherd put',
    pattern: /^npx sherd put (\S+)/,
    run: async (m, t, s) => {
      const file = resolve(t.cwd, m[1]!)
      await ensurePhoto(file)
      const { stdout } = await sh(t, m.input)
      const link = /sherd:\/\/\S+/.exec(stdout)?.[0]
      expect(link, `sherd put prints the link:\n${stdout}`).toBeDefined()
      s.lastPut = { file, link: link! }
    }
  },
  {
    name: 'sherd get',
    pattern: /^npx sherd get \S+.*?(?:-o|--output) (\S+)/,
    run: async (m, t, s) => {
      await sh(t, m.input)
      const out = resolve(t.cwd, m[1]!)
      expect(sha256(readFileSync(out)), 'the file read back is the file put').toBe(
        sha256(readFileSync(s.lastPut!.file))
      )
    }
  },
  {
    name: 'sherd stat',
    pattern: /^npx sherd stat \S+/,
    run: async (m, t) => {
      const { stdout } = await sh(t, m.input)
      expect(stdout.trim()).not.toBe('')
    }
  },
  {
    name: "sherd keeper capability (of the last put's link)",
    pattern: /^npx sherd keeper capability \S+$/,
    run: async (m, t) => {
      const { stdout } = await sh(t, m.input)
      expect(stdout.trim(), 'a repair capability').toMatch(/^sherd:\/\/[a-z2-7]+#r=[A-Za-z0-9_-]{43}$/)
    }
  },
  {
    name: 'sherd keeper add (the capability alone)',
    pattern: /^npx sherd keeper add /,
    run: async (m, t) => {
      const { stdout } = await sh(t, m.input)
      expect(stdout, 'add keeps it as a repair capability').toMatch(/^keeping \S+ \(repair capability\)/m)
    }
  },
  {
    name: 'sherd keeper list',
    pattern: /^npx sherd keeper list$/,
    run: async (m, t, s) => {
      const { stdout } = await sh(t, m.input)
      const { parseLink } = await import('@sherd/protocol')
      expect(stdout, 'list names the file added above by its CID').toContain(parseLink(s.lastPut!.link).cid.toString())
    }
  },
  {
    name: 'sherd keeper start (runs until Ctrl-C; its /status lists the file once it has checked it)',
    pattern: /^npx sherd keeper start /,
    run: async (m, t, s) => {
      const child = spawn('bash', ['-c', m.input], {
        cwd: t.cwd,
        env: t.env,
        detached: true,
        stdio: ['ignore', 'pipe', 'pipe']
      })
      let out = ''
      child.stdout!.on('data', (d: Buffer) => {
        out += d.toString()
      })
      child.stderr!.on('data', (d: Buffer) => {
        out += d.toString()
      })
      const exited = new Promise<number | null>((resolveExit) => {
        child.once('exit', (code) => {
          resolveExit(code)
        })
      })
      t.background.push({ command: m.input, child, output: () => out, exited, stoppedLine: 'keeper stopped' })
      const url = `http://127.0.0.1:${s.ports.http}`
      const { parseLink } = await import('@sherd/protocol')
      const cid = parseLink(s.lastPut!.link).cid.toString()
      const deadline = Date.now() + COMMAND_TIMEOUT_MS
      for (;;) {
        if (child.exitCode !== null) throw new Error(`\`${m.input}\` exited:\n${out}`)
        const status = await fetch(`${url}/status`)
          .then(async (r) => (await r.json()) as { passes: number; files: Array<{ id: string; segments?: unknown[] }> })
          .catch(() => undefined)
        if (status !== undefined && status.passes >= 1) {
          expect(status.files.find((f) => f.id === cid)?.segments, 'the keeper checked the file').toBeDefined()
          break
        }
        if (Date.now() > deadline)
          throw new Error(`\`${m.input}\` did not check the file in ${COMMAND_TIMEOUT_MS} ms:\n${out}`)
        await new Promise((resolveWait) => setTimeout(resolveWait, 500))
      }
      expect(await (await fetch(`${url}/metrics`)).text()).toMatch(/^sherd_keeper_passes_total [1-9]/m)
    }
  },
  {
    name: 'sherd wallet',
    pattern: /^npx sherd wallet$/,
    run: async (m, t) => {
      const { stdout } = await sh(t, m.input)
      expect(stdout, 'wallet prints the balance in tokens').toMatch(/^balance\s+[\d,.]+ SHERD$/m)
    }
  },
  {
    name: 'sherd extend',
    pattern: /^npx sherd extend \S+ (\d+)$/,
    run: async (m, t) => {
      const { stdout } = await sh(t, m.input)
      expect(stdout, 'extend says what it paid').toMatch(
        new RegExp(`^extended \\d+ deal\\(s\\) by ${m[1]!} periods for [\\d,.]+ SHERD$`, 'm')
      )
    }
  },
  {
    name: 'sherd audit (every deal of the file is audited and answered by its provider)',
    pattern: /^npx sherd audit \S+$/,
    run: async (m, t) => {
      const { stdout } = await sh(t, m.input)
      const results = [...stdout.matchAll(/^\d+\s+\d+\s+\S+\s+\d+\s+\d+\s+(\w+)/gm)].map((x) => x[1]!)
      expect(results.length, `audit lists the file's deals:\n${stdout}`).toBeGreaterThan(0)
      expect(new Set(results), 'every audit was answered').toEqual(new Set(['answered']))
      expect(stdout).toMatch(/^bonds [\d,.]+ SHERD; withdrew [\d,.]+ SHERD$/m)
    }
  },
  {
    name: 'sherd ls',
    pattern: /^npx sherd ls$/,
    run: async (m, t, s) => {
      const { stdout } = await sh(t, m.input)
      expect(stdout, 'ls lists the file put above by its path').toContain(basename(s.lastPut!.file))
    }
  },
  {
    name: 'sherd-node init (then fund the printed chainAddress, as its comment says)',
    pattern: /^npx sherd-node init /,
    run: async (m, t, s) => {
      const { stdout } = await sh(t, m.input)
      const printed = jsonOf(stdout.trim().split('\n').at(-1)!, m.input)
      expect(printed.chainAddress).toMatch(/^0x[0-9a-fA-F]{40}$/)
      s.provider = { chainAddress: printed.chainAddress as Address }
      await fund(s.devnet, printed.chainAddress as Address)
    }
  },
  {
    name: 'sherd-node start (runs until Ctrl-C; ready when it prints its ready line)',
    pattern: /^npx sherd-node start /,
    run: async (m, t) => {
      const child = spawn('bash', ['-c', m.input], {
        cwd: t.cwd,
        env: t.env,
        detached: true,
        stdio: ['ignore', 'pipe', 'pipe']
      })
      let out = ''
      child.stdout!.on('data', (d: Buffer) => {
        out += d.toString()
      })
      child.stderr!.on('data', (d: Buffer) => {
        out += d.toString()
      })
      const exited = new Promise<number | null>((resolveExit) => {
        child.once('exit', (code) => {
          resolveExit(code)
        })
      })
      t.background.push({ command: m.input, child, output: () => out, exited })
      await new Promise<void>((resolveReady, reject) => {
        const timer = setInterval(() => {
          if (out.includes('"event":"ready"')) {
            clearInterval(timer)
            resolveReady()
          }
          if (child.exitCode !== null) {
            clearInterval(timer)
            reject(new Error(`\`${m.input}\` exited before its ready line:\n${out}`))
          }
        }, 200)
        setTimeout(() => {
          clearInterval(timer)
          reject(new Error(`\`${m.input}\` printed no ready line in ${COMMAND_TIMEOUT_MS} ms:\n${out}`))
        }, COMMAND_TIMEOUT_MS).unref()
      })
    }
  },
  {
    name: 'sherd-node status (the node is registered on chain)',
    pattern: /^npx sherd-node status (--url|--data-dir) \S+$/,
    run: async (m, t) => {
      const { stdout } = await sh(t, m.input)
      expect(jsonOf(stdout, m.input)).toMatchObject({ chain: { registered: true } })
    }
  },
  {
    name: 'sherd-node withdraw',
    pattern: /^npx sherd-node withdraw --data-dir \S+$/,
    run: async (m, t, s) => {
      const { stdout } = await sh(t, m.input)
      const printed = jsonOf(stdout, m.input)
      expect(String(printed.provider).toLowerCase()).toBe(s.provider?.chainAddress?.toLowerCase())
      expect(printed.withdrawnBaseUnits).toMatch(/^\d+$/)
      expect(printed.withdrawn).toMatch(/^[\d,.]+ SHERD$/)
    }
  },
  {
    name: 'sherd-node stake --add (the stake grows by that much)',
    pattern: /^npx sherd-node stake --data-dir \S+ --add (\d+)$/,
    run: async (m, t) => {
      const { stdout } = await sh(t, m.input)
      expect(jsonOf(stdout, m.input)).toMatchObject({ added: `${m[1]!} SHERD`, tx: expect.stringMatching(/^0x/) })
    }
  },
  {
    name: 'sherd-node exit (it has no deals, so it is not refused)',
    pattern: /^npx sherd-node exit --data-dir \S+$/,
    run: async (m, t) => {
      const { stdout } = await sh(t, m.input)
      expect(jsonOf(stdout, m.input)).toMatchObject({ exited: true })
    }
  },
  {
    name: 'npm run bench -- --list (every suite the README names exists)',
    pattern: /^npm run bench -- --list$/,
    run: async (m, t) => {
      const { stdout } = await sh(t, m.input)
      const suites = [...stdout.matchAll(/^ {2}(\w+) /gm)].map((x) => x[1]!)
      const named = shellCommands(t.block.body).flatMap((c) => /^npm run bench -- (\w+)$/.exec(c)?.[1] ?? [])
      const listed =
        t.block.body
          .match(/one suite: ([\w, ]+)/)?.[1]
          ?.split(',')
          .map((x) => x.trim()) ?? []
      for (const suite of [...named, ...listed]) expect(suites, `README names the suite "${suite}"`).toContain(suite)
      if (t.block.body.includes('--full')) expect(stdout).toContain('--full')
    }
  },
  {
    name: 'npx vitest run <path>',
    pattern: /^npx vitest run \S+$/,
    run: async (m, t) => {
      await sh(t, m.input)
    }
  },
  {
    name: "a CLI's --version or --help",
    pattern: /^npx (sherd|sherd-node|sherd-devnet) (--version|--help)$/,
    run: async (m, t) => {
      const { stdout } = await sh(t, m.input)
      if (m[2] === '--version') expect(stdout.trim()).toMatch(/\d+\.\d+\.\d+/)
      else expect(stdout).toContain('Usage')
    }
  },
  {
    name: 'mkdir -p <dir>',
    pattern: /^mkdir -p (\S+)$/,
    run: async (m, t) => {
      await sh(t, m.input)
    }
  },
  {
    name: 'cd <dir>',
    pattern: /^cd (\S+)$/,
    run: async (m, t) => {
      t.cwd = resolve(t.cwd, m[1]!)
      expect(existsSync(t.cwd), `cd ${t.cwd}`).toBe(true)
    }
  },
  {
    name: 'npm pack of workspaces (in the repository)',
    pattern: /^npm pack (?:-w \S+ )+--pack-destination (\S+)$/,
    run: async (m, t) => {
      expect(insideRepo(t.cwd), 'npm pack -w runs in the repository').toBe(true)
      await sh(t, m.input)
      const workspaces = [...m.input.matchAll(/-w @sherd\/(\S+)/g)].map((x) => `sherd-${x[1]!}-`)
      const packed = readdirSync(m[1]!)
      for (const w of workspaces)
        expect(
          packed.some((f) => f.startsWith(w) && f.endsWith('.tgz')),
          `${w}*.tgz packed`
        ).toBe(true)
    }
  },
  {
    name: 'npm init / npm pkg set in a new project (outside the repository)',
    pattern: /^npm (init -y|pkg set type=module)$/,
    run: async (m, t) => {
      expect(insideRepo(t.cwd), `${m.input} would change the repository's package.json`).toBe(false)
      await sh(t, m.input)
    }
  },
  {
    name: 'npm install <tarballs> (outside the repository)',
    pattern: /^npm install (\S+\.tgz)$/,
    run: async (m, t) => {
      expect(insideRepo(t.cwd), 'the tarballs are installed outside the repository').toBe(false)
      await sh(t, `${m.input} --prefer-offline --no-audit --no-fund`)
      expect(existsSync(join(t.cwd, 'node_modules', '@sherd', 'client', 'package.json'))).toBe(true)
      expect(existsSync(join(t.cwd, 'node_modules', '@foundry-rs', 'anvil')), 'the SDK does not pull in anvil').toBe(
        false
      )
      // Nothing may resolve back into the repository (a workspace link would hide an unpublishable package).
      const lock = await readFile(join(t.cwd, 'package-lock.json'), 'utf8')
      expect(lock).not.toContain(root)
    }
  },
  {
    name: "node example.ts (the README's TypeScript example, saved as the block says; type-checked, then run)",
    pattern: /^node (\S+\.ts)$/,
    run: async (m, t, s) => {
      if (s.example === undefined) throw new Error('`node example.ts` comes before the TypeScript example it runs')
      expect(insideRepo(t.cwd), 'the example runs outside the repository').toBe(false)
      const file = resolve(t.cwd, m[1]!)
      await writeFile(file, s.example.body + '\n')
      await ensurePhoto(join(t.cwd, 'photo.jpg'))
      // The types a user gets from the tarballs, checked with the root's TypeScript (and @types/node of its version).
      const typesNode = (
        JSON.parse(readFileSync(join(root, 'node_modules', '@types', 'node', 'package.json'), 'utf8')) as {
          version: string
        }
      ).version
      await sh(t, `npm install --prefer-offline --no-audit --no-fund --save-dev @types/node@${typesNode}`)
      await writeFile(
        join(t.cwd, 'tsconfig.json'),
        JSON.stringify(
          {
            compilerOptions: {
              target: 'es2023',
              module: 'nodenext',
              moduleResolution: 'nodenext',
              strict: true,
              noEmit: true,
              types: ['node'],
              skipLibCheck: false
            },
            files: [m[1]!]
          },
          null,
          2
        )
      )
      const typecheck = await sh(t, `${join(root, 'node_modules', '.bin', 'tsc')} -p tsconfig.json`).then(
        () => undefined,
        (err: Error) => err
      )
      expect.soft(typecheck?.message, 'the example type-checks against the packed types').toBeUndefined()
      const { stdout } = await sh(t, m.input)
      s.exampleRan = true
      expect(stdout).toContain('put:shard-stored')
      expect(stdout).toMatch(/sherd:\/\/\S+#\S+/)
      expect(sha256(readFileSync(join(t.cwd, 'photo-back.jpg'))), 'photo-back.jpg is photo.jpg').toBe(
        sha256(readFileSync(join(t.cwd, 'photo.jpg')))
      )
    }
  }
]

/** What the init comment tells the provider to do: gas and the market's token for the stake, from the client's funds. */
async function fund(devnet: DevnetFiles, to: Address): Promise<void> {
  const { rpcUrl, chainId, token, client } = devnet.info
  const chain = rpcChain(chainId, rpcUrl)
  const publicClient = createPublicClient({ chain, transport: http(rpcUrl) })
  const wallet = createWalletClient({ account: privateKeyToAccount(client.privateKey), chain, transport: http(rpcUrl) })
  const decimals = await publicClient.readContract({ address: token, abi: erc20Abi, functionName: 'decimals' })
  const gas = await wallet.sendTransaction({ to, value: parseEther('10') })
  await publicClient.waitForTransactionReceipt({ hash: gas })
  const tokens = await wallet.writeContract({
    address: token,
    abi: erc20Abi,
    functionName: 'transfer',
    args: [to, 100_000n * 10n ** BigInt(decimals)]
  })
  await publicClient.waitForTransactionReceipt({ hash: tokens })
}

function handlerOf(command: string, block: ReadmeBlock, s: Session): { handler: Handler; substituted: string } {
  let substituted: string
  try {
    substituted = substitute(command, s)
  } catch (err) {
    throw new Error(`README.md:${block.line} (${block.heading}): ${(err as Error).message}`)
  }
  const handler = HANDLERS.find((h) => h.pattern.test(substituted))
  if (handler === undefined) {
    throw new Error(
      `README.md:${block.line} (${block.heading}): no handler in test/readme.test.ts knows how to run \`${command}\`: ` +
        'add one to HANDLERS, or mark the block in README.md with <!-- readme-test: skip: <reason> -->'
    )
  }
  return { handler, substituted }
}

/** The commands a block runs: its own, or its marker's `instead`. */
function commandsOfBlock(block: ReadmeBlock): string[] {
  return block.marker?.kind === 'instead' ? shellCommands(block.marker.command) : shellCommands(block.body)
}

async function runCommand(command: string, t: Terminal, s: Session): Promise<void> {
  const { handler, substituted } = handlerOf(command, t.block, s)
  s.log.push(`README.md:${t.block.line} $ ${substituted}   [${handler.name}]`)
  await handler.run(handler.pattern.exec(substituted)!, t, s)
}

async function stopBackground(t: Terminal): Promise<void> {
  for (const b of t.background.splice(0)) {
    if (b.child.exitCode !== null)
      throw new Error(`\`${b.command}\` exited while the block still needed it:\n${b.output()}`)
    process.kill(-b.child.pid!, 'SIGINT') // Ctrl-C: the terminal signals the whole foreground group
    const code = await Promise.race([
      b.exited,
      new Promise<'timeout'>((r) =>
        setTimeout(() => {
          r('timeout')
        }, 60_000)
      )
    ])
    if (code === 'timeout') {
      process.kill(-b.child.pid!, 'SIGKILL')
      throw new Error(`\`${b.command}\` did not stop within 60 s of Ctrl-C:\n${b.output()}`)
    }
    expect(b.output(), 'Ctrl-C stops it gracefully').toContain(b.stoppedLine ?? 'SIGINT received, stopping')
  }
}

// ---- the test ---------------------------------------------------------------------------------------------

describe('README.md, read before anything runs', () => {
  it('every command of every block has a handler and every placeholder a substitution', () => {
    const zero = `0x${'0'.repeat(40)}` as Address
    const dry: Session = {
      devnet: {
        envFile: '/tmp/dry/devnet.env',
        info: {
          rpcUrl: 'http://127.0.0.1:1',
          chainId: 1,
          market: zero,
          token: zero,
          client: { privateKey: `0x${'1'.repeat(64)}` },
          providers: [{ httpUrl: 'http://127.0.0.1:2' }]
        }
      },
      work: '/tmp/dry',
      lastPut: { file: '/tmp/dry/photo.jpg', link: 'sherd://cid#key' },
      exampleRan: false,
      ports: { listen: 1, http: 2 },
      log: []
    }
    const problems: string[] = []
    const blocks = readmeBlocks(readFileSync(README, 'utf8'))
    for (const block of blocks) {
      if (block.marker?.kind === 'skip') continue
      if (block.lang === 'ts' || block.lang === 'typescript') continue
      if (!SHELL_LANGS.includes(block.lang)) {
        problems.push(
          `README.md:${block.line}: a \`${block.lang || 'plain'}\` block: mark it skip or give it a shell language`
        )
        continue
      }
      for (const command of commandsOfBlock(block)) {
        try {
          handlerOf(command, block, dry)
        } catch (err) {
          problems.push((err as Error).message)
        }
      }
    }
    expect(problems).toEqual([])
  })
})

describe('README.md', () => {
  const blocks = readmeBlocks(readFileSync(README, 'utf8'))
  let devnetProcess: ChildProcess | undefined
  let devnetExited: Promise<number | null> | undefined
  let devnetOut = ''
  let session: Session | undefined
  let work: string | undefined
  const leftovers: Terminal[] = []

  beforeAll(async () => {
    work = await tempDir('sherd-readme-')
    // The network the README's commands point at: what `npm start` leaves running, without the demo's story.
    devnetProcess = spawn(
      process.execPath,
      [join(root, 'packages', 'devnet', 'bin', 'sherd-devnet.js'), '--providers', String(DEVNET_PROVIDERS)],
      {
        cwd: root,
        env: userEnv(),
        stdio: ['ignore', 'pipe', 'pipe']
      }
    )
    devnetProcess.stdout!.on('data', (d: Buffer) => {
      devnetOut += d.toString()
    })
    devnetProcess.stderr!.on('data', (d: Buffer) => {
      devnetOut += d.toString()
    })
    devnetExited = new Promise((r) => {
      devnetProcess!.once('exit', (code) => {
        r(code)
      })
    })
    await new Promise<void>((resolveReady, reject) => {
      const timer = setInterval(() => {
        if (devnetOut.includes('Ctrl-C stops every process')) {
          clearInterval(timer)
          resolveReady()
        }
        if (devnetProcess!.exitCode !== null) {
          clearInterval(timer)
          reject(new Error(`sherd-devnet exited:\n${devnetOut}`))
        }
      }, 200)
    })
    const envFile = /source (\S+devnet\.env)/.exec(devnetOut)?.[1]
    if (envFile === undefined) throw new Error(`sherd-devnet printed no devnet.env:\n${devnetOut}`)
    const info = JSON.parse(await readFile(join(dirname(envFile), 'devnet.json'), 'utf8')) as DevnetFiles['info']
    const [listen, httpPort] = await freePorts(2)
    session = {
      devnet: { envFile, info },
      work,
      exampleRan: false,
      ports: { listen: listen!, http: httpPort! },
      log: []
    }
  }, 300_000)

  afterAll(async () => {
    for (const t of leftovers) {
      for (const b of t.background) if (b.child.exitCode === null) process.kill(-b.child.pid!, 'SIGKILL')
    }
    if (devnetProcess !== undefined && devnetProcess.exitCode === null) {
      devnetProcess.kill('SIGINT')
      const code = await Promise.race([
        devnetExited,
        new Promise<'timeout'>((r) =>
          setTimeout(() => {
            r('timeout')
          }, 60_000)
        )
      ])
      if (code === 'timeout') devnetProcess.kill('SIGKILL')
    }
    if (work !== undefined) await removeDir(work)
  }, 120_000)

  it('has the blocks a newcomer is told to run', () => {
    expect(blocks.length).toBeGreaterThan(5)
    expect(blocks.some((b) => b.lang === 'ts')).toBe(true)
  })

  for (const block of blocks) {
    const title = `README.md:${block.line} ${block.heading}${block.marker === undefined ? '' : ` (${block.marker.kind}: ${block.marker.reason})`}`
    if (block.marker?.kind === 'skip') {
      // Not run, by README.md's own word: the marker must say why, so nothing is left out silently.
      it(title, () => {
        expect(block.marker!.reason.trim(), `README.md:${block.line}: a skip marker needs its reason`).not.toBe('')
      })
      continue
    }
    it(title, async () => {
      const s = session!
      // The README's puts (CLI and SDK example) record journal entries: in the test's directory, not the user's.
      const t: Terminal = {
        block,
        cwd: root,
        env: { ...userEnv(), XDG_DATA_HOME: join(s.work, 'data') },
        background: []
      }
      leftovers.push(t)
      try {
        if (block.lang === 'ts' || block.lang === 'typescript') {
          if (!/from '@sherd\/client'/.test(block.body))
            throw new Error(
              `README.md:${block.line}: a TypeScript block that is not the SDK example: teach test/readme.test.ts to run it, or mark it skip`
            )
          s.example = { body: block.body, line: block.line }
          return
        }
        if (!SHELL_LANGS.includes(block.lang)) {
          throw new Error(
            `README.md:${block.line}: a \`${block.lang || 'plain'}\` block test/readme.test.ts does not know how to run: mark it <!-- readme-test: skip: <reason> --> or give it a language`
          )
        }
        for (const command of commandsOfBlock(block)) await runCommand(command, t, s)
        await stopBackground(t)
      } catch (err) {
        throw new Error(`${(err as Error).message}\n\ncommands so far:\n${s.log.join('\n')}`, { cause: err })
      }
    }, 600_000)
  }

  it('ran the TypeScript example (a block says how: node example.ts)', () => {
    expect(session?.example, 'README.md has the SDK example').toBeDefined()
    expect(session?.exampleRan, 'a block ran the SDK example').toBe(true)
  })
})
