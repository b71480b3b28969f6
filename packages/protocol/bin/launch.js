// How every Sherd bin starts (sherd, sherd-node, sherd-devnet, sherd-market). Plain JavaScript that any Node
// parses: the version check has to run before the first import of code that needs Node 22 (libp2p calls
// Promise.withResolvers), and static imports would run first, so the CLI is imported only after it.
import { readFileSync } from 'node:fs'

/**
 * @param {string} name the bin's name, for `--version`
 * @param {URL} packageJson the bin's package.json (its version is printed)
 * @param {() => Promise<{ run: () => Promise<void> }>} loadCli imports the CLI
 * @param {{ accountBuffers?: boolean }} [options] whether V8 counts buffers toward its heap limit unless
 *   SHERD_V8_BUFFER_ACCOUNTING says otherwise (src/heap-node.ts; default true, the `sherd` client passes false)
 */
export async function launch(name, packageJson, loadCli, options = {}) {
  const major = Number(process.versions.node.split('.')[0])
  if (major < 22) {
    process.stderr.write(
      `Sherd needs Node.js >= 22 (this is v${process.versions.node}); run it with npx from the repository, or install Node 22+\n`
    )
    process.exit(1)
  }
  if (process.argv[2] === '--version' || process.argv[2] === '-V') {
    // Answered here, before the CLI and its dependencies load, so it costs only Node's start-up.
    const { version } = JSON.parse(readFileSync(packageJson, 'utf8'))
    process.stdout.write(`${name} ${version}\n`)
    process.exit(0)
  }
  // Before the CLI loads: the data path's buffers would otherwise start a full collection every 64 MB
  // (src/heap-node.ts). Loaded here, after the version check, like everything else that needs a current Node.
  const { accountBuffersInHeapLimit } = await import('../dist/heap-node.js')
  accountBuffersInHeapLimit({ byDefault: options.accountBuffers ?? true })
  const { run } = await loadCli()
  await run()
}
