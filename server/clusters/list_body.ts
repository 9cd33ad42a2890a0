/**
 * Reads a Kubernetes List body as it streams in: each element of the top-level `items` array is handed on
 * (as its JSON text) as soon as its last byte arrives, so the hub never holds the whole body and the
 * converted items at the same time. Everything else (kind, apiVersion, metadata) is kept aside and parsed
 * at the end. `parseItem` turns an element's text into an object for callers that want one.
 *
 * A caller that can consume an element straight from the bytes (and tell where it ends) passes
 * `consumeItem`: each element that starts with `{` in the current batch is offered to it first, and only
 * an element it cannot finish (one running past the batch) is scanned and handed to `onItem`. Chunks are
 * gathered into batches of BATCH_BYTES so that this is rare.
 *
 * A small byte scanner finds element boundaries: it tracks nesting depth and whether it is inside a
 * string, which is all JSON needs for that. Structural characters are ASCII, and UTF-8 continuation bytes
 * are never ASCII, so scanning bytes (not characters) is exact.
 */
import { Buffer } from "node:buffer";
import type { JsonObject } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { plainBytes } from "../../shared/bytes.ts";
import { asObject } from "./objects.ts";

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const COMMA = 0x2c;
const COLON = 0x3a;
/** Top-level keys are short; longer strings at depth 1 are values and never compared. */
const MAX_KEY_BYTES = 32;
/** Chunks are scanned in batches of about this size (response chunks can be a few KiB each). */
export const BATCH_BYTES = 128 * 1024;

/**
 * Consumes the element starting at `start` (a `{`) in `bytes`; returns the index just after it, or -1
 * (having consumed nothing) when the element does not end within `bytes` or is not valid.
 */
export type ConsumeItem = (bytes: Uint8Array, start: number, index: number) => number;

const decoder = new TextDecoder();

export class ListBodyScanner {
  readonly #onItem: (json: Uint8Array, index: number) => void;
  readonly #consumeItem: ConsumeItem | undefined;
  #batch: Uint8Array[] = [];
  #batchBytes = 0;
  #depth = 0;
  /** Just after the `[` of items or a `,` between elements: the next non-blank byte starts one. */
  #atElement = false;
  #inString = false;
  #escaped = false;
  #inItems = false;
  /** Bytes of the current top-level string, while it may still be a key. */
  #stringBytes: number[] | undefined;
  #lastString = "";
  #currentKey = "";
  #envelope: Uint8Array[] = [];
  #itemParts: Uint8Array[] = [];
  #itemCount = 0;

  /**
   * `onItem` gets each element of `items` in order, as its JSON text (maybe with surrounding
   * whitespace), and the element's index. The bytes may be a view of a chunk: use them before returning.
   */
  constructor(onItem: (json: Uint8Array, index: number) => void, consumeItem?: ConsumeItem) {
    this.#onItem = onItem;
    this.#consumeItem = consumeItem;
  }

  get itemCount(): number {
    return this.#itemCount;
  }

