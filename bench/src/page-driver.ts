/**
 * A page in Chromium driven over the DevTools protocol with nothing but `Runtime` (and `Profiler` when asked), for
 * timing the page. Not playwright-core: it always enables the `Network` domain on every page, and Chromium then
 * reports every WebSocket frame with its payload (base64) to the driver. Measured on this devnet (64 MiB get, same
 * page, load 3–4): 11–13 MB/s under playwright against 18–23 MB/s here, with Chromium's browser process at 1.6 CPU-s
 * and the driving Node process at 0.6–0.9 CPU-s per get relaying frames, against 0.16 and 0.05 here. A page an app
 * ships has no driver attached, so the bench measures it without one; test/browser.test.ts keeps playwright-core.
 */
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Readable, Writable } from 'node:stream'

/** The parts of a `Profiler.Profile` the bench reads. */
export interface CpuProfile {
  nodes: Array<{
    id: number
    callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number }
    children?: number[]
  }>
  startTime: number
  endTime: number
  samples: number[]
  timeDeltas: number[]
}

export interface DrivenPage {
  /** Evaluates `expression` in the page, awaiting a promise, and returns its value (JSON-serialisable). */
  evaluate: <T>(expression: string) => Promise<T>
  /** Runs `expression` with the page's CPU profiler on (sampling every `intervalUs`). */
  profile: <T>(expression: string, intervalUs?: number) => Promise<{ value: T; profile: CpuProfile }>
  close: () => Promise<void>
}

interface Reply {
  id?: number
  result?: Record<string, unknown>
  error?: { message: string }
}

/** Launches `executable` headless with `--remote-debugging-pipe` and opens `url` in a fresh tab. */
export async function openPage(executable: string, url: string): Promise<DrivenPage> {
  const profileDir = await mkdtemp(join(tmpdir(), 'sherd-bench-chromium-'))
  const proc: ChildProcess = spawn(
    executable,
    ['--headless', '--no-sandbox', '--remote-debugging-pipe', `--user-data-dir=${profileDir}`, 'about:blank'],
    { stdio: ['ignore', 'ignore', 'ignore', 'pipe', 'pipe'] }
  )
  const toChromium = proc.stdio[3] as Writable
  const fromChromium = proc.stdio[4] as Readable
  const waiting = new Map<number, { resolve: (r: Record<string, unknown>) => void; reject: (e: Error) => void }>()
  let nextId = 1
  let buffered = ''
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()))
  proc.once('exit', (code) => {
    for (const w of waiting.values()) w.reject(new Error(`Chromium exited (${code ?? 'signal'})`))
    waiting.clear()
  })
  fromChromium.setEncoding('utf8')
  fromChromium.on('data', (text: string) => {
    buffered += text
    // The pipe protocol ends every message with a NUL.
    for (let end = buffered.indexOf('\0'); end >= 0; end = buffered.indexOf('\0')) {
      const message = JSON.parse(buffered.slice(0, end)) as Reply
      buffered = buffered.slice(end + 1)
      if (message.id === undefined) continue
      const w = waiting.get(message.id)
      waiting.delete(message.id)
      if (message.error !== undefined) w?.reject(new Error(message.error.message))
      else w?.resolve(message.result ?? {})
    }
  })
  const send = async (method: string, params: object = {}, sessionId?: string): Promise<Record<string, unknown>> =>
    await new Promise((resolve, reject) => {
      const id = nextId++
      waiting.set(id, { resolve, reject })
      toChromium.write(`${JSON.stringify({ id, method, params, ...(sessionId === undefined ? {} : { sessionId }) })}\0`)
    })
  const close = async (): Promise<void> => {
    proc.kill()
    await exited
    await rm(profileDir, { recursive: true, force: true })
  }
  try {
    const { targetId } = (await send('Target.createTarget', { url: 'about:blank' })) as { targetId: string }
    const { sessionId } = (await send('Target.attachToTarget', { targetId, flatten: true })) as { sessionId: string }
    const evaluate = async <T>(expression: string): Promise<T> => {
      const r = (await send(
        'Runtime.evaluate',
        { expression, awaitPromise: true, returnByValue: true },
        sessionId
      )) as { result: { value: T }; exceptionDetails?: { exception?: { description?: string }; text: string } }
      if (r.exceptionDetails !== undefined)
        throw new Error(`in the page: ${r.exceptionDetails.exception?.description ?? r.exceptionDetails.text}`)
      return r.result.value
    }
    await send('Page.navigate', { url }, sessionId)
    return {
      evaluate,
      profile: async <T>(expression: string, intervalUs = 500) => {
        await send('Profiler.enable', {}, sessionId)
        await send('Profiler.setSamplingInterval', { interval: intervalUs }, sessionId)
        await send('Profiler.start', {}, sessionId)
        const value = await evaluate<T>(expression)
        const { profile } = (await send('Profiler.stop', {}, sessionId)) as { profile: CpuProfile }
        await send('Profiler.disable', {}, sessionId)
        return { value, profile }
      },
      close
    }
  } catch (err) {
    await close()
    throw err
  }
}
