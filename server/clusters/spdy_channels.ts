/**
 * Kubernetes exec, attach and port-forward over SPDY/3.1, presented as the channel-framed messages the
 * sessions already read and write over WebSocket (channel_protocol.ts), so a session does not know which
 * transport it has.
 *
 * Over SPDY each channel is its own stream, named by a `streamtype` header:
 * - exec/attach: `error` (channel 3; from v4 on a JSON Status with the exit code), `stdin` (0), `stdout` (1),
 *   `stderr` (2, not with a terminal), `resize` (4, with a terminal, from v3 on);
 * - port-forward (`portforward.k8s.io`): per port an `error` and a `data` stream carrying `port` and a shared
 *   `requestid`; the client closes its side of `error` at once. They appear as the WebSocket port-forward's
 *   data channel 0 and error channel 1, each starting with the port as two little-endian bytes.
 *
 * The message stream ends (read() returns null) once the server has ended every stream it sends on, by FIN
 * or reset — the kubelet resets them after writing the exit status — or once it said GOAWAY and closed.
 */
import type { Duplex } from "node:stream";
import {
  CLOSE_CHANNEL_SIGNAL,
  ExecChannel,
  STREAM_PROTOCOL_V1,
  STREAM_PROTOCOL_V2,
  STREAM_PROTOCOL_V3,
  STREAM_PROTOCOL_V4,
  supportsResize,
} from "./channel_protocol.ts";
import type { ChannelTransport } from "./kube_upgrade.ts";
import { SpdyClosedError, SpdyConnection, type SpdyStream } from "./spdy_connection.ts";
import type { HeaderList } from "./spdy_frames.ts";
import { requestSpdyUpgrade, type SpdyUpgradeRequest } from "./spdy_upgrade.ts";

/** The SPDY port-forward protocol. */
export const PORT_FORWARD_SPDY_PROTOCOL = "portforward.k8s.io";

/** Exec over SPDY: v5 is WebSocket-only, so v4 is the newest offered. */
export const EXEC_SPDY_PROTOCOLS: readonly string[] = [
  STREAM_PROTOCOL_V4,
  STREAM_PROTOCOL_V3,
  STREAM_PROTOCOL_V2,
  STREAM_PROTOCOL_V1,
];

/** Port-forward channels, as the WebSocket port-forward numbers them for one port. */
const PORT_DATA_CHANNEL = 0;
const PORT_ERROR_CHANNEL = 1;

export interface SpdyChannelSpec {
  channel: number;
  headers: HeaderList;
  /** The server sends on it; read() ends once every such stream has ended. */
  receives: boolean;
  /** The client sends on it. */
  sends: boolean;
  /** The client ends its side as soon as the server has accepted the stream (port-forward's error stream). */
  closeWhenAccepted?: boolean;
}

export interface SpdyChannelPlan {
  /** Stream protocols offered in X-Stream-Protocol-Version, preferred first. */
  protocols: readonly string[];
  /** The streams to open once the server has chosen `protocol`, in the order they are opened. */
  streams(protocol: string): SpdyChannelSpec[];
  /** Messages read() yields before any data (the port prefixes of port-forward channels). */
  preamble: Uint8Array[];
}

/** How to carry the exec, attach or port-forward at `path` over SPDY; undefined for any other path. */
export function spdyPlanFor(path: string): SpdyChannelPlan | undefined {
  const url = new URL(path, "http://apiserver");
  if (/\/(exec|attach)$/.test(url.pathname)) return execPlan(url.searchParams);
  if (/\/portforward$/.test(url.pathname)) return portForwardPlan(url.searchParams);
  return undefined;
}

function execPlan(query: URLSearchParams): SpdyChannelPlan {
  // The apiserver reads these booleans with strconv.ParseBool; "true" and "1" are what clients send.
  const flag = (name: string) => ["true", "1"].includes(query.get(name) ?? "");
  const tty = flag("tty");
  const stream = (channel: number, type: string, receives: boolean): SpdyChannelSpec => ({
    channel,
    headers: [["streamtype", type]],
    receives,
    sends: !receives,
  });
  return {
    protocols: EXEC_SPDY_PROTOCOLS,
    preamble: [],
    streams(protocol) {
      const streams = [stream(ExecChannel.Error, "error", true)];
      if (flag("stdin")) streams.push(stream(ExecChannel.Stdin, "stdin", false));
      if (flag("stdout")) streams.push(stream(ExecChannel.Stdout, "stdout", true));
      // With a terminal, stderr is merged into stdout; the kubelet expects no stderr stream.
      if (flag("stderr") && !tty) streams.push(stream(ExecChannel.Stderr, "stderr", true));
      if (tty && supportsResize(protocol)) streams.push(stream(ExecChannel.Resize, "resize", false));
      return streams;
    },
  };
}

