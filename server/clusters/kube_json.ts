/**
 * Reading apiserver answers: whole JSON bodies with a size limit, error bodies turned into ConnectErrors
 * through the one error table, and newline-delimited JSON (watch streams) line by line.
 */
import { Buffer } from "node:buffer";
import type { IncomingResponse } from "../../shared/http1/client.ts";
import type { JsonValue } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { httpStatusError, isKubeStatus, kubeStatusError } from "../../shared/errors.ts";
import { plainBytes } from "../../shared/bytes.ts";

/** Error answers are short Status objects; anything longer is cut (the message is all we keep). */
export const ERROR_BODY_LIMIT = 256 * 1024;

const decoder = new TextDecoder();

/** The whole body, failing with resource_exhausted once it passes `limit` bytes. */
export async function readBody(response: IncomingResponse, limit: number, what: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of response as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) {
      response.destroy();
      throw tooLarge(what, limit);
    }
    chunks.push(chunk);
  }
  assertComplete(response, what);
  return chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size);
}

/**
 * Hands each chunk of the body to `onChunk` as it arrives, and resolves at the end of the body. Uses the
 * stream's events rather than its async iterator: a List body comes in thousands of small chunks, and the
 * iterator costs a promise and several stream calls for each. If `onChunk` throws, the response is
 * destroyed and the promise rejects with that error; a body that stops before its end rejects too.
 */
export function readChunks(response: IncomingResponse, onChunk: (chunk: Uint8Array) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const settle = (error?: unknown) => {
      if (settled) return;
      settled = true;
      response.off("data", onData).off("end", onEnd).off("error", settle).off("close", onClose);
      if (error === undefined) resolve();
      else reject(error);
    };
    const onData = (chunk: Uint8Array) => {
      try {
        onChunk(chunk);
      } catch (error) {
        settle(error);
        response.destroy();
      }
    };
    const onEnd = () => settle();
    // After "end" this is a no-op; before it, the body was cut off (or the request aborted).
    const onClose = () => settle(new Error("the connection closed before the end of the answer"));
    response.on("data", onData).on("end", onEnd).on("error", settle).on("close", onClose);
  });
}

/**
 * Pulls a body chunk by chunk, for bodies read over a long time (watch streams): `next()` resolves with
 * the next chunk, or undefined at the end, and rejects if the body fails or stops before its end. The
 * stream is paused while a chunk waits to be taken, so a slow consumer holds the sender back. Lighter
 * than the stream's async iterator, which costs several promises and stream calls per chunk; with a
 * thousand watches, each event is one chunk per watch.
 */
export class ChunkReader {
  readonly #response: IncomingResponse;
  readonly #queue: Uint8Array[] = [];
  #ended = false;
  #failure: unknown;
  #waiter: { resolve: (chunk: Uint8Array | undefined) => void; reject: (error: unknown) => void } | undefined;

