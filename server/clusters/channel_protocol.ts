/**
 * The Kubernetes channel framing carried in WebSocket messages for exec, attach and port-forward: the first
 * byte of every binary message names a channel, the rest is that channel's data.
 *
 * Exec (`*.channel.k8s.io`): stdin 0, stdout 1, stderr 2, error/status 3, resize 4. From v4 on, the error
 * channel carries a JSON `metav1.Status` (which holds the exit code); before that, plain error text. v5 adds
 * a close signal (255, channel) so a client can end stdin without ending the connection.
 *
 * Port-forward (the kubelet's WebSocket protocol, `v4.channel.k8s.io`): per forwarded port a data channel
 * (2i) and an error channel (2i+1); the server begins each with the port as two little-endian bytes.
 */
import type { KubeStatus } from "../../shared/errors.ts";

export const STREAM_PROTOCOL_V5 = "v5.channel.k8s.io";
export const STREAM_PROTOCOL_V4 = "v4.channel.k8s.io";
export const STREAM_PROTOCOL_V3 = "v3.channel.k8s.io";
export const STREAM_PROTOCOL_V2 = "v2.channel.k8s.io";
export const STREAM_PROTOCOL_V1 = "channel.k8s.io";

/**
 * Offered for exec, newest first. An apiserver that knows v5 answers it itself (translating to the
 * kubelet's SPDY); an older one passes the upgrade to the kubelet, which picks the newest it knows.
 */
export const EXEC_PROTOCOLS: readonly string[] = [
  STREAM_PROTOCOL_V5,
  STREAM_PROTOCOL_V4,
  STREAM_PROTOCOL_V3,
  STREAM_PROTOCOL_V2,
  STREAM_PROTOCOL_V1,
];

/**
 * Offered for port-forward: the kubelet's WebSocket port-forward speaks `v4.channel.k8s.io` (binary), which
 * the apiserver proxies through. (`portforward.k8s.io` names the SPDY protocol, and
 * `SPDY/3.1+portforward.k8s.io` SPDY tunnelled inside WebSocket; neither is plain channel framing.)
 */
export const PORT_FORWARD_PROTOCOLS: readonly string[] = [STREAM_PROTOCOL_V4];

export const enum ExecChannel {
  Stdin = 0,
  Stdout = 1,
  Stderr = 2,
  Error = 3,
  Resize = 4,
}

/** v5: a message `[255, channel]` closes that channel (half-close of stdin). */
export const CLOSE_CHANNEL_SIGNAL = 255;

/** The most data put in one channel message: the chunk size every streamed payload of the API uses. */
export const CHANNEL_CHUNK_BYTES = 32 * 1024;

const channelBytes = Array.from({ length: 256 }, (_, channel) => Uint8Array.of(channel));

/** The parts of one channel message, for WebSocketClient.send (which joins them while masking). */
export function channelMessage(channel: number, data: Uint8Array): Uint8Array[] {
  return [channelBytes[channel], data];
}

/** `data` as channel messages of at most CHANNEL_CHUNK_BYTES each (none for empty data). */
export function channelMessages(channel: number, data: Uint8Array): Uint8Array[][] {
  const messages: Uint8Array[][] = [];
  for (let offset = 0; offset < data.length; offset += CHANNEL_CHUNK_BYTES) {
    messages.push(channelMessage(channel, data.subarray(offset, offset + CHANNEL_CHUNK_BYTES)));
  }
  return messages;
}

/** v5 only: ends the client's side of `channel`. */
export function closeChannelMessage(channel: number): Uint8Array {
  return Uint8Array.of(CLOSE_CHANNEL_SIGNAL, channel);
}

export function supportsCloseChannel(protocol: string): boolean {
  return protocol === STREAM_PROTOCOL_V5;
}

/** v1 and v2 have no resize channel. */
export function supportsResize(protocol: string): boolean {
  return protocol === STREAM_PROTOCOL_V5 || protocol === STREAM_PROTOCOL_V4 ||
    protocol === STREAM_PROTOCOL_V3;
}

