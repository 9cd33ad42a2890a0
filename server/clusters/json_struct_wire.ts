/**
 * Transcodes a Kubernetes object from its JSON text straight into the protobuf wire bytes of
 * `otterscale.resource.v1.Resource` (whose `object` is a `google.protobuf.Struct`), sanitising it on the
 * way exactly as objects.ts `sanitizeObject` does. No JavaScript object is built: strings without escapes
 * (nearly all of them) are copied as the UTF-8 bytes they already are, which is what makes a List of
 * thousands of objects cheap in time and memory.
 *
 * The output equals `toBinary` of the parsed and sanitised object (json_struct_wire_test.ts compares
 * them), except for a JSON object with a repeated key, whose every occurrence becomes a map entry (a
 * protobuf reader keeps the last, as JSON.parse does).
 *
 * The input is trusted to be JSON from an apiserver; malformed input is refused with a
 * `JsonSyntaxError`, though less strictly than JSON.parse would (e.g. number syntax is Number()'s).
 */
import { LAST_APPLIED_ANNOTATION } from "./objects.ts";
import type { WireBuffer } from "./wire_buffer.ts";

// Tags (field number << 3 | wire type 2 length-delimited, 0 varint, 1 64-bit).
/** Resource.object; Struct.fields (a map entry); a map entry's key; ListValue.values. */
export const TAG_FIELD_1_BYTES = 0x0a;
/** A map entry's value. */
const TAG_FIELD_2_BYTES = 0x12;
const TAG_NULL_VALUE = 0x08;
const TAG_NUMBER_VALUE = 0x11;
const TAG_STRING_VALUE = 0x1a;
const TAG_BOOL_VALUE = 0x20;
const TAG_STRUCT_VALUE = 0x2a;
const TAG_LIST_VALUE = 0x32;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;

