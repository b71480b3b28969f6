#!/usr/bin/env -S node --max-semi-space-size=8 --max-old-space-size=512
// A young generation capped at 3 × 8 MiB: streaming a large file allocates many short-lived chunks, and V8's
// default lets the young generation grow by ~100 MiB of RSS during a get (docs/client.md, Memory). The old
// generation's cap (512 MiB; a get's heap holds ~35 MiB) makes V8 collect the wire's dead buffers sooner: a 128 MiB
// get peaked at 209 MiB RSS with it against 236-243 without (docs/data-path.md, "The networked get").
// The Node-version check and --version run first (packages/protocol/bin/launch.js); the CLI loads after them.
import { launch } from '@sherd/protocol/launch'

await launch('sherd', new URL('../package.json', import.meta.url), async () => await import('../dist/cli.js'))
