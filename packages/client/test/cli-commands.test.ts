import { describe, expect, it } from 'vitest'
import { COMMANDS, MAIN_HELP, main } from '../src/cli.js'

/** Every `--flag` a help text documents (at a line's start or in its Usage line). */
function documentedFlags(help: string): Set<string> {
  const flags = new Set<string>()
  for (const line of help.split('\n')) {
    const lead = /^\s*(?:-\w,\s*)?(--[a-z][a-z0-9-]*|-[a-z](?= ))/.exec(line)
    if (lead !== null) flags.add(lead[1]!)
    if (line.startsWith('Usage:') || line.startsWith('       sherd'))
      for (const m of line.matchAll(/\[?(--[a-z][a-z0-9-]*)/g)) flags.add(m[1]!)
    // "--wait ...; --no-wait: ..." documents both.
    for (const m of line.matchAll(/; (--[a-z][a-z0-9-]*):/g)) flags.add(m[1]!)
  }
  return flags
}

describe('sherd commands: one file each, with their own flags and help', () => {
  const parsed = COMMANDS.filter((c) => c.passThrough !== true)

  it.each(parsed.map((c) => [c.name, c] as const))(
    '%s: every flag it takes is in its --help, and its --help documents no flag it refuses',
    (_name, command) => {
      const taken = new Set(Object.keys(command.options).map((o) => (o.length === 1 ? `-${o}` : `--${o}`)))
      const documented = documentedFlags(command.help)
      for (const flag of taken) expect(documented, `${command.name} takes ${flag}`).toContain(flag)
      for (const flag of documented) expect(taken, `${command.name}'s help names ${flag}`).toContain(flag)
    }
  )

  it('the main help has one row per command', () => {
    for (const c of COMMANDS)
      expect(MAIN_HELP.split('\n').some((line) => line.startsWith(`  ${c.synopsis ?? c.name} `))).toBe(true)
  })

  it("another command's flag is a usage error (exit 2) that prints this command's help", async () => {
    const out: string[] = []
    const err: string[] = []
    const io = {
      stdout: {
        write: (t: string) => {
          out.push(t)
          return true
        }
      },
      stderr: {
        write: (t: string) => {
          err.push(t)
          return true
        }
      },
      env: {}
    } as never
    expect(await main(['ls', '--range', '0-1'], io)).toBe(2)
    expect(err.join('')).toContain("Unknown option '--range'")
    expect(err.join('')).toContain('Usage: sherd ls')
    expect(out.join('')).toBe('')
  })
})