  constructor(response: IncomingResponse) {
    this.#response = response;
    response.on("data", (chunk: Uint8Array) => {
      const waiter = this.#waiter;
      if (waiter) {
        this.#waiter = undefined;
        waiter.resolve(chunk);
        return;
      }
      this.#queue.push(chunk);
      response.pause();
    });
    response.on("end", () => {
      this.#ended = true;
      this.#wake();
    });
    response.on("error", (error) => {
      this.#failure ??= error;
      this.#wake();
    });
    // After "end" this changes nothing; before it, the body was cut off (or the request aborted).
    response.on("close", () => {
      if (!this.#ended) this.#failure ??= new Error("the connection closed before the end of the answer");
      this.#wake();
    });
  }

  next(): Promise<Uint8Array | undefined> {
    const chunk = this.#queue.shift();
    if (chunk) {
      if (this.#queue.length === 0) this.#response.resume();
      return Promise.resolve(chunk);
    }
    if (this.#failure !== undefined) return Promise.reject(this.#failure);
    if (this.#ended) return Promise.resolve(undefined);
    return new Promise((resolve, reject) => (this.#waiter = { resolve, reject }));
  }

  #wake(): void {
    const waiter = this.#waiter;
    if (!waiter) return;
    this.#waiter = undefined;
    if (this.#failure !== undefined) waiter.reject(this.#failure);
    else waiter.resolve(undefined);
  }
}

/** The body parsed as JSON; a body that is not JSON is an internal error naming `what`. */
export async function readJson(response: IncomingResponse, limit: number, what: string): Promise<JsonValue> {
  return parseJson(await readBody(response, limit, what), what);
}

export function parseJson(bytes: Uint8Array, what: string): JsonValue {
  try {
    return JSON.parse(decoder.decode(bytes));
  } catch (error) {
    throw new ConnectError(
      `${what}: the cluster sent invalid JSON: ${(error as Error).message}`,
      Code.Internal,
    );
  }
}

/**
 * The ConnectError for a non-2xx answer: its Status when the body is one, else the HTTP status with a
 * short excerpt of the body. Reads at most ERROR_BODY_LIMIT bytes of it.
 */
export async function errorFromResponse(response: IncomingResponse): Promise<ConnectError> {
  const status = response.statusCode ?? 500;
  let text = "";
  try {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of response as AsyncIterable<Buffer>) {
      chunks.push(chunk);
      size += chunk.length;
      if (size >= ERROR_BODY_LIMIT) {
        response.destroy();
        break;
      }
    }
    text = decoder.decode(Buffer.concat(chunks).subarray(0, ERROR_BODY_LIMIT));
  } catch {
    // A cut-off error body still has a status code to map.
  }
  try {
    const body = JSON.parse(text);
    if (isKubeStatus(body)) return kubeStatusError(body, status);
  } catch {
    // Not JSON: proxies and the apiserver's mux answer plain text ("404 page not found").
  }
  return httpStatusError(status, text);
}

/** A body that ended before its declared length arrived was cut off (tunnel or agent failure). */
export function assertComplete(response: IncomingResponse, what: string): void {
  if (!response.complete) {
    throw new ConnectError(`${what}: the answer was cut off before its end`, Code.Unavailable);
  }
}

export function tooLarge(what: string, limit: number): ConnectError {
  return new ConnectError(`${what}: the answer exceeds ${formatBytes(limit)}`, Code.ResourceExhausted);
}

export function formatBytes(bytes: number): string {
  return bytes % (1024 * 1024) === 0 ? `${bytes / (1024 * 1024)} MiB` : `${bytes} bytes`;
}

/**
 * Splits a byte stream into lines without copying more than the line being assembled: watch streams
 * send one JSON event per line, and an event may span many chunks.
 */
export class LineSplitter {
  #pending: Uint8Array[] = [];
  #pendingBytes = 0;
  readonly #maxLineBytes: number;

  constructor(maxLineBytes: number) {
    this.#maxLineBytes = maxLineBytes;
  }

  /** The complete lines `chunk` finishes (without their "\n"); empty lines are dropped. */
  push(data: Uint8Array): Uint8Array[] {
    const chunk = plainBytes(data);
    const lines: Uint8Array[] = [];
    let start = 0;
    for (let end = chunk.indexOf(0x0a); end !== -1; end = chunk.indexOf(0x0a, start)) {
      const line = this.#take(chunk.subarray(start, end));
      if (line.length > 0) lines.push(line);
      start = end + 1;
    }
    if (start < chunk.length) {
      const rest = chunk.subarray(start);
      this.#checkLength(rest.length);
      this.#pendingBytes += rest.length;
      this.#pending.push(rest);
    }
    return lines;
  }

  /** What is left after the last "\n" (a final line without one), or undefined. */
  finish(): Uint8Array | undefined {
    const rest = this.#take(new Uint8Array(0));
    return rest.length > 0 ? rest : undefined;
  }

  #take(tail: Uint8Array): Uint8Array {
    this.#checkLength(tail.length);
    if (this.#pending.length === 0) return trimCarriageReturn(tail);
    const line = Buffer.concat([...this.#pending, tail]);
    this.#pending = [];
    this.#pendingBytes = 0;
    return trimCarriageReturn(line);
  }

  #checkLength(more: number): void {
    if (this.#pendingBytes + more > this.#maxLineBytes) {
      throw new ConnectError(
        `a watch event exceeds ${formatBytes(this.#maxLineBytes)}`,
        Code.ResourceExhausted,
      );
    }
  }
}

function trimCarriageReturn(line: Uint8Array): Uint8Array {
  return line.length > 0 && line[line.length - 1] === 0x0d ? line.subarray(0, line.length - 1) : line;
}
