#!/usr/bin/env -S node --max-semi-space-size=8
// A young generation capped at 3 × 8 MiB: streaming a large file allocates many short-lived chunks, and V8's
// default lets the young generation grow by ~100 MiB of RSS during a get (docs/client.md, Memory).
// Plain JavaScript that any Node parses: the version check has to run before the first import of code that needs
// Node 22 (libp2p calls Promise.withResolvers), and static imports would run first, so the CLI is imported late.
const major = Number(process.versions.node.split('.')[0])
if (major < 22) {
  process.stderr.write(`Sherd needs Node.js >= 22 (this is v${process.versions.node}); run it with npx from the repository, or install Node 22+\n`)
  process.exit(1)
}
if (process.argv[2] === '--version' || process.argv[2] === '-V') {
  // Answered here, before the CLI and its dependencies load, so it costs only Node's start-up.
  const { readFileSync } = await import('node:fs')
  const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'))
  process.stdout.write(`sherd ${version}\n`)
  process.exit(0)
}
const { run } = await import('../dist/cli.js')
await run()
