#!/usr/bin/env -S MALLOC_MMAP_THRESHOLD_=1048576 node --max-semi-space-size=2 --max-old-space-size=512
// A young generation capped at 3 × 2 MiB: streaming a large file allocates many short-lived chunks whose bytes live
// outside the heap (pieces, cipher outputs, noise frames), and V8 frees a young buffer's bytes only when it scavenges,
// which it does when the young generation is full. 8 MiB semi-spaces measured 232 MiB peak RSS for a 256 MiB put and
// 207 MiB for its get, 2 MiB 212 and 196 (docs/data-path.md, "Memory"); V8's default lets the young generation grow
// by ~100 MiB of RSS during a get. The old generation's cap (512 MiB; a get's heap holds ~35 MiB) makes V8 collect
// the wire's dead buffers sooner: a 128 MiB get peaked at 209 MiB RSS with it against 236-243 without.
// MALLOC_MMAP_THRESHOLD_ (glibc; other C libraries ignore it) fixes at 1 MiB the size from which malloc maps a block of
// its own, which glibc otherwise raises to the largest block freed so far (up to 32 MiB): a put's stripe buffers
// (6 MiB at 4 + 2, 11.25 at 10 + 20) were then carved from the brk heap, whose freed holes it keeps, and at a put's
// peak that heap held 101 MiB of RSS with 41 MiB of buffers alive. Fixed, a freed stripe is unmapped at once: a 4 GiB
// 10 + 20 put peaked at 231-240 MiB against 242-263, its get at 207-223 against 222-226, 4 + 2's put at 221 against
// 233 and its get at 225 against 231, CPU per byte unchanged (docs/data-path.md, "Garbage collection on the data path").
// The Node-version check and --version run first (packages/protocol/bin/launch.js); the CLI loads after them.
// V8 keeps its own buffer accounting here unless SHERD_V8_BUFFER_ACCOUNTING=1: counting buffers toward the heap
// limit makes a get ~1.7× faster but holds more dead buffers, and put and get are held to 256 MiB of RSS
// (docs/client.md, "Running in Node").
import { launch } from '@sherd/protocol/launch'

await launch('sherd', new URL('../package.json', import.meta.url), async () => await import('../dist/cli.js'), {
  accountBuffers: false
})
