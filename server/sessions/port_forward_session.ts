/**
 * One TCP connection to a port of a pod, reached over the kubelet's channel-framed WebSocket port-forward
 * (data channel 0, error channel 1 for the single port). The stream of data from the pod ends when the
 * connection ends at either side; a message on the error channel (the kubelet could not connect, or the
 * connection failed) ends it with that message as an error.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { scrubAddresses } from "../../shared/errors.ts";
import { CHANNEL_CHUNK_BYTES, PortPrefix } from "../clusters/channel_protocol.ts";
import { ChannelSession, type ChannelSessionInit } from "./channel_session.ts";

const DATA_CHANNEL = 0;
const ERROR_CHANNEL = 1;
/** Error text kept from the kubelet; it is one line. */
const MAX_ERROR_BYTES = 4 * 1024;

export interface PortForwardSessionInit extends ChannelSessionInit {
  port: number;
}

export class PortForwardSession extends ChannelSession {
  readonly kind = "portforward-session";
  readonly port: number;

  constructor(init: PortForwardSessionInit) {
    super(init);
    this.port = init.port;
  }

  /** Data from the pod in chunks of at most 32 KiB. Ends the session when done or abandoned. */
  async *output(): AsyncGenerator<Uint8Array> {
    const dataPrefix = new PortPrefix(this.port);
    const errorPrefix = new PortPrefix(this.port);
    let errorText = "";
    try {
      for (let message = await this.nextMessage(); message; message = await this.nextMessage()) {
        const data = this.#stripPrefix(
          message.channel === DATA_CHANNEL ? dataPrefix : errorPrefix,
          message.data,
        );
        if (message.channel === DATA_CHANNEL) {
          for (let offset = 0; offset < data.length; offset += CHANNEL_CHUNK_BYTES) {
            yield data.subarray(offset, offset + CHANNEL_CHUNK_BYTES);
          }
        } else if (message.channel === ERROR_CHANNEL && errorText.length < MAX_ERROR_BYTES) {
          errorText += new TextDecoder().decode(data.subarray(0, MAX_ERROR_BYTES - errorText.length));
        }
      }
      if (errorText.trim() !== "") {
        throw new ConnectError(scrubAddresses(`${this.action}: ${errorText.trim()}`), Code.Unavailable);
      }
    } finally {
      this.finish();
    }
  }

  /** Sends `data` to the pod's port. */
  write(data: Uint8Array): Promise<void> {
    return this.sendInput(DATA_CHANNEL, data);
  }

  #stripPrefix(prefix: PortPrefix, data: Uint8Array): Uint8Array {
    try {
      return prefix.strip(data);
    } catch (error) {
      throw new ConnectError(`${this.action}: ${(error as Error).message}`, Code.Internal);
    }
  }
}
