// Compiles the two Node-API addons in native/ into native/build/:
// - sha256-level.node: SHA-256 Merkle levels with the CPU's SHA-NI instructions (src/native-node.ts);
// - aead.node: ChaCha20-Poly1305 and AES-256-GCM into the caller's buffers, through the OpenSSL Node links and exports
//   (src/aead-node.ts).
// Optional by design: where one cannot be built (no C compiler, no Node headers, not an x86-64 CPU for SHA-NI) it says
// so in one line and the code it would speed up runs as before (the WASM kernel, node:crypto), with the same bytes.
import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, rmSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
// Node-API is one ABI across Node versions: headers of this Node, the npm-configured ones or the system's all do.
// Node's own include/node also carries the headers of the OpenSSL it bundles, which aead.c compiles against.
const headers = [
  join(dirname(process.execPath), '../include/node'),
  process.env.npm_config_nodedir && join(process.env.npm_config_nodedir, 'include/node'),
  '/usr/include/node',
  '/usr/local/include/node'
].find((dir) => dir && existsSync(join(dir, 'node_api.h')))

/** Builds native/<name>.c into native/build/<name>.node, or says in one line why not and what runs instead. */
function build(name, label, fallback, cannot) {
  const out = join(root, `native/build/${name}.node`)
  const skip = (why) => console.warn(`@sherd/proofs: no native ${label} (${why}); ${fallback}`)
  // A stale build of other source must not survive a failed compile.
  rmSync(out, { force: true })
  const why = cannot()
  if (why !== undefined) return skip(why)
  mkdirSync(dirname(out), { recursive: true })
  const cc = process.env.CC ?? 'cc'
  // -z now: every symbol the addon takes from the node binary (OpenSSL's) is bound when it loads, so a Node that
  // lacks one (an OpenSSL-less or BoringSSL build) makes require() throw, and the caller falls back, instead of the
  // dynamic linker killing the process at the first call. An undeclared function is an error, not a guess.
  const flags = ['-O3', '-shared', '-fPIC', '-Werror=implicit-function-declaration']
  if (process.platform === 'linux') flags.push('-Wl,-z,now')
  try {
    execFileSync(cc, [...flags, '-I', headers, '-o', out, join(root, `native/${name}.c`)], {
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

const common = () => {
  if (process.env.SHERD_NATIVE === '0') return 'SHERD_NATIVE=0'
  if (headers === undefined) return 'node_api.h not found; install Node with its headers'
  return undefined
}

build('sha256-level', 'SHA-256', 'Merkle trees use the WASM kernel, same roots', () =>
  process.arch !== 'x64' ? `SHA-NI is x86-64 only and this is ${process.arch}` : common()
)
build(
  'aead',
  'AEAD',
  'ciphers run through node:crypto, same bytes',
  () =>
    common() ??
    (existsSync(join(headers, 'openssl/evp.h')) ? undefined : `no openssl/evp.h beside ${headers}/node_api.h`)
)
