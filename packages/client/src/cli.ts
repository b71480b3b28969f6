// The `sherd` CLI: one file per command in cli/ (each with its own flags and help); this file lists them and runs one.
import { auditCommand } from './cli/audit.js'
import { commandRows, isParseError, parseCommand } from './cli/command.js'
import type { CliCommand, CliOptions } from './cli/command.js'
import { UsageError, cliVersion, describeError } from './cli/common.js'
import type { CliIo, CommandContext } from './cli/common.js'
import { ENV_HELP, clientConfig } from './cli/config.js'
import { deleteCommand } from './cli/delete.js'
import { devnetCommand } from './cli/devnet.js'
import { extendCommand } from './cli/extend.js'
import { getCommand } from './cli/get.js'
import { keeperCli } from './cli/keeper.js'
import { lsCommand } from './cli/ls.js'
import { providersCommand } from './cli/providers.js'
import { putCommand } from './cli/put.js'
import { repairCommand } from './cli/repair.js'
import { statCommand } from './cli/stat.js'
import { walletCommand } from './cli/wallet.js'

export { cliVersion, describeError, withChainOnly } from './cli/common.js'
export type { CliIo, TokenUnits } from './cli/common.js'
export { parseByteRange } from './cli/get.js'
export { resolveDevnetBinary } from './cli/devnet.js'

/** In the order of the main help. */
export const COMMANDS: ReadonlyArray<CliCommand<CliOptions, CommandContext>> = [
  putCommand,
  lsCommand,
  getCommand,
  statCommand,
  repairCommand,
  extendCommand,
  deleteCommand,
  auditCommand,
  keeperCli,
  providersCommand,
  walletCommand,
  devnetCommand
]

export const MAIN_HELP = `sherd: store files on the Sherd network

Usage: sherd <command> [flags]
       sherd --version

Commands:
${commandRows(COMMANDS, 23)}

Run \`sherd <command> --help\` for a command's flags.

${ENV_HELP}`

/**
 * Runs the `sherd` CLI with `argv` (without node and script). Returns the exit code: 0 done, 1 failed (a typed
 * error on stderr saying what to do), 2 usage error, 130 interrupted.
 */
export async function main(
  argv: string[],
  io: CliIo = { stdout: process.stdout, stderr: process.stderr, env: process.env },
  signal: AbortSignal = new AbortController().signal
): Promise<number> {
  const [name, ...rest] = argv
  if (name === '--version' || name === '-V') {
    io.stdout.write(`sherd ${cliVersion()}\n`)
    return 0
  }
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    io.stdout.write(MAIN_HELP + '\n')
    return name === undefined ? 2 : 0
  }
  const command = COMMANDS.find((c) => c.name === name)
  if (command === undefined) {
    io.stderr.write(`error: unknown command "${name}"\n\n${MAIN_HELP}\n`)
    return 2
  }
  if (command.passThrough === true)
    return await command.run({ values: {}, positionals: [], args: rest }, { io, signal, config: {} })
  let parsed: ReturnType<typeof parseCommand>
  try {
    parsed = parseCommand(command, rest)
  } catch (err) {
    if (!isParseError(err)) throw err
    io.stderr.write(`error: ${(err as Error).message}\n\n${command.help}\n`)
    return 2
  }
  const { values, positionals } = parsed
  if (values.help === true) {
    io.stdout.write(command.help + '\n')
    return 0
  }
  if (values.version === true) {
    io.stdout.write(`sherd ${cliVersion()}\n`)
    return 0
  }
  try {
    const config = await clientConfig(values, io.env)
    return await command.run({ values, positionals, args: rest }, { io, signal, config })
  } catch (err) {
    if (signal.aborted) {
      io.stderr.write('aborted\n')
      return 130
    }
    if (err instanceof UsageError) {
      io.stderr.write(`error: ${err.message}\n\n${command.help}\n`)
      return 2
    }
    io.stderr.write(describeError(err, io.env))
    return 1
  }
}

/** Entry point of the `sherd` binary. */
export async function run(): Promise<void> {
  const controller = new AbortController()
  const isDevnet = process.argv[2] === 'devnet'
  const onSignal = (): void => {
    controller.abort(new Error('interrupted'))
  }
  if (!isDevnet) {
    process.once('SIGINT', onSignal)
    process.once('SIGTERM', onSignal)
  }
  const code = await main(
    process.argv.slice(2),
    { stdout: process.stdout, stderr: process.stderr, env: process.env },
    controller.signal
  )
  // libp2p and viem may leave timers behind: exit once everything written has reached the OS (a piped stdout
  // is asynchronous, and exiting early would cut off the end of a `get`).
  await new Promise<void>((resolve) => {
    process.stdout.write('', () => {
      resolve()
    })
  })
  await new Promise<void>((resolve) => {
    process.stderr.write('', () => {
      resolve()
    })
  })
  process.exit(code)
}
