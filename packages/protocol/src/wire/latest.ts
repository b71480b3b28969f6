import { MAX_CONTROL_FRAME_BYTES } from './constants.js'
import { WireReader, encodeFrame, sendBytes, streamSource } from './framing.js'
import { expectResponse } from './messages.js'
import type { RequestStream } from './requests.js'
import { asMap, bytesField, exactFields, malformed } from './validate.js'
import { MalformedMessageError } from './errors.js'
import { decodeLatestRecord, latestRecordToWire } from '../latest.js'
import type { LatestRecord } from '../latest.js'

/**
 * Latest-version records (../latest.ts): the client sends `{ publicKey, record? }` and closes its side; the provider
 * keeps `record` if it verifies and is newer than the one it holds for that key, and answers
 * `{ status: 'latest', record? }` with the newest it holds (absent if none). One protocol publishes and resolves.
 */
export const LATEST_PROTOCOL = '/sherd/latest/1.0.0'

export interface LatestRequest {
  publicKey: Uint8Array
  /** A record to keep (publish); without it the request only asks. */
  record?: LatestRecord
}

/** The provider's side: decodes and verifies a request (a record must be signed by `publicKey`). */
export function decodeLatestRequest(value: unknown): LatestRequest {
  const m = exactFields(asMap(value, 'LatestRequest'), 'LatestRequest', ['publicKey'], ['record'])
  const publicKey = bytesField(m, 'publicKey', 'LatestRequest', { exact: 32 })
  if (m.record === undefined) return { publicKey }
  const record = decodeLatestRecord(m.record, 'LatestRequest.record')
  if (!equal(record.publicKey, publicKey))
    throw malformed('LatestRequest', 'record', 'is signed by another key than the one named')
  return { publicKey, record }
}

/** The provider's answer frame. */
export function latestAnswer(record: LatestRecord | undefined): Record<string, unknown> {
  return record === undefined ? { status: 'latest' } : { status: 'latest', record: latestRecordToWire(record) }
}

/**
 * Publishes (with `record`) or asks for the newest record of `publicKey`; returns the provider's newest, verified
 * and signed by that key, or undefined if it holds none. An error answer throws its `RemoteError`.
 */
export async function requestLatest(
  stream: RequestStream,
  request: LatestRequest,
  options: { signal?: AbortSignal } = {}
): Promise<LatestRecord | undefined> {
  const reader = new WireReader(streamSource(stream))
  const frame =
    request.record === undefined
      ? { publicKey: request.publicKey }
      : { publicKey: request.publicKey, record: latestRecordToWire(request.record) }
  await sendBytes(stream, encodeFrame(frame), options)
  await stream.close(options)
  const answer = asMap(await reader.readFrame(MAX_CONTROL_FRAME_BYTES), 'LatestAnswer')
  if (answer.status === 'error') expectResponse(answer, 'ok') // throws the provider's RemoteError
  const m = exactFields(answer, 'LatestAnswer', ['status'], ['record'])
  if (m.status !== 'latest')
    throw malformed('LatestAnswer', 'status', `is '${String(m.status)}' where a 'latest' answer belongs`)
  await reader.expectEnd('the latest answer')
  if (m.record === undefined) return undefined
  const record = decodeLatestRecord(m.record, 'LatestAnswer.record')
  if (!equal(record.publicKey, request.publicKey))
    throw new MalformedMessageError('the provider answered with the record of another key')
  return record
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i])
}
