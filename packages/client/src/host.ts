import { createLibp2p } from 'libp2p'
import type { Libp2p } from 'libp2p'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import type { Identify } from '@libp2p/identify'
import { gossipsub } from '@libp2p/gossipsub'
import type { GossipSub } from '@libp2p/gossipsub'
import type { PrivateKey } from '@libp2p/interface'
import { YAMUX_INITIAL_STREAM_WINDOW_BYTES } from '@sherd/protocol'
import { hostTransports, noiseInit } from '#platform'
import { GOSSIP_SCORE_PARAMS, MAX_EARLY_STREAMS, MAX_READ_BUFFER_BYTES, MAX_STREAM_WINDOW_BYTES } from './constants.js'

// A type alias, not an interface: libp2p's ServiceMap needs the implicit index signature.
export type ClientServices = {
  identify: Identify
  pubsub: GossipSub
}

export type ClientHost = Libp2p<ClientServices>

/**
 * The client's libp2p host: TCP in Node, WebSockets in a browser (`#platform`), noise, yamux with the provider's bulk-transfer limits (the
 * 2 MiB initial stream window both ends must share, YAMUX_INITIAL_STREAM_WINDOW_BYTES; a read buffer above the 16 MiB window, more early streams than k + m parallel uploads), identify, gossipsub for announcements. It
 * dials only; it does not listen.
 */
export async function createClientHost(init: { privateKey?: PrivateKey; listen?: string[] } = {}): Promise<ClientHost> {
  return await createLibp2p({
    ...(init.privateKey === undefined ? {} : { privateKey: init.privateKey }),
    start: false,
    addresses: { listen: init.listen ?? [] },
    ...hostTransports(),
    // libp2p's connection monitor aborts a connection whose ping is late, and a ping waits behind every byte queued
    // on the connection: a long shard upload on a loaded machine (a streamed 64 MiB shard paced by the encoder)
    // lost its connection mid-stream that way. Transfers and requests have their own timeouts; pings only measure.
    connectionMonitor: { abortConnectionOnPingFailure: false },
    connectionEncrypters: [noise(noiseInit())],
    streamMuxers: [
      yamux({
        maxEarlyStreams: MAX_EARLY_STREAMS,
        streamOptions: {
          initialStreamWindowSize: YAMUX_INITIAL_STREAM_WINDOW_BYTES,
          maxReadBufferLength: MAX_READ_BUFFER_BYTES,
          maxStreamWindowSize: MAX_STREAM_WINDOW_BYTES
        }
      })
    ],
    services: {
      identify: identify(),
      pubsub: gossipsub({ floodPublish: true, scoreParams: GOSSIP_SCORE_PARAMS })
    }
  })
}
