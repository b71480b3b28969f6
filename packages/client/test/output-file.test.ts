import { readdir, readFile, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { removeDir, tempDir } from '@sherd/test-support'
import {
  checkOutput,
  OutputExistsError,
  OutputIncompleteError,
  OutputPathError,
  writeFileAtomically
} from '../src/output-file.js'

let dir: string
beforeEach(async () => {
  dir = await tempDir('sherd-output-')
})
afterEach(async () => {
  await removeDir(dir)
})

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text)

describe('writeFileAtomically', () => {
  it('writes a new file and leaves no temporary file', async () => {
    const target = await checkOutput(join(dir, 'out.txt'), false)
    const written = await writeFileAtomically(
      target,
      false,
      async (write) => {
        await write(bytes('hello '))
        await write(bytes('world'))
      },
      () => 11
    )
    expect(written).toBe(11)
    expect(await readFile(join(dir, 'out.txt'), 'utf8')).toBe('hello world')
    expect(await readdir(dir)).toEqual(['out.txt'])
  })

  it('refuses an existing file without force, before anything is written', async () => {
    await writeFile(join(dir, 'out.txt'), 'old')
    await expect(checkOutput(join(dir, 'out.txt'), false)).rejects.toBeInstanceOf(OutputExistsError)
    await expect(checkOutput(dir, true)).rejects.toBeInstanceOf(OutputPathError)
    await expect(checkOutput(join(dir, 'no', 'such', 'dir.txt'), false)).rejects.toBeInstanceOf(OutputPathError)
  })

  it('does not replace a file that appeared while downloading unless forced', async () => {
    const target = await checkOutput(join(dir, 'out.txt'), false)
    await expect(
      writeFileAtomically(target, false, async (write) => {
        await write(bytes('new'))
        await writeFile(join(dir, 'out.txt'), 'someone else')
      })
    ).rejects.toBeInstanceOf(OutputExistsError)
    expect(await readFile(join(dir, 'out.txt'), 'utf8')).toBe('someone else')
    expect(await readdir(dir)).toEqual(['out.txt'])
  })

  it('a failed or short download leaves the old file as it was and removes the temporary file', async () => {
    await writeFile(join(dir, 'out.txt'), 'old', { mode: 0o640 })
    const target = await checkOutput(join(dir, 'out.txt'), true)
    const failure = new Error('provider went away')
    await expect(
      writeFileAtomically(target, true, async (write) => {
        await write(bytes('partial'))
        throw failure
      })
    ).rejects.toBe(failure)
    await expect(
      writeFileAtomically(
        target,
        true,
        async (write) => {
          await write(bytes('short'))
        },
        () => 10
      )
    ).rejects.toBeInstanceOf(OutputIncompleteError)
    expect(await readFile(join(dir, 'out.txt'), 'utf8')).toBe('old')
    expect(await readdir(dir)).toEqual(['out.txt'])
    await writeFileAtomically(
      target,
      true,
      async (write) => {
        await write(bytes('replaced'))
      },
      () => 8
    )
    expect(await readFile(join(dir, 'out.txt'), 'utf8')).toBe('replaced')
    // The replaced file keeps its permissions.
    expect((await stat(join(dir, 'out.txt'))).mode & 0o777).toBe(0o640)
  })
})
