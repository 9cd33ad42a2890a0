/**
 * Reads a Kubernetes List body as it streams in: each element of the top-level `items` array is parsed
 * (and handed on) as soon as its last byte arrives, so the hub never holds the whole body and its parsed
 * form at the same time. Everything else (kind, apiVersion, metadata) is kept aside and parsed at the end.
 *
 * A small byte scanner finds element boundaries: it tracks nesting depth and whether it is inside a
 * string, which is all JSON needs for that. Structural characters are ASCII, and UTF-8 continuation bytes
 * are never ASCII, so scanning bytes (not characters) is exact.
 */
import { Buffer } from "node:buffer";
import type { JsonObject } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
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

const decoder = new TextDecoder();

export class ListBodyScanner {
  readonly #onItem: (item: JsonObject) => void;
  #depth = 0;
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

  /** `onItem` gets each element of `items`, parsed, in order. */
  constructor(onItem: (item: JsonObject) => void) {
    this.#onItem = onItem;
  }

  get itemCount(): number {
    return this.#itemCount;
  }

  push(chunk: Uint8Array): void {
    // Where the current envelope or item region started in this chunk.
    let regionStart = 0;
    // Next quote and backslash in this chunk, found natively: most bytes of a list are inside strings.
    let nextQuote = -2;
    let nextBackslash = -2;
    for (let i = 0; i < chunk.length; i++) {
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
    const text = decoder.decode(bytes);
    // `[]` and the whitespace around separators are not elements.
    if (text.trim() === "") return;
    let item: unknown;
    try {
      item = JSON.parse(text);
    } catch (error) {
      throw invalidList(`item ${this.#itemCount}: ${(error as Error).message}`);
    }
    const object = asObject(item as JsonObject);
    if (!object) throw invalidList(`item ${this.#itemCount} is not an object`);
    this.#itemCount++;
    this.#onItem(object);
  }
}

function invalidList(detail: string): ConnectError {
  return new ConnectError(`the cluster sent an invalid list: ${detail}`, Code.Internal);
}
