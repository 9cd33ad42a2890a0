/**
 * What exec and port-forward sessions share: one WebSocket to the apiserver speaking channel framing,
 * owned by (user, cluster), with ordered and bounded input, activity tracking for the idle reaper, and one
 * way to end it.
 *
 * Output is pulled: the session reads the next WebSocket message only when the RPC stream asks for the next
 * one, so a caller that stops reading leaves data in the WebSocket's bounded queue and then in the tunnel
 * stream's window, which stops the sender; the hub never buffers without bound.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { toConnectError } from "../../shared/errors.ts";
import { channelMessages, splitChannelMessage } from "../clusters/channel_protocol.ts";
import type { ChannelTransport } from "../clusters/kube_upgrade.ts";
import { type Session, type SessionKind, sessionNotFound } from "./session_store.ts";

/** Input accepted but not yet handed to the tunnel, per session; more is refused until it drains. */
export const MAX_PENDING_INPUT_BYTES = 4 * 1024 * 1024;

export interface ChannelSessionInit {
  id: string;
  user: string;
  cluster: string;
  /** A WebSocket, or SPDY streams presented as channel messages. */
  ws: ChannelTransport;
  /** What the session does, for error messages (e.g. `exec in pod demo/app on cluster "alpha"`). */
  action: string;
  now?: () => number;
}

export abstract class ChannelSession implements Session {
  abstract readonly kind: SessionKind;
  readonly id: string;
  readonly user: string;
  readonly cluster: string;
  readonly action: string;
  lastActivityAt: number;

  protected readonly ws: ChannelTransport;
  readonly #now: () => number;
  #endError: ConnectError | undefined;
  #writes: Promise<void> = Promise.resolve();
  #pendingInput = 0;

  constructor(init: ChannelSessionInit) {
    this.id = init.id;
    this.user = init.user;
    this.cluster = init.cluster;
    this.action = init.action;
    this.ws = init.ws;
    this.#now = init.now ?? Date.now;
    this.lastActivityAt = this.#now();
  }

  /** The channel protocol the cluster chose. */
  get protocol(): string {
    return this.ws.protocol;
  }

  end(error: ConnectError): void {
    if (this.#endError) return;
    this.#endError = error;
    this.ws.destroy(error);
  }

  /** Closes the connection politely once the output loop is done (a no-op when it is closed already). */
  protected finish(): void {
    this.#endError ??= new ConnectError(`${this.action}: the session has ended`, Code.Canceled);
    void this.ws.close();
  }

  /** The next channel message, or null once the server closed cleanly. Failures come out as ConnectErrors. */
  protected async nextMessage(): Promise<{ channel: number; data: Uint8Array } | null> {
    for (;;) {
      let message: Uint8Array | null;
      try {
        message = await this.ws.read();
      } catch (error) {
        throw this.#endError ?? toConnectError(error, { action: `${this.action}: the connection was lost` });
      }
      if (this.#endError) throw this.#endError;
      if (message === null) return null;
      this.touch();
      const split = splitChannelMessage(message);
      if (split) return split;
    }
  }

  /**
   * Sends `data` on `channel` after every earlier input, in messages of at most 32 KiB; resolves once the
   * tunnel has taken it. A session that has ended answers not_found, as an unknown one would.
   */
  protected async sendInput(channel: number, data: Uint8Array): Promise<void> {
    if (this.#endError) throw sessionNotFound(this.kind, this.id);
    if (this.#pendingInput + data.length > MAX_PENDING_INPUT_BYTES) {
      throw new ConnectError(
        `${this.kind} ${JSON.stringify(this.id)} has ${this.#pendingInput} bytes of input still on their ` +
          `way; wait for earlier writes to finish`,
        Code.ResourceExhausted,
      );
    }
    this.touch();
    this.#pendingInput += data.length;
    const sent = this.#writes.then(async () => {
      for (const message of channelMessages(channel, data)) await this.ws.send(message);
    });
    this.#writes = sent.catch(() => {});
    try {
      await sent;
    } catch {
      throw sessionNotFound(this.kind, this.id);
    } finally {
      this.#pendingInput -= data.length;
    }
  }

  /** Sends one control message (e.g. a resize) in order with the input. */
  protected sendControl(parts: Uint8Array[]): Promise<void> {
    const sent = this.#writes.then(() => this.ws.send(parts));
    this.#writes = sent.catch(() => {});
    return sent;
  }

  protected touch(): void {
    this.lastActivityAt = this.#now();
  }
}