function portForwardPlan(query: URLSearchParams): SpdyChannelPlan {
  const ports = query.getAll("ports").flatMap((value) => value.split(","));
  const port = Number(ports[0]);
  if (ports.length !== 1 || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new TypeError(`a SPDY port-forward carries exactly one port, not ${JSON.stringify(ports)}`);
  }
  const headers = (type: string): HeaderList => [
    ["streamtype", type],
    ["port", String(port)],
    ["requestid", "0"],
  ];
  const prefix = (channel: number) => Uint8Array.of(channel, port & 0xff, port >> 8);
  return {
    protocols: [PORT_FORWARD_SPDY_PROTOCOL],
    preamble: [prefix(PORT_DATA_CHANNEL), prefix(PORT_ERROR_CHANNEL)],
    streams: () => [
      // The error stream first: the kubelet pairs the two by requestid. The client never writes on it.
      {
        channel: PORT_ERROR_CHANNEL,
        headers: headers("error"),
        receives: true,
        sends: false,
        closeWhenAccepted: true,
      },
      { channel: PORT_DATA_CHANNEL, headers: headers("data"), receives: true, sends: true },
    ],
  };
}

export interface OpenSpdyRequest extends Omit<SpdyUpgradeRequest, "protocols"> {
  /** Received bytes queued before the transport is paused (default 256 KiB). */
  highWaterBytes?: number;
}

/**
 * Upgrades `socket` to SPDY/3.1, opens the plan's streams and waits for the server to accept each; throws
 * UpgradeRefusedError when the server answers the upgrade with anything but 101.
 */
export async function openSpdyChannels(
  socket: Duplex,
  request: OpenSpdyRequest,
  plan: SpdyChannelPlan,
): Promise<SpdyChannels> {
  const upgraded = await requestSpdyUpgrade(socket, { ...request, protocols: plan.protocols });
  const connection = new SpdyConnection(socket, upgraded.rest);
  const channels = new SpdyChannels(connection, upgraded.protocol, plan, request.highWaterBytes);
  try {
    await withDeadline(channels.accepted(), request.signal, request.timeoutMs ?? 30_000);
  } catch (error) {
    connection.destroy();
    throw error;
  }
  return channels;
}

interface OpenChannel {
  spec: SpdyChannelSpec;
  stream: SpdyStream;
}

export class SpdyChannels implements ChannelTransport {
  /** The stream protocol the server chose (e.g. v4.channel.k8s.io, or portforward.k8s.io). */
  readonly protocol: string;

  readonly #connection: SpdyConnection;
  readonly #highWater: number;
  readonly #channels = new Map<number, OpenChannel>();
  #messages: { message: Uint8Array; stream?: SpdyStream }[] = [];
  #queuedBytes = 0;
  #paused = false;
  #receiving = 0;
  #end: { error?: Error } | undefined;
  #reader: { resolve: (message: Uint8Array | null) => void; reject: (error: Error) => void } | null = null;

  constructor(
    connection: SpdyConnection,
    protocol: string,
    plan: SpdyChannelPlan,
    highWaterBytes = 256 * 1024,
  ) {
    this.#connection = connection;
    this.protocol = protocol;
    this.#highWater = highWaterBytes;
    for (const message of plan.preamble) this.#messages.push({ message });
    for (const spec of plan.streams(protocol)) {
      if (spec.receives) this.#receiving++;
      // Like Kubernetes' own client, no stream is half-closed at opening: the kubelet's reading of some
      // (stdin, resize) would end with it.
      const stream = connection.openStream(spec.headers, {
        onData: (data) => this.#onData(spec.channel, stream, data),
        onRemoteEnd: (_status, error) => this.#onRemoteEnd(spec, error),
      });
      this.#channels.set(spec.channel, { spec, stream });
    }
    void connection.closed.then((end) => this.#settle(end.error));
  }

  /** Resolves once the server has replied to every stream; rejects when it reset one or the session failed. */
  async accepted(): Promise<void> {
    await Promise.all([...this.#channels.values()].map(async ({ spec, stream }) => {
      await stream.reply;
      if (spec.closeWhenAccepted) await this.#connection.finish(stream);
    }));
  }

  /** Bytes of received messages not read yet. */
  get bufferedBytes(): number {
    return this.#queuedBytes;
  }