/** Where in the object a JSON object sits, for sanitising. */
const enum Role {
  Other,
  Root,
  Metadata,
  Annotations,
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const METADATA = encoder.encode("metadata");
const MANAGED_FIELDS = encoder.encode("managedFields");
const ANNOTATIONS = encoder.encode("annotations");
const RESOURCE_VERSION = encoder.encode("resourceVersion");
const LAST_APPLIED = encoder.encode(LAST_APPLIED_ANNOTATION);
const TYPE = encoder.encode("type");
const OBJECT = encoder.encode("object");

export class JsonSyntaxError extends Error {}

export class JsonStructTranscoder {
  readonly #out: WireBuffer;
  #src: Uint8Array = new Uint8Array(0);
  #pos = 0;
  /**
   * The next backslash in #src at or after #pos, -1 for none: found once per stretch, not per string
   * (refreshed when #pos passes it). #backslashFrom is where that search began.
   */
  #nextBackslash = -1;
  #backslashFrom = 0;
  #resourceVersion: string | undefined;

  constructor(out: WireBuffer) {
    this.#out = out;
  }

  /**
   * Appends to the buffer the fields of a `Resource` for the JSON object starting at `start` in `json`
   * (the object's Struct as field 1), sanitised, and returns the index just after the object. What
   * follows the object is not looked at. Throws JsonSyntaxError when the object is malformed or does not
   * end within `json`; the buffer then holds a partial write (rewind it).
   */
  resource(json: Uint8Array, start = 0): number {
    // Objects of one batch come one after another: a search done for an earlier one still holds.
    if (json !== this.#src || start < this.#backslashFrom) {
      this.#src = json;
      this.#backslashFrom = start;
      this.#nextBackslash = json.indexOf(BACKSLASH, start);
    }
    this.#pos = start;
    this.#resourceVersion = undefined;
    this.#space();
    if (this.#src[this.#pos] !== OPEN_BRACE) throw this.#error("expected an object");
    this.#out.byte(TAG_FIELD_1_BYTES);
    const length = this.#out.reserveLength();
    this.#object(Role.Root);
    this.#out.fixLength(length);
    return this.#pos;
  }

  /**
   * For one line of a watch stream (`{"type": …, "object": {…}}`): appends `object` to the buffer as
   * a length-prefixed `Resource` (sanitised), and returns the type. Other members are skipped. Returns
   * undefined when the line has no string `type` or no object `object` (the buffer may then hold a
   * partial write); throws JsonSyntaxError when it is not one JSON object.
   */
  watchEvent(json: Uint8Array): string | undefined {
    this.#src = json;
    this.#backslashFrom = 0;
    this.#nextBackslash = json.indexOf(BACKSLASH);
    this.#pos = 0;
    this.#resourceVersion = undefined;
    const src = json;
    let type: string | undefined;
    let object = false;
    this.#space();
    if (src[this.#pos] !== OPEN_BRACE) throw this.#error("expected an object");
    this.#pos++;
    this.#space();
    if (src[this.#pos] === CLOSE_BRACE) return undefined;
    for (;;) {
      if (src[this.#pos] !== QUOTE) throw this.#error("expected a key");
      const keyStart = this.#pos + 1;
      const keyEnd = this.#skipString();
      this.#space();
      if (src[this.#pos] !== COLON) throw this.#error("expected ':'");
      this.#pos++;
      this.#space();
      const first = src[this.#pos];
      if (first === QUOTE && this.#keyIs(keyStart, keyEnd, TYPE)) {
        const start = this.#pos + 1;
        const end = this.#skipString();
        type = decoder.decode(src.subarray(start, end));
      } else if (first === OPEN_BRACE && !object && this.#keyIs(keyStart, keyEnd, OBJECT)) {
        object = true;
        const length = this.#out.reserveLength();
        this.#out.byte(TAG_FIELD_1_BYTES);
        const struct = this.#out.reserveLength();
        this.#object(Role.Root);
        this.#out.fixLength(struct);
        this.#out.fixLength(length);
      } else {
        this.#skipValue();
      }
      this.#space();
      const next = src[this.#pos++];
      if (next === CLOSE_BRACE) break;
      if (next !== COMMA) throw this.#error("expected ',' or '}'", this.#pos - 1);
      this.#space();
    }
    this.#space();
    if (this.#pos !== json.length) throw this.#error("unexpected text after the object");
    return object ? type : undefined;
  }

  /** `resource` for JSON text that is exactly one object, maybe with whitespace around it. */
  wholeResource(json: Uint8Array): void {
    this.resource(json);
    this.#space();
    if (this.#pos !== json.length) throw this.#error("unexpected text after the object");
  }

  /** The last object's `metadata.resourceVersion`, if it had one. */
  get resourceVersion(): string | undefined {
    return this.#resourceVersion;
  }

  /** Struct fields for the object at #pos (an opening brace); returns how many entries were kept. */
  #object(role: Role): number {
    const out = this.#out;
    const src = this.#src;
    this.#pos++;
    this.#space();
    if (src[this.#pos] === CLOSE_BRACE) {
      this.#pos++;
      return 0;
    }
    let kept = 0;
    for (;;) {
      if (src[this.#pos] !== QUOTE) throw this.#error("expected a key");
      const keyStart = this.#pos + 1;
      const keyEnd = this.#skipString();
      const escaped = this.#nextBackslash !== -1 && this.#nextBackslash < keyEnd;
      this.#space();
      if (src[this.#pos] !== COLON) throw this.#error("expected ':'");
      this.#pos++;
      this.#space();
      const child = escaped ? Role.Other : this.#childRole(role, keyStart, keyEnd);
      if (child === undefined) {
        this.#skipValue();
      } else {
        if (role === Role.Metadata && src[this.#pos] === QUOTE && !escaped) {
          this.#captureResourceVersion(keyStart, keyEnd);
        }
        const entryStart = out.position;
        out.byte(TAG_FIELD_1_BYTES);
        const entry = out.reserveLength();
        out.byte(TAG_FIELD_1_BYTES);
        this.#writeString(keyStart, keyEnd, escaped);
        out.byte(TAG_FIELD_2_BYTES);
        const value = out.reserveLength();
        const children = this.#value(child);
        out.fixLength(value);
        out.fixLength(entry);
        // sanitizeObject drops annotations left empty.
        if (child === Role.Annotations && children === 0) out.rewind(entryStart);
        else kept++;
      }
      this.#space();
      const next = src[this.#pos++];
      if (next === CLOSE_BRACE) return kept;
      if (next !== COMMA) throw this.#error("expected ',' or '}'", this.#pos - 1);
      this.#space();
    }
  }

  /** The role of the value under a key; undefined for a value sanitising drops. */
  #childRole(role: Role, keyStart: number, keyEnd: number): Role | undefined {
    const isObject = this.#src[this.#pos] === OPEN_BRACE;
    switch (role) {
      case Role.Root:
        return isObject && this.#keyIs(keyStart, keyEnd, METADATA) ? Role.Metadata : Role.Other;
      case Role.Metadata:
        if (this.#keyIs(keyStart, keyEnd, MANAGED_FIELDS)) return undefined;
        return isObject && this.#keyIs(keyStart, keyEnd, ANNOTATIONS) ? Role.Annotations : Role.Other;
      case Role.Annotations:
        return this.#keyIs(keyStart, keyEnd, LAST_APPLIED) ? undefined : Role.Other;
      default:
        return Role.Other;
    }
  }

  #captureResourceVersion(keyStart: number, keyEnd: number): void {
    if (!this.#keyIs(keyStart, keyEnd, RESOURCE_VERSION)) return;
    const start = this.#pos + 1;
    const end = this.#src.indexOf(QUOTE, start);
    const backslash = this.#backslashAfter(start);
    // Resource versions are plain digits; an escaped one is not captured.
    if (end !== -1 && (backslash === -1 || backslash > end)) {
      this.#resourceVersion = decoder.decode(this.#src.subarray(start, end));
    }
  }

  /** Writes the value at #pos (its Value field); for an object, returns how many entries were kept. */
  #value(role: Role): number {
    const out = this.#out;
    const src = this.#src;
    const byte = src[this.#pos];
    switch (byte) {
      case OPEN_BRACE: {
        out.byte(TAG_STRUCT_VALUE);
        const length = out.reserveLength();
        const kept = this.#object(role);
        out.fixLength(length);
        return kept;
      }
      case OPEN_BRACKET:
        this.#list();
        return 0;
      case QUOTE: {
        const start = this.#pos + 1;
        const end = this.#skipString();
        out.byte(TAG_STRING_VALUE);
        this.#writeString(start, end, this.#nextBackslash !== -1 && this.#nextBackslash < end);
        return 0;
      }
      case 0x74: // t
        this.#literal("true");
        out.bytePair(TAG_BOOL_VALUE, 1);
        return 0;
      case 0x66: // f
        this.#literal("false");
        out.bytePair(TAG_BOOL_VALUE, 0);
        return 0;
      case 0x6e: // n
        this.#literal("null");
        out.bytePair(TAG_NULL_VALUE, 0);
        return 0;
      default:
        out.double(TAG_NUMBER_VALUE, this.#number());
        return 0;
    }
  }

  #list(): void {
    const out = this.#out;
    const src = this.#src;
    out.byte(TAG_LIST_VALUE);
    const length = out.reserveLength();
    this.#pos++;
    this.#space();
    if (src[this.#pos] === CLOSE_BRACKET) {
      this.#pos++;
    } else {
      for (;;) {
        out.byte(TAG_FIELD_1_BYTES);
        const element = out.reserveLength();
        this.#value(Role.Other);
        out.fixLength(element);
        this.#space();
        const next = src[this.#pos++];
        if (next === CLOSE_BRACKET) break;
        if (next !== COMMA) throw this.#error("expected ',' or ']'", this.#pos - 1);
        this.#space();
      }
    }
    out.fixLength(length);
  }

  /** The string's content `[start, end)`: copied as UTF-8 when it has no escapes, else decoded. */
  #writeString(start: number, end: number, escaped: boolean): void {
    if (!escaped) {
      this.#out.lengthPrefixed(this.#src, start, end);
      return;
    }
    let text: string;
    try {
      text = JSON.parse(decoder.decode(this.#src.subarray(start - 1, end + 1)));
    } catch (error) {
      throw this.#error(`invalid string: ${(error as Error).message}`, start);
    }
    this.#out.string(text);
  }

  /**
   * Moves past the string at #pos (its opening quote) and returns where its closing quote is. Leaves
   * #nextBackslash pointing at or after that quote.
   */
  #skipString(): number {
    const src = this.#src;
    const start = this.#pos + 1;
    let end = src.indexOf(QUOTE, start);
    if (end === -1) throw this.#error("unterminated string");
    const backslash = this.#backslashAfter(start);
    if (backslash !== -1 && backslash < end) {
      // Escapes: walk from the first one; a backslash always takes the next byte with it.
      let at = backslash;
      for (;;) {
        const byte = src[at];
        if (byte === BACKSLASH) at += 2;
        else if (byte === QUOTE) break;
        else if (at >= src.length) throw this.#error("unterminated string");
        else at++;
      }
      end = at;
    }
    this.#pos = end + 1;
    return end;
  }

  /** The next backslash at or after `start` (which only moves forward), -1 for none. */
  #backslashAfter(start: number): number {
    if (this.#nextBackslash !== -1 && this.#nextBackslash < start) {
      this.#backslashFrom = start;
      this.#nextBackslash = this.#src.indexOf(BACKSLASH, start);
    }
    return this.#nextBackslash;
  }

  /** Moves past the value at #pos without writing it. */
  #skipValue(): void {
    const src = this.#src;
    const first = src[this.#pos];
    if (first === QUOTE) {
      this.#skipString();
      return;
    }
    if (first !== OPEN_BRACE && first !== OPEN_BRACKET) {
      // A number or a literal: up to the next separator.
      while (this.#pos < src.length && !isValueEnd(src[this.#pos])) this.#pos++;
      return;
    }
    let depth = 0;
    while (this.#pos < src.length) {
      const byte = src[this.#pos];
      if (byte === QUOTE) {
        this.#skipString();
        continue;
      }
      if (byte === OPEN_BRACE || byte === OPEN_BRACKET) depth++;
      else if ((byte === CLOSE_BRACE || byte === CLOSE_BRACKET) && --depth === 0) {
        this.#pos++;
        return;
      }
      this.#pos++;
    }
    throw this.#error("unterminated value");
  }

  #literal(word: string): void {
    const src = this.#src;
    for (let i = 0; i < word.length; i++) {
      if (src[this.#pos + i] !== word.charCodeAt(i)) throw this.#error(`expected ${word}`);
    }
    this.#pos += word.length;
  }

  #number(): number {
    const src = this.#src;
    const start = this.#pos;
    let text = "";
    while (this.#pos < src.length && isNumberByte(src[this.#pos])) {
      text += String.fromCharCode(src[this.#pos++]);
    }
    const value = text === "" ? NaN : Number(text);
    if (Number.isNaN(value)) throw this.#error("expected a value", start);
    return value;
  }

  #space(): void {
    const src = this.#src;
    let pos = this.#pos;
    while (pos < src.length) {
      const byte = src[pos];
      if (byte !== 0x20 && byte !== 0x0a && byte !== 0x0d && byte !== 0x09) break;
      pos++;
    }
    this.#pos = pos;
  }

  #keyIs(start: number, end: number, expected: Uint8Array): boolean {
    if (end - start !== expected.length) return false;
    const src = this.#src;
    for (let i = 0; i < expected.length; i++) {
      if (src[start + i] !== expected[i]) return false;
    }
    return true;
  }

  #error(message: string, at = this.#pos): JsonSyntaxError {
    return new JsonSyntaxError(`${message} at byte ${at}`);
  }
}

function isValueEnd(byte: number): boolean {
  return byte === COMMA || byte === CLOSE_BRACE || byte === CLOSE_BRACKET || byte === 0x20 ||
    byte === 0x0a || byte === 0x0d || byte === 0x09;
}

/** Digits, sign, decimal point and exponent. */
function isNumberByte(byte: number): boolean {
  return (byte >= 0x30 && byte <= 0x39) || byte === 0x2d || byte === 0x2b || byte === 0x2e ||
    byte === 0x65 || byte === 0x45;
}