  push(data: Uint8Array): void {
    this.#batch.push(data);
    this.#batchBytes += data.length;
    if (this.#batchBytes >= BATCH_BYTES) this.#flush();
  }

  #flush(): void {
    if (this.#batchBytes === 0) return;
    const joined = this.#batch.length === 1 ? this.#batch[0] : Buffer.concat(this.#batch, this.#batchBytes);
    this.#batch = [];
    this.#batchBytes = 0;
    this.#scan(plainBytes(joined));
  }

  #scan(chunk: Uint8Array): void {
    // Where the current envelope or item region started in this chunk.
    let regionStart = 0;
    // Next quote and backslash in this chunk, found natively: most bytes of a list are inside strings.
    let nextQuote = -2;
    let nextBackslash = -2;
    for (let i = 0; i < chunk.length; i++) {
      if (this.#atElement) {
        if (isBlankByte(chunk[i])) continue;
        this.#atElement = false;
        const end = chunk[i] === OPEN_BRACE && this.#consumeItem
          ? this.#consumeItem(chunk, i, this.#itemCount)
          : -1;
        if (end !== -1) {
          // Consumed whole: what is left of its region is the blank before it.
          this.#itemCount++;
          this.#itemParts = [];
          regionStart = end;
          i = end - 1;
          continue;
        }
      }
      if (this.#inString && !this.#escaped && !this.#stringBytes) {
        if (nextQuote !== -1 && nextQuote < i) nextQuote = chunk.indexOf(QUOTE, i);
        if (nextBackslash !== -1 && nextBackslash < i) nextBackslash = chunk.indexOf(BACKSLASH, i);
        const stop = Math.min(
          nextQuote === -1 ? chunk.length : nextQuote,
          nextBackslash === -1 ? chunk.length : nextBackslash,
        );
        if (stop === chunk.length) break;
        i = stop;
      }
      const byte = chunk[i];
      if (this.#inString) {
        if (this.#escaped) this.#escaped = false;
        else if (byte === BACKSLASH) this.#escaped = true;
        else if (byte === QUOTE) this.#endString();
        else if (this.#stringBytes && this.#stringBytes.length <= MAX_KEY_BYTES) this.#stringBytes.push(byte);
        continue;
      }
      switch (byte) {
        case QUOTE:
          this.#inString = true;
          this.#stringBytes = !this.#inItems && this.#depth === 1 ? [] : undefined;
          break;
        case OPEN_BRACKET:
          this.#depth++;
          if (!this.#inItems && this.#depth === 2 && this.#currentKey === "items") {
            this.#envelope.push(chunk.slice(regionStart, i + 1));
            this.#inItems = true;
            this.#atElement = true;
            regionStart = i + 1;
          }
          break;
        case OPEN_BRACE:
          this.#depth++;
          break;
        case CLOSE_BRACKET:
        case CLOSE_BRACE:
          this.#depth--;
          if (this.#inItems && this.#depth === 1) {
            this.#endItem(chunk.subarray(regionStart, i));
            this.#inItems = false;
            regionStart = i;
          }
          break;
        case COMMA:
          if (this.#inItems && this.#depth === 2) {
            this.#endItem(chunk.subarray(regionStart, i));
            this.#atElement = true;
            regionStart = i + 1;
          }
          break;
        case COLON:
          if (!this.#inItems && this.#depth === 1) this.#currentKey = this.#lastString;
          break;
      }
    }
    if (regionStart < chunk.length) {
      // Item bytes are kept as views (they are parsed soon); envelope bytes are copied, being few.
      if (this.#inItems) this.#itemParts.push(chunk.subarray(regionStart));
      else this.#envelope.push(chunk.slice(regionStart));
    }
  }

  /** The list without its items (`items: []`); throws when the body ended in the middle. */
  finish(): JsonObject {
    this.#flush();
    if (this.#depth !== 0 || this.#inString || this.#inItems) {
      throw invalidList("the body ended in the middle of the list");
    }
    let envelope: unknown;
    try {
      envelope = JSON.parse(decoder.decode(Buffer.concat(this.#envelope)));
    } catch (error) {
      throw invalidList((error as Error).message);
    }
    const object = asObject(envelope as JsonObject);
    if (!object) throw invalidList("the body is not a JSON object");
    return object;
  }

  #endString(): void {
    this.#inString = false;
    if (this.#stringBytes) {
      this.#lastString = this.#stringBytes.length <= MAX_KEY_BYTES
        ? String.fromCharCode(...this.#stringBytes)
        : "";
      this.#stringBytes = undefined;
    }
  }

  #endItem(tail: Uint8Array): void {
    const bytes = this.#itemParts.length === 0 ? tail : Buffer.concat([...this.#itemParts, tail]);
    this.#itemParts = [];
    // `[]` and the whitespace around separators are not elements.
    if (isBlank(bytes)) return;
    this.#onItem(bytes, this.#itemCount++);
  }
}

/** An element's text as an object; an internal error naming the element if it is not one. */
export function parseItem(json: Uint8Array, index: number): JsonObject {
  let item: unknown;
  try {
    item = JSON.parse(decoder.decode(json));
  } catch (error) {
    throw invalidList(`item ${index}: ${(error as Error).message}`);
  }
  const object = asObject(item as JsonObject);
  if (!object) throw invalidList(`item ${index} is not an object`);
  return object;
}

/** JSON whitespace only (space, tab, newline, carriage return). */
function isBlank(bytes: Uint8Array): boolean {
  for (const byte of bytes) {
    if (!isBlankByte(byte)) return false;
  }
  return true;
}

function isBlankByte(byte: number): boolean {
  return byte === 0x20 || byte === 0x09 || byte === 0x0a || byte === 0x0d;
}

export function invalidList(detail: string): ConnectError {
  return new ConnectError(`the cluster sent an invalid list: ${detail}`, Code.Internal);
}
