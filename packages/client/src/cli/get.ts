// `sherd get`: fetch, verify and decrypt a file to stdout or, atomically, to a file.
import { Readable, Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import type { GetProgressEvent } from '../events.js'
import { checkOutput, writeFileAtomically } from '../output-file.js'
import { InvalidRangeError } from '../pipeline/index.js'
import { defineCommand } from './command.js'
import { CliError, UsageError, checkedLink, expectArgs, json, mib, progressBar, withClient } from './common.js'
import type { CommandContext } from './common.js'
import { CONFIG_OPTIONS, ENV_HELP } from './config.js'

export const getCommand = defineCommand({
  name: 'get',
  synopsis: 'get <link> [-o file]',
  summary: 'fetch, verify and decrypt a file (to stdout without -o; --range START-END for part of it)',
  help: `Usage: sherd get <link> [-o <file>] [--force] [--range START-END]

  -o, --output <file>      write the file here (default: stdout; "-o -" is stdout too)
  -f, --force              replace <file> if it exists
      --range START-END    only bytes START to END of the file, both included, counted from 0 (as in HTTP:
                           0-1023 is the first KiB); START- reads to the end. Only the stripes holding them
                           are fetched.

Every 64 KiB chunk is authenticated by its AES-GCM tag before use; a provider that is down or lies costs a
request for the same bytes from other shards (parity) instead.
With -o the file is written to a temporary file beside it (.<name>.sherd-<random>.part), synced and renamed to
<file> only once every byte is verified: a failed or interrupted get leaves an existing <file> as it was. An
existing <file> is refused (before anything is fetched) unless --force.

${ENV_HELP}`,
  options: {
    ...CONFIG_OPTIONS,
    output: { type: 'string', short: 'o' },
    range: { type: 'string' },
    force: { type: 'boolean', short: 'f' }
  },
  async run({ values, positionals }, { io, signal, config }: CommandContext) {
    const out = (text: string): void => {
      io.stdout.write(text)
    }
    const asJson = values.json === true
    expectArgs(positionals, 1, 'one link: sherd get <link> [-o file] [--range START-END]')
    const link = checkedLink(positionals[0]!)
    const range = values.range === undefined ? undefined : parseByteRange(values.range)
    const output = values.output === '-' ? undefined : values.output
    // Refused here, before any network: an existing file is never touched without --force.
    const target = output === undefined ? undefined : await checkOutput(output, values.force === true)
    const bar = progressBar(
      io,
      !asJson && output !== undefined,
      'get [{bar}] {percentage}% | {decoded}/{total_mib} | {fetched} fetched'
    )
    let fileSize: number | undefined
    let wanted: number | undefined
    const onProgress = (e: GetProgressEvent): void => {
      if (e.type === 'get:manifest') {
        fileSize = e.fileSize
        wanted = range === undefined ? fileSize : (range.length ?? Math.max(0, fileSize - range.offset))
        bar?.start(Math.max(wanted, 1), 0, { decoded: mib(0), total_mib: mib(wanted), fetched: mib(0) })
      } else if (e.type === 'get:progress')
        bar?.update(e.decodedBytes, {
          decoded: mib(e.decodedBytes),
          total_mib: mib(e.totalBytes),
          fetched: mib(e.fetchedBytes)
        })
    }
    const options = {
      signal,
      onProgress,
      ...(range === undefined
        ? {}
        : { offset: range.offset, ...(range.length === undefined ? {} : { length: range.length }) })
    }
    await withClient(config, signal, async (client) => {
      try {
        if (target === undefined) {
          const source = Readable.from(client.get(link, options), { objectMode: false })
          await pipeline(source, wrapStdout(io.stdout), { signal })
          return
        }
        await writeFileAtomically(
          target,
          values.force === true,
          async (write) => {
            for await (const chunk of client.get(link, options)) await write(chunk)
          },
          () => wanted
        )
      } catch (err) {
        if (err instanceof InvalidRangeError && range !== undefined && fileSize !== undefined)
          throw new CliError(rangeOutsideFile(values.range!, fileSize), { cause: err })
        throw err
      }
    }).finally(() => bar?.stop())
    if (asJson && output !== undefined)
      out(json({ output, fileSize, ...(range === undefined ? {} : { offset: range.offset, length: wanted }) }) + '\n')
    return 0
  }
})

/**
 * `--range START-END` (both included, from 0, as HTTP's Range header counts) or `START-` (to the end of the file):
 * what a person copies from a byte offset. Checked here, before any network; whether it lies inside the file is
 * known only from the manifest.
 */
export function parseByteRange(text: string): { offset: number; length?: number } {
  const match = /^(\d+)-(\d*)$/.exec(text.trim())
  const bad = (why: string): UsageError =>
    new UsageError(
      `--range ${text}: ${why}; write START-END (bytes START to END, both included, from 0; e.g. 0-1023 for the first KiB) or START- (to the end)`
    )
  if (match === null) throw bad('not a byte range')
  const offset = Number(match[1])
  if (!Number.isSafeInteger(offset)) throw bad('START is too large')
  if (match[2] === '') return { offset }
  const last = Number(match[2])
  if (!Number.isSafeInteger(last)) throw bad('END is too large')
  if (last < offset) throw bad('END is before START')
  return { offset, length: last - offset + 1 }
}

function rangeOutsideFile(text: string, fileSize: number): string {
  return (
    `--range ${text} is not inside the file, which has ${fileSize} bytes` +
    (fileSize === 0
      ? ': it is empty, so only --range 0- (nothing) can be read'
      : ` (0-${fileSize - 1}): give a range that ends at ${fileSize - 1} or before, or START- to read to the end`)
  )
}

/** stdout as a pipeline sink that is never closed (closing process.stdout would break later writes). */
function wrapStdout(stdout: NodeJS.WritableStream): Writable {
  return new Writable({
    write(chunk: Buffer, _encoding, callback) {
      if (stdout.write(chunk)) callback()
      else
        stdout.once('drain', () => {
          callback()
        })
    }
  })
}
