/**
 * Reads HTTP/1.1 responses from a byte stream, one after another on one connection: the head (status
 * and headers), then the body as its framing says (Content-Length, chunked, or until the connection
 * ends). Bytes go in with `push`; what they make comes out through the callbacks. Body bytes are handed
 * on as slices of the input, never copied or joined.
 *
 * Only what a client of the kube-apiserver meets is supported: interim 1xx answers are skipped (an
 * upgrade's 101 is the caller's to handle), chunk extensions and trailers are read and dropped.
 */
import { indexOfHeadEnd, parseHeadLines } from "./response_head.ts";

export interface ResponseHead {
  status: number;
  statusMessage: string;
  /** Names in lower case; a repeated header's values joined with ", " (set-cookie: kept apart). */
  headers: Record<string, string | string[]>;
  /** Raw name/value pairs in order, as node:http's rawHeaders. */
  rawHeaders: string[];
}

export interface ResponseEvents {
  head(head: ResponseHead): void;
  body(bytes: Uint8Array): void;
  /** The body is complete; `reusable` is false when the connection must not carry another request. */
  end(reusable: boolean): void;
}

/** A malformed response: the connection cannot be trusted any more. */
export class HttpParseError extends Error {
  override name = "HttpParseError";
}

const CR = 0x0d;
const LF = 0x0a;
/** A head above this is refused (the apiserver's are a few hundred bytes). */
export const MAX_HEAD_BYTES = 64 * 1024;
/** A chunk-size line above this is refused. */
const MAX_CHUNK_LINE_BYTES = 1024;

const enum State {
  Head,
  Fixed,
  ChunkSize,
  ChunkData,
  ChunkDataEnd,
  Trailers,
  UntilClose,
  Done,
}

const latin1 = new TextDecoder("latin1");

export class ResponseParser {
  readonly #events: ResponseEvents;
  #state = State.Head;
  /** Bytes of an unfinished head or line, kept across pushes. */
  #pending: Uint8Array | undefined;
  #remaining = 0;
  #reusable = true;
  /** The request had no body in its answer (HEAD), so the next head's body is empty whatever it says. */
  #bodiless = false;

  constructor(events: ResponseEvents) {
    this.#events = events;
  }

  /** The next response answers a HEAD request (no body, whatever the headers say). */
  expectBodiless(bodiless: boolean): void {
    this.#bodiless = bodiless;
  }

  /** True while a response has started but not ended. */
  get midResponse(): boolean {
    return this.#state !== State.Head || this.#pending !== undefined;
  }

  /** Feeds bytes from the connection. Throws HttpParseError on a malformed response. */
  push(bytes: Uint8Array): void {
    let at = 0;
    while (at < bytes.length) {
      switch (this.#state) {
        case State.Head:
          at = this.#readHead(bytes, at);
          break;
        case State.Fixed: {
          const take = Math.min(this.#remaining, bytes.length - at);
          this.#remaining -= take;
          this.#events.body(bytes.subarray(at, at + take));
          at += take;
          if (this.#remaining === 0) this.#finish();
          break;
        }
        case State.ChunkSize:
          at = this.#readLine(bytes, at, MAX_CHUNK_LINE_BYTES, (line) => this.#chunkSize(line));
          break;
        case State.ChunkData: {
          const take = Math.min(this.#remaining, bytes.length - at);
          this.#remaining -= take;
          this.#events.body(bytes.subarray(at, at + take));
          at += take;
          if (this.#remaining === 0) this.#state = State.ChunkDataEnd;
          break;
        }
        case State.ChunkDataEnd:
          at = this.#readLine(bytes, at, 2, (line) => {
            if (line.length !== 0) throw new HttpParseError("a chunk did not end with CRLF");
            this.#state = State.ChunkSize;
          });
          break;
        case State.Trailers:
          at = this.#readLine(bytes, at, MAX_HEAD_BYTES, (line) => {
            if (line.length === 0) this.#finish();
          });
          break;
        case State.UntilClose:
          this.#events.body(bytes.subarray(at));
          at = bytes.length;
          break;
        case State.Done:
          throw new HttpParseError("bytes after a response that ends the connection");
      }
    }
  }

  /**
   * The connection ended. A body that runs until the close is then complete; anything else cut short
   * throws HttpParseError.
   */
  close(): void {
    if (this.#state === State.UntilClose) {
      this.#reusable = false;
      this.#finish();
      return;
    }
    if (this.midResponse) throw new HttpParseError("the connection closed in the middle of a response");
  }

