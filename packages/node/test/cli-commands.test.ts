import { describe, expect, it } from 'vitest'
import { COMMANDS, MAIN_HELP } from '../src/cli.js'

/** Every `--flag` a help text documents (at a line's start or in its Usage line). */
function documentedFlags(help: string): Set<string> {
  const flags = new Set<string>()
  for (const line of help.split('\n')) {
    const lead = /^\s*(?:-\w,\s*)?(--[a-z][a-z0-9-]*)/.exec(line)
    if (lead !== null) flags.add(lead[1]!)
    if (line.startsWith('Usage:')) for (const m of line.matchAll(/(--[a-z][a-z0-9-]*)/g)) flags.add(m[1]!)
  }
  return flags
}

describe('sherd-node commands: one file each, with their own flags and help', () => {
  it.each(COMMANDS.map((c) => [c.name, c] as const))(
    '%s: every flag it takes is in its --help, and its --help documents no flag it refuses',
    (_name, command) => {
      // -h/--help: every command takes it, as the main help says.
      const taken = new Set(
        Object.keys(command.options)
          .filter((o) => o !== 'help')
          .map((o) => `--${o}`)
      )
      const documented = documentedFlags(command.help)
      documented.delete('--help')
      for (const flag of taken) expect(documented, `${command.name} takes ${flag}`).toContain(flag)
      for (const flag of documented) expect(taken, `${command.name}'s help names ${flag}`).toContain(flag)
    }
  )

  it('the main help has one row per command', () => {
    for (const c of COMMANDS) expect(MAIN_HELP.split('\n').some((line) => line.startsWith(`  ${c.name} `))).toBe(true)
  })
})
