#!/usr/bin/env -S node --max-semi-space-size=8
// A young generation capped at 3 × 8 MiB: streaming a large file allocates many short-lived chunks, and V8's
// default lets the young generation grow by ~100 MiB of RSS during a get (docs/client.md, Memory).
import { run } from '../dist/cli.js'

await run()
