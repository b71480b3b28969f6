// `sherd devnet`: runs @sherd/devnet's `sherd-devnet` binary, which the client does not import.
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { delimiter, dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { defineCommand } from './command.js'
import type { CliContext } from './common.js'

export const devnetCommand = defineCommand({
  name: 'devnet',
  synopsis: 'devnet [args]',
  summary: 'run a local network: spawns `sherd-devnet` (from @sherd/devnet) with these args',
  help: `Usage: sherd devnet [--providers N] [other sherd-devnet flags]

The local network lives in @sherd/devnet, which the client does not import: this command runs its
\`sherd-devnet\` binary (found on PATH or in node_modules/.bin) with the same arguments and passes its output
and exit code through. \`sherd devnet --help\` shows this text; \`sherd-devnet --help\` shows the devnet's own.`,
  // Every other flag is sherd-devnet's: they are handed to it as given.
  options: { help: { type: 'boolean', short: 'h' } },
  passThrough: true,
  async run({ args }, { io }: CliContext) {
    if (args.includes('--help') || args.includes('-h')) {
      io.stdout.write(devnetCommand.help + '\n')
      return 0
    }
    return await runDevnet(args, io)
  }
})

/** Finds `sherd-devnet` on PATH or in a node_modules/.bin above the working directory or this package. */
export function resolveDevnetBinary(env: NodeJS.ProcessEnv, cwd = process.cwd()): string | undefined {
  const dirs = splitPath(env.PATH)
  for (const start of [cwd, dirname(fileURLToPath(import.meta.url))]) {
    for (let dir = resolve(start); ; dir = dirname(dir)) {
      dirs.push(join(dir, 'node_modules', '.bin'))
      if (dirname(dir) === dir) break
    }
  }
  for (const dir of dirs) {
    const candidate = join(dir, 'sherd-devnet')
    if (existsSync(candidate)) return candidate
  }
  return undefined
}

function splitPath(path: string | undefined): string[] {
  return (path ?? '').split(delimiter).filter((d) => d.length > 0)
}

async function runDevnet(args: string[], io: CliContext['io']): Promise<number> {
  const binary = resolveDevnetBinary(io.env)
  if (binary === undefined) {
    io.stderr.write(
      'error: sherd-devnet was not found on PATH or in node_modules/.bin: install @sherd/devnet (npm install in the Sherd repository) and try again\n'
    )
    return 1
  }
  const child = spawn(binary, args, { stdio: 'inherit', env: io.env })
  const forward = (signal: NodeJS.Signals): void => {
    child.kill(signal)
  }
  process.on('SIGINT', forward)
  process.on('SIGTERM', forward)
  try {
    return await new Promise<number>((resolveExit, reject) => {
      child.once('error', reject)
      child.once('exit', (code, signal) => {
        resolveExit(code ?? (signal === null ? 1 : 128 + 2))
      })
    })
  } finally {
    process.off('SIGINT', forward)
    process.off('SIGTERM', forward)
  }
}
