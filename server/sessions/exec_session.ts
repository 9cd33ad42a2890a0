/**
 * One command running in a container, reached over a channel-framed WebSocket: its output as a stream of
 * stdout/stderr chunks ending with how it exited, input by write(), terminal size changes by resize().
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { concatBytes } from "../../shared/bytes.ts";
import {
  CHANNEL_CHUNK_BYTES,
  ExecChannel,
  type ExecOutcome,
  parseExecOutcome,
  resizeMessage,
  supportsResize,
} from "../clusters/channel_protocol.ts";
import { ChannelSession, type ChannelSessionInit } from "./channel_session.ts";
import { ResizeQueue, type TerminalSize } from "./resize_queue.ts";

/** The error channel carries one Status; anything longer is cut. */
const MAX_STATUS_BYTES = 64 * 1024;

export type ExecOutput =
  | { kind: "stdout"; data: Uint8Array }
  | { kind: "stderr"; data: Uint8Array }
  | { kind: "exit"; outcome: ExecOutcome };

export interface ExecSessionInit extends ChannelSessionInit {
  tty: boolean;
}

export class ExecSession extends ChannelSession {
  readonly kind = "exec-session";
  readonly tty: boolean;
  readonly #resizes = new ResizeQueue();
  #resizing = false;

  constructor(init: ExecSessionInit) {
    super(init);
    this.tty = init.tty;
  }

  /** Output chunks of at most 32 KiB, then one `exit`. Ends the session when done or abandoned. */
  async *output(): AsyncGenerator<ExecOutput> {
    const status: Uint8Array[] = [];
    let statusBytes = 0;
    try {
      for (let message = await this.nextMessage(); message; message = await this.nextMessage()) {
        const { channel, data } = message;
        if (channel === ExecChannel.Stdout || channel === ExecChannel.Stderr) {
          const kind = channel === ExecChannel.Stdout ? "stdout" : "stderr";
          for (let offset = 0; offset < data.length; offset += CHANNEL_CHUNK_BYTES) {
            yield { kind, data: data.subarray(offset, offset + CHANNEL_CHUNK_BYTES) };
          }
        } else if (channel === ExecChannel.Error && statusBytes < MAX_STATUS_BYTES) {
          status.push(data.slice(0, MAX_STATUS_BYTES - statusBytes));
          statusBytes += Math.min(data.length, MAX_STATUS_BYTES - statusBytes);
        }
      }
      yield { kind: "exit", outcome: parseExecOutcome(this.ws.protocol, concatBytes(status, statusBytes)) };
    } finally {
      this.finish();
    }
  }

  /** Sends `data` to the command's stdin. */
  write(data: Uint8Array): Promise<void> {
    return this.sendInput(ExecChannel.Stdin, data);
  }

  /**
   * Queues a terminal size change (at most a few wait; the oldest is dropped, since only the last size
   * matters). Only for sessions with a terminal on a protocol that has a resize channel.
   */
  resize(size: TerminalSize): void {
    if (!this.tty) {
      throw new ConnectError(
        `${this.kind} ${JSON.stringify(this.id)} has no terminal (tty=false)`,
        Code.FailedPrecondition,
      );
    }
    if (!supportsResize(this.ws.protocol)) {
      throw new ConnectError(
        `the cluster negotiated ${this.ws.protocol || "channel.k8s.io"}, which cannot resize terminals`,
        Code.Unimplemented,
      );
    }
    this.touch();
    this.#resizes.push(size);
    if (!this.#resizing) void this.#sendResizes();
  }

  async #sendResizes(): Promise<void> {
    this.#resizing = true;
    try {
      for (let size = this.#resizes.shift(); size; size = this.#resizes.shift()) {
        await this.sendControl([Uint8Array.of(ExecChannel.Resize), resizeMessage(size.cols, size.rows)]);
      }
    } catch {
      // The session has ended; its stream reports that.
    } finally {
      this.#resizing = false;
    }
  }
}
