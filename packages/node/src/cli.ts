// The `sherd-node` CLI: one file per command in cli/ (each with its own flags and help); this file lists them and runs one.
import { commandRows, isParseError, parseCommand } from './cli/command.js'
import type { CliCommand, CliOptions } from './cli/command.js'
import { exitCommand } from './cli/exit.js'
import { initCommand } from './cli/init.js'
import { stakeCommand } from './cli/stake.js'
import { startCommand } from './cli/start.js'
import { statusCommand } from './cli/status.js'
import { withdrawCommand } from './cli/withdraw.js'

export { parseSize } from './cli/flags.js'

/** In the order of the main help. */
export const COMMANDS: ReadonlyArray<CliCommand<CliOptions, undefined>> = [
  initCommand,
  startCommand,
  statusCommand,
  withdrawCommand,
  stakeCommand,
  exitCommand
]

export const MAIN_HELP = `sherd-node: a Sherd storage provider

Usage: sherd-node <command> [flags]

Commands:
${commandRows(COMMANDS, 9)}

Run \`sherd-node <command> --help\` for its flags. The data dir defaults to $SHERD_NODE_DIR or ~/.sherd-node.`

/** Runs `sherd-node` with `argv`; the exit code, or -1 for `start` (the process stays up until a signal). */
export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv
  if (name === undefined || name === '-h' || name === '--help' || name === 'help') {
    console.log(MAIN_HELP)
    return name === undefined ? 2 : 0
  }
  const command = COMMANDS.find((c) => c.name === name)
  if (command === undefined) {
    process.stderr.write(`sherd-node: unknown command "${name}"\n\n${MAIN_HELP}\n`)
    return 2
  }
  try {
    const { values, positionals } = parseCommand(command, rest)
    if (positionals.length > 0)
      throw Object.assign(
        new TypeError(`Unexpected argument '${positionals[0]}'. This command does not take positional arguments`),
        { code: 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL' }
      )
    if (values.help === true) {
      console.log(command.help)
      return 0
    }
    return await command.run({ values, positionals, args: rest }, undefined)
  } catch (err) {
    const e = err as Error
    if (isParseError(err)) {
      process.stderr.write(`sherd-node: ${e.message}\nRun \`sherd-node ${name} --help\`.\n`)
      return 2
    }
    process.stderr.write(`sherd-node: ${e.name}: ${e.message}\n`)
    return 1
  }
}

/** Entry point of bin/sherd-node.js. `start` keeps the process alive; other commands exit with their code. */
export async function run(): Promise<void> {
  const code = await main(process.argv.slice(2))
  if (code >= 0) process.exitCode = code
}