  #readHead(bytes: Uint8Array, at: number): number {
    let input = bytes.subarray(at);
    let searchFrom = 0;
    if (this.#pending) {
      // Go back 3 bytes so a CRLFCRLF split across pushes is found.
      searchFrom = Math.max(0, this.#pending.length - 3);
      input = join(this.#pending, input);
    }
    const blank = indexOfHeadEnd(input, searchFrom);
    const end = blank < 0 ? -1 : blank + 4;
    if (end < 0) {
      if (input.length > MAX_HEAD_BYTES) {
        throw new HttpParseError(`a response head above ${MAX_HEAD_BYTES} bytes`);
      }
      this.#pending = input.slice();
      return bytes.length;
    }
    const consumedFromBytes = end - (input.length - (bytes.length - at));
    this.#pending = undefined;
    this.#startBody(parseHead(latin1.decode(input.subarray(0, end - 4))));
    return at + consumedFromBytes;
  }

  #startBody(head: ResponseHead): void {
    if (head.status >= 100 && head.status < 200 && head.status !== 101) return; // interim: the real one follows
    this.#events.head(head);
    const connection = headerText(head.headers["connection"]).toLowerCase();
    this.#reusable = !connection.split(",").some((token) => token.trim() === "close");
    const bodiless = this.#bodiless || head.status === 204 || head.status === 304 || head.status === 101;
    this.#bodiless = false;
    if (head.status === 101) {
      this.#reusable = false;
      this.#finish();
      return;
    }
    const encoding = headerText(head.headers["transfer-encoding"]).toLowerCase();
    const length = head.headers["content-length"];
    if (bodiless) {
      this.#finish();
    } else if (encoding !== "") {
      if (encoding.split(",").at(-1)!.trim() !== "chunked") {
        this.#state = State.UntilClose;
        return;
      }
      this.#state = State.ChunkSize;
    } else if (length !== undefined) {
      const text = headerText(length);
      if (!/^\d+$/.test(text)) throw new HttpParseError(`an invalid Content-Length: ${text}`);
      this.#remaining = Number(text);
      if (this.#remaining === 0) this.#finish();
      else this.#state = State.Fixed;
    } else {
      this.#state = State.UntilClose;
    }
  }

  #chunkSize(line: Uint8Array): void {
    const text = latin1.decode(line);
    const size = text.split(";", 1)[0].trim();
    if (!/^[0-9a-fA-F]{1,12}$/.test(size)) throw new HttpParseError(`an invalid chunk size: ${text}`);
    this.#remaining = parseInt(size, 16);
    this.#state = this.#remaining === 0 ? State.Trailers : State.ChunkData;
  }

  /** Reads one CRLF-ended line (without the CRLF) into `use`; returns where reading stopped. */
  #readLine(bytes: Uint8Array, at: number, limit: number, use: (line: Uint8Array) => void): number {
    const newline = bytes.indexOf(LF, at);
    if (newline < 0) {
      this.#pending = this.#pending ? join(this.#pending, bytes.subarray(at)) : bytes.slice(at);
      if (this.#pending.length > limit + 2) throw new HttpParseError("a line in a chunked body is too long");
      return bytes.length;
    }
    let line = bytes.subarray(at, newline + 1);
    if (this.#pending) {
      line = join(this.#pending, line);
      this.#pending = undefined;
    }
    if (line.length < 2 || line[line.length - 2] !== CR) throw new HttpParseError("a line without CRLF");
    use(line.subarray(0, line.length - 2));
    return newline + 1;
  }

  #finish(): void {
    const reusable = this.#reusable && this.#state !== State.UntilClose;
    this.#state = reusable ? State.Head : State.Done;
    this.#events.end(reusable);
  }
}

function parseHead(text: string): ResponseHead {
  const lines = parseHeadLines(text);
  if (!lines) {
    throw new HttpParseError(
      `not an HTTP/1.1 status line: ${JSON.stringify(text.split("\r\n")[0].slice(0, 80))}`,
    );
  }
  if (lines.malformedLine !== undefined) {
    throw new HttpParseError(`a malformed header line: ${JSON.stringify(lines.malformedLine.slice(0, 80))}`);
  }
  const headers: Record<string, string | string[]> = {};
  const rawHeaders: string[] = [];
  for (const [name, value] of lines.fields) {
    rawHeaders.push(name, value);
    const key = name.toLowerCase();
    const existing = headers[key];
    if (key === "set-cookie") headers[key] = [...(existing ?? []), value];
    else headers[key] = existing === undefined ? value : `${existing}, ${value}`;
  }
  return { status: lines.status, statusMessage: lines.statusText, headers, rawHeaders };
}

function headerText(value: string | string[] | undefined): string {
  return Array.isArray(value) ? value.join(", ") : value ?? "";
}

function join(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}