/** A received message split into its channel and data; undefined for an empty message. */
export function splitChannelMessage(message: Uint8Array): { channel: number; data: Uint8Array } | undefined {
  if (message.length === 0) return undefined;
  return { channel: message[0], data: message.subarray(1) };
}

/** The resize channel's message: a JSON TerminalSize. */
export function resizeMessage(cols: number, rows: number): Uint8Array {
  return new TextEncoder().encode(JSON.stringify({ Width: cols, Height: rows }));
}

/** How an exec ended, as the error channel told it. */
export interface ExecOutcome {
  /** The command ran and exited; `code` is its exit code. */
  exited: boolean;
  code: number;
  /** Empty for exit 0; "NonZeroExitCode" for another exit code; else the Status reason of the failure. */
  reason: string;
  message: string;
}

export const NON_ZERO_EXIT_CODE = "NonZeroExitCode";

export const EXEC_SUCCESS: ExecOutcome = Object.freeze({ exited: true, code: 0, reason: "", message: "" });

/**
 * Reads the error channel's content once the exec has ended. v4 and v5 send a Status: Success, or Failure
 * with reason NonZeroExitCode and an ExitCode cause (the kubelet), or another failure. Some runtimes (kwok
 * among them) report a non-zero exit as an InternalError whose message ends "exit status N"; that is an
 * exit too. v1–v3 send plain text, empty on success; v4 and v5 always send a Status, so an empty channel
 * there means the exec did not report how it ended.
 */
export function parseExecOutcome(protocol: string, content: Uint8Array): ExecOutcome {
  const text = new TextDecoder().decode(content).trim();
  const sendsStatus = protocol === STREAM_PROTOCOL_V5 || protocol === STREAM_PROTOCOL_V4;
  if (text === "") {
    // From v4 on a finished exec always reports a Status; none means the connection was cut short.
    return sendsStatus
      ? { exited: false, code: 0, reason: "Unknown", message: "the exec ended without reporting its status" }
      : EXEC_SUCCESS;
  }
  if (!sendsStatus) return outcomeFromText("", text);
  let status: KubeStatus & { details?: { causes?: { type?: string; reason?: string; message?: string }[] } };
  try {
    status = JSON.parse(text);
  } catch {
    return outcomeFromText("", text);
  }
  if (status.status === "Success") return EXEC_SUCCESS;
  const message = status.message ?? "";
  if (status.reason === NON_ZERO_EXIT_CODE) {
    const cause = status.details?.causes?.find((c) => (c.type ?? c.reason) === "ExitCode");
    const code = Number(cause?.message);
    if (Number.isInteger(code)) return { exited: true, code, reason: NON_ZERO_EXIT_CODE, message };
  }
  return outcomeFromText(status.reason ?? "InternalError", message);
}

function outcomeFromText(reason: string, message: string): ExecOutcome {
  const exit = /exit (?:status|code) (\d+)\s*$/.exec(message);
  if (exit) {
    const code = Number(exit[1]);
    if (code === 0) return EXEC_SUCCESS;
    return { exited: true, code, reason: NON_ZERO_EXIT_CODE, message };
  }
  return { exited: false, code: 0, reason: reason || "InternalError", message };
}

/**
 * Drops the two port bytes the server sends first on a port-forward channel (they may arrive split across
 * messages), and checks they name the port asked for.
 */
export class PortPrefix {
  readonly #expected: number;
  #seen: number[] = [];

  constructor(port: number) {
    this.#expected = port;
  }

  /** `data` without any part of the prefix; throws when the prefix names another port. */
  strip(data: Uint8Array): Uint8Array {
    while (this.#seen.length < 2 && data.length > 0) {
      this.#seen.push(data[0]);
      data = data.subarray(1);
      if (this.#seen.length === 2) {
        const port = this.#seen[0] | (this.#seen[1] << 8);
        if (port !== this.#expected) {
          throw new Error(`the port-forward channel names port ${port}, not ${this.#expected}`);
        }
      }
    }
    return data;
  }
}
