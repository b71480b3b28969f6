import { parseArgs } from 'node:util'

/*
 * The command shape both CLIs use, kept once per CLI and byte for byte the same in both: `sherd`'s is
 * packages/client/src/cli/command.ts, `sherd-node`'s packages/node/src/cli/command.ts (test/cli-command-copies.test.ts
 * fails when they differ; change both together). The only packages both CLIs depend on (@sherd/protocol, proofs,
 * contracts) also run in browsers and have no business parsing command lines. A command is one file: its name, the
 * row it gets in the main help, its own flags with their types, its --help text and `run`. `main` parses a command's
 * arguments with that command's flags only (strict: another command's flag is a usage error), so `--help` and what
 * is accepted cannot drift apart; test/cli-commands.test.ts (in each package) checks every flag is in its help and
 * every flag in its help is accepted.
 */

export interface CliOption {
  type: 'string' | 'boolean'
  short?: string
  multiple?: boolean
}

export type CliOptions = Record<string, CliOption>

/** The values parseArgs gives for these options (strings, booleans, lists where `multiple`). */
export type CliValues<O extends CliOptions> = ReturnType<
  typeof parseArgs<{ options: O; allowPositionals: true; strict: true }>
>['values']

export interface CliCommand<O extends CliOptions, Ctx> {
  name: string
  /** The left column of its row in the main help (`put <file|->`); the name when absent. */
  synopsis?: string
  /** Its row in the main help; more lines continue under the first. */
  summary: string
  /** What `<cli> <name> --help` prints. */
  help: string
  /** Its own flags, with their types; defaults are the command's and are written in `help`. */
  options: O
  /** Takes its arguments unparsed (a command with subcommands or one that hands them to another program). */
  passThrough?: boolean
  run: (input: { values: CliValues<O>; positionals: string[]; args: string[] }, ctx: Ctx) => Promise<number>
}

/** A command with its option types kept (so `run` sees typed values) and erased for the command list. */
export function defineCommand<const O extends CliOptions, Ctx>(
  command: CliCommand<O, Ctx>
): CliCommand<CliOptions, Ctx> {
  return command as unknown as CliCommand<CliOptions, Ctx>
}

export function parseCommand<Ctx>(
  command: CliCommand<CliOptions, Ctx>,
  args: string[]
): { values: CliValues<CliOptions>; positionals: string[] } {
  return parseArgs({ args, options: command.options, allowPositionals: true, strict: true })
}

/** The "Commands:" rows of the main help, in list order. */
export function commandRows<Ctx>(commands: ReadonlyArray<CliCommand<CliOptions, Ctx>>, width: number): string {
  return commands
    .map((c) => {
      const [first, ...more] = c.summary.split('\n')
      return [
        `  ${(c.synopsis ?? c.name).padEnd(width)}  ${first}`,
        ...more.map((line) => `${' '.repeat(width + 4)}${line}`)
      ].join('\n')
    })
    .join('\n')
}

/** parseArgs' own errors: a flag this command does not take, a missing value, a stray argument. */
export function isParseError(err: unknown): boolean {
  const code = (err as { code?: string }).code
  return (
    code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' ||
    code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' ||
    code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL'
  )
}
