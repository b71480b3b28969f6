import type { ChildProcess } from 'node:child_process'
import { rmSync } from 'node:fs'

const children = new Set<ChildProcess>()
const dirs = new Set<string>()
let hookInstalled = false

// A parent that exits without stopping its devnet (an uncaught error, process.exit in a test runner) would orphan
// its providers and leave their data behind: kill what is left and remove the dirs, synchronously, on the way out.
function installExitHook(): void {
  if (hookInstalled) return
  hookInstalled = true
  process.once('exit', () => {
    for (const child of children) child.kill('SIGKILL')
    for (const dir of dirs) {
      try {
        rmSync(dir, { recursive: true, force: true })
      } catch {}
    }
  })
}

export function trackChild(child: ChildProcess): void {
  installExitHook()
  children.add(child)
  // A spawn failure (ENOENT, EACCES) emits 'error' and no 'exit'; report it as an exit so waiters wake up.
  child.once('error', (err) => {
    if (child.pid === undefined) child.emit('exit', null, `spawn failed: ${err.message}`)
  })
}

export function untrackChild(child: ChildProcess): void {
  children.delete(child)
}

/** Removes `dir` when the process exits, unless `untrackDir` was called first. */
export function trackDir(dir: string): void {
  installExitHook()
  dirs.add(dir)
}

export function untrackDir(dir: string): void {
  dirs.delete(dir)
}