  /**
   * The next channel message (channel byte, then data); null once the server has ended every stream it sends
   * on. Rejects when the session failed. One read at a time.
   */
  read(): Promise<Uint8Array | null> {
    if (this.#reader) return Promise.reject(new Error("SpdyChannels.read: a read is already pending"));
    const message = this.#shift();
    if (message) return Promise.resolve(message);
    if (this.#end) return this.#end.error ? Promise.reject(this.#end.error) : Promise.resolve(null);
    return new Promise((resolve, reject) => (this.#reader = { resolve, reject }));
  }

  /**
   * Sends one channel message: its first byte names the channel, the rest goes to that channel's stream.
   * `[255, channel]` (v5's close signal) ends the client's side of that channel's stream instead.
   */
  send(parts: Uint8Array | readonly Uint8Array[]): Promise<void> {
    const list: readonly Uint8Array[] = parts instanceof Uint8Array ? [parts] : parts;
    const firstIndex = list.findIndex((part) => part.length > 0);
    if (firstIndex < 0) {
      return Promise.reject(new TypeError("a channel message needs at least its channel byte"));
    }
    const channel = list[firstIndex][0];
    const data = [list[firstIndex].subarray(1), ...list.slice(firstIndex + 1)].filter((part) =>
      part.length > 0
    );
    if (channel === CLOSE_CHANNEL_SIGNAL) {
      const target = this.#channels.get(data[0]?.[0] ?? -1);
      return target ? this.#connection.finish(target.stream) : Promise.resolve();
    }
    const open = this.#channels.get(channel);
    if (!open || !open.spec.sends) {
      return Promise.reject(
        new SpdyClosedError(`the ${this.protocol || "SPDY"} session has no stream for channel ${channel}`),
      );
    }
    if (data.length === 0) return Promise.resolve();
    return this.#connection.writeData(open.stream, data);
  }

  /** Ends the session politely (GOAWAY) and resolves once the connection is closed. */
  async close(): Promise<void> {
    await this.#connection.close();
  }

  /** Drops the connection at once; pending and later reads fail with `error` (if given). */
  destroy(error?: Error): void {
    if (error) this.#settle(error);
    this.#connection.destroy(error);
  }

  #onData(channel: number, stream: SpdyStream, data: Uint8Array): void {
    const message = new Uint8Array(data.length + 1);
    message[0] = channel;
    message.set(data, 1);
    if (this.#reader && this.#messages.length === 0) {
      const reader = this.#reader;
      this.#reader = null;
      this.#connection.consumed(stream, data.length);
      reader.resolve(message);
      return;
    }
    this.#messages.push({ message, stream });
    this.#queuedBytes += message.length;
    if (!this.#paused && this.#queuedBytes >= this.#highWater) {
      this.#paused = true;
      this.#connection.pause();
    }
  }

  #onRemoteEnd(spec: SpdyChannelSpec, error?: Error): void {
    if (error) return this.#settle(error);
    // Streams the client only writes on end too (reset, or the session's end); they do not count.
    if (!spec.receives) return;
    this.#receiving--;
    if (this.#receiving === 0) this.#settle();
  }

  #shift(): Uint8Array | undefined {
    const next = this.#messages.shift();
    if (!next) return undefined;
    if (next.stream) {
      this.#queuedBytes -= next.message.length;
      this.#connection.consumed(next.stream, next.message.length - 1);
    }
    if (this.#paused && this.#queuedBytes < this.#highWater / 2) {
      this.#paused = false;
      this.#connection.resume();
    }
    return next.message;
  }

  /** Records how the message stream ended (first cause wins) and wakes a waiting reader. */
  #settle(error?: Error): void {
    if (this.#end) return;
    this.#end = { error };
    const reader = this.#reader;
    if (!reader) return;
    this.#reader = null;
    const message = this.#shift();
    if (message) reader.resolve(message);
    else if (error) reader.reject(error);
    else reader.resolve(null);
  }
}

function withDeadline<T>(
  promise: Promise<T>,
  signal: AbortSignal | undefined,
  timeoutMs: number,
): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () =>
        reject(
          new DOMException(
            `the server did not accept the SPDY streams within ${timeoutMs} ms`,
            "TimeoutError",
          ),
        ),
      timeoutMs,
    );
    const onAbort = () => reject(signal?.reason ?? new DOMException("aborted", "AbortError"));
    if (signal?.aborted) onAbort();
    signal?.addEventListener("abort", onAbort, { once: true });
    promise.then(resolve, reject).finally(() => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
    });
  });
}
