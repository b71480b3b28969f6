#!/usr/bin/env node
// The Node-version check and --version run first (packages/protocol/bin/launch.js); the CLI loads after them.
import { launch } from '@sherd/protocol/launch'

await launch('sherd-market', new URL('../package.json', import.meta.url), async () => {
  const cli = await import('../dist/market-cli.js')
  return {
    run: async () => {
      process.exitCode = await cli.run(process.argv.slice(2))
    }
  }
})
