import { createLibp2p } from 'libp2p'
import type { Libp2p } from 'libp2p'
import { tcp } from '@libp2p/tcp'
import { webSockets } from '@libp2p/websockets'
import { noise } from '@chainsafe/libp2p-noise'
import { nodeNoiseCrypto } from '@sherd/protocol/noise-node'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import type { Identify } from '@libp2p/identify'
import { gossipsub } from '@libp2p/gossipsub'
import type { GossipSub } from '@libp2p/gossipsub'
import type { PrivateKey } from '@libp2p/interface'
import { YAMUX_INITIAL_STREAM_WINDOW_BYTES } from '@sherd/protocol'
import { bootstrapDialer } from './bootstrap.js'
import type { BootstrapDialer } from './bootstrap.js'
import {
  GOSSIP_SCORE_PARAMS,
  WS_BUFFERED_POLL_MS,
  MAX_EARLY_STREAMS,
  MAX_READ_BUFFER_BYTES,
  YAMUX_MAX_STREAM_WINDOW_BYTES
} from '../constants.js'

// A type alias, not an interface: libp2p's ServiceMap needs the implicit index signature.
export type HostServices = {
  identify: Identify
  pubsub: GossipSub
  /** Keeps the host connected to its bootstrap peers (idle when the list is empty). */
  bootstrap: BootstrapDialer
}

export type SherdHost = Libp2p<HostServices>

export interface HostInit {
  privateKey: PrivateKey
  listen: string[]
  /**
   * Addresses to tell peers instead of the listen addresses (libp2p's `addresses.announce`), e.g. the public
   * `/dns4/…/tcp/443/wss` of a reverse proxy that terminates TLS in front of a `/ws` listener.
   */
  announce?: string[]
  /** Test dialers and clients set false: they do not listen. */
  start?: boolean
  /** Peers to stay connected to, each `…/p2p/<peer id>` (a ConfigError names a bad one). */
  bootstrap?: readonly string[]
  /**
   * Largest yamux receive window per stream (default YAMUX_MAX_STREAM_WINDOW_BYTES); tests set a small one to bound what a
   * stalled reader has in flight. At least YAMUX_INITIAL_STREAM_WINDOW_BYTES, which every peer assumes a stream starts with.
   */
  maxStreamWindowBytes?: number
}

/**
 * A libp2p 3 host as providers and clients use it: TCP and WebSockets, noise, yamux with the limits bulk transfer needs raised
 * (a 2 MiB initial stream window on both ends, read buffer above the largest yamux window, many early streams for
 * k + m parallel uploads), identify,
 * gossipsub, and a dialer that keeps it connected to its bootstrap peers (which is how providers that never dial each
 * other end up in one gossipsub mesh). Clients can build the same host with no listen addresses.
 */
export async function createHost(init: HostInit): Promise<SherdHost> {
  return await createLibp2p({
    privateKey: init.privateKey,
    start: init.start ?? true,
    addresses: {
      listen: init.listen,
      ...(init.announce !== undefined && init.announce.length > 0 ? { announce: init.announce } : {})
    },
    // WebSockets listens only on `/ws` addresses (browsers can dial nothing else); the protocols above it are the same.
    transports: [tcp(), webSockets({ bufferedAmountPollInterval: WS_BUFFERED_POLL_MS })],
    // libp2p's connection monitor aborts a connection whose ping is late, and a ping waits behind every byte queued
    // on the connection: a long shard upload on a loaded machine (a streamed 64 MiB shard paced by the encoder)
    // lost its connection mid-stream that way. Transfers and requests have their own timeouts; pings only measure.
    connectionMonitor: { abortConnectionOnPingFailure: false },
    connectionEncrypters: [noise({ crypto: nodeNoiseCrypto })],
    streamMuxers: [
      yamux({
        maxEarlyStreams: MAX_EARLY_STREAMS,
        streamOptions: {
          initialStreamWindowSize: YAMUX_INITIAL_STREAM_WINDOW_BYTES,
          maxReadBufferLength: MAX_READ_BUFFER_BYTES,
          maxStreamWindowSize: init.maxStreamWindowBytes ?? YAMUX_MAX_STREAM_WINDOW_BYTES
        }
      })
    ],
    services: {
      identify: identify(),
      pubsub: gossipsub({
        // Providers are few and must hear each other at once on a small devnet.
        floodPublish: true,
        scoreParams: GOSSIP_SCORE_PARAMS
      }),
      bootstrap: bootstrapDialer({ list: init.bootstrap ?? [] })
    }
  })
}
