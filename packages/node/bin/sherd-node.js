#!/usr/bin/env node
// The Node-version check and --version run first (packages/protocol/bin/launch.js); the CLI loads after them.
import { launch } from '@sherd/protocol/launch'

await launch('sherd-node', new URL('../package.json', import.meta.url), async () => await import('../dist/cli.js'))
