// Compiles native/sha256-level.c (SHA-256 Merkle levels with the CPU's SHA-NI instructions, Node-API) into
// native/build/sha256-level.node. Optional by design: where there is no C compiler, no Node headers or not an x86-64
// CPU, it says so and the trees run on the WASM kernel (src/default-hasher.ts), with the same roots.
import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, rmSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const out = join(root, 'native/build/sha256-level.node')
const skip = (why) => {
  console.warn(`@sherd/proofs: no native SHA-256 (${why}); Merkle trees use the WASM kernel, same roots`)
}

// A stale build of other source must not survive a failed compile.
rmSync(out, { force: true })
// Node-API is one ABI across Node versions: headers of this Node, the npm-configured ones or the system's all do.
const headers = [
  join(dirname(process.execPath), '../include/node'),
  process.env.npm_config_nodedir && join(process.env.npm_config_nodedir, 'include/node'),
  '/usr/include/node',
  '/usr/local/include/node'
].find((dir) => dir && existsSync(join(dir, 'node_api.h')))

if (process.arch !== 'x64') skip(`SHA-NI is x86-64 only and this is ${process.arch}`)
else if (process.env.SHERD_NATIVE === '0') skip('SHERD_NATIVE=0')
else if (headers === undefined) skip('node_api.h not found; install Node with its headers')
else {
  mkdirSync(dirname(out), { recursive: true })
  const cc = process.env.CC ?? 'cc'
  try {
    execFileSync(cc, ['-O3', '-shared', '-fPIC', '-I', headers, '-o', out, join(root, 'native/sha256-level.c')], {
      stdio: ['ignore', 'inherit', 'pipe']
    })
  } catch (err) {
    rmSync(out, { force: true })
    skip(
      `${cc} failed: ${String(err.stderr ?? err.message)
        .trim()
        .split('\n')
        .slice(0, 3)
        .join(' ')}`
    )
  }
}
