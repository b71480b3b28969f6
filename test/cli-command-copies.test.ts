// The `defineCommand` shape is kept once per CLI (docs/architecture.md, "The two CLIs"): no package both CLIs
// depend on may hold Node-only code, so the copies live in packages/client and packages/node and this test keeps
// them the same file. Edit both together.
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'

const copy = (pkg: string): string =>
  readFileSync(new URL(`../packages/${pkg}/src/cli/command.ts`, import.meta.url), 'utf8')

describe('the two CLIs share one command shape', () => {
  it('packages/client/src/cli/command.ts and packages/node/src/cli/command.ts are the same file', () => {
    const client = copy('client')
    const node = copy('node')
    // A line-by-line first difference says where the copies drifted, not just that they did.
    const a = client.split('\n')
    const b = node.split('\n')
    const at = a.findIndex((line, i) => line !== b[i])
    const line = at === -1 && a.length !== b.length ? Math.min(a.length, b.length) : at
    expect(line === -1 ? null : `line ${line + 1}: ${JSON.stringify(a[line])} vs ${JSON.stringify(b[line])}`).toBeNull()
  })
})
