/**
 * A growable byte buffer with the few protobuf wire primitives the hub writes by hand (struct_wire.ts,
 * json_struct_wire.ts). Meant to be reused: `reset` keeps the memory.
 *
 * Lengths precede contents in protobuf, and a nested message's length is known only once it is written:
 * `reserveLength` keeps one byte for it, and `fixLength` moves content of 128 bytes or more up by the
 * extra bytes its length needs (a native copyWithin of bytes just written). Lengths therefore always
 * take their minimal varint form, as protobuf-es writes them.
 */

/** Below this many UTF-16 units a JS loop beats TextEncoder.encodeInto for ASCII text. */
const ASCII_LOOP_UNITS = 64;
/** Below this many bytes a JS loop beats set(subarray()) for copying. */
const BYTE_LOOP_BYTES = 32;

const encoder = new TextEncoder();

export class WireBuffer {
  #buf: Uint8Array;
  #view: DataView;
  #pos = 0;

  constructor(initialBytes = 64 * 1024) {
    this.#buf = new Uint8Array(initialBytes);
    this.#view = new DataView(this.#buf.buffer);
  }

  get position(): number {
    return this.#pos;
  }

  /** Forgets everything written from `position` on (content that turned out not to be wanted). */
  rewind(position: number): void {
    this.#pos = position;
  }

  reset(): void {
    this.#pos = 0;
  }

  /** What was written since the last reset; valid until the next write. */
  view(): Uint8Array {
    return this.#buf.subarray(0, this.#pos);
  }

  byte(value: number): void {
    this.#ensure(1);
    this.#buf[this.#pos++] = value;
  }

  /** Two bytes, e.g. a tag and a one-byte varint. */
  bytePair(first: number, second: number): void {
    this.#ensure(2);
    this.#buf[this.#pos++] = first;
    this.#buf[this.#pos++] = second;
  }

  /** `tag` then a little-endian double. */
  double(tag: number, value: number): void {
    this.#ensure(9);
    this.#buf[this.#pos++] = tag;
    this.#view.setFloat64(this.#pos, value, true);
    this.#pos += 8;
  }

  /** Reserves one byte for a length and returns where the length goes. */
  reserveLength(): number {
    this.#ensure(1);
    return this.#pos++;
  }

  /** Writes the length of what follows `at`, moving it up when the length takes more than one byte. */
  fixLength(at: number): void {
    const length = this.#pos - at - 1;
    if (length < 0x80) {
      this.#buf[at] = length;
      return;
    }
    const extra = varintSize(length) - 1;
    this.#ensure(extra);
    this.#buf.copyWithin(at + 1 + extra, at + 1, this.#pos);
    this.#pos += extra;
    this.#writeVarint(at, length);
  }

  /** A length-prefixed UTF-8 string. */
  string(text: string): void {
    const units = text.length;
    if (units <= ASCII_LOOP_UNITS && this.#asciiShort(text)) return;
    // Room for the largest length the text can have (3 bytes per unit), then move back if less.
    const most = units * 3;
    const reserved = varintSize(most);
    this.#ensure(reserved + most);
    const start = this.#pos;
    const { written } = encoder.encodeInto(text, this.#buf.subarray(start + reserved));
    const needed = varintSize(written);
    if (needed !== reserved) {
      this.#buf.copyWithin(start + needed, start + reserved, start + reserved + written);
    }
    this.#writeVarint(start, written);
    this.#pos = start + needed + written;
  }

  /** Length-prefixed bytes, `source[start..end)`: UTF-8 text copied as it is. */
  lengthPrefixed(source: Uint8Array, start: number, end: number): void {
    const length = end - start;
    this.#ensure(5 + length);
    this.#writeVarint(this.#pos, length);
    this.#pos += varintSize(length);
    const buf = this.#buf;
    if (length <= BYTE_LOOP_BYTES) {
      let at = this.#pos;
      for (let i = start; i < end; i++) buf[at++] = source[i];
    } else {
      buf.set(source.subarray(start, end), this.#pos);
    }
    this.#pos += length;
  }

  /** Writes `text` if it is all ASCII, byte per unit; false (nothing written) otherwise. */
  #asciiShort(text: string): boolean {
    const units = text.length;
    this.#ensure(1 + units);
    const buf = this.#buf;
    const start = this.#pos;
    // units < 128: the length is one byte.
    let at = start + 1;
    for (let i = 0; i < units; i++) {
      const unit = text.charCodeAt(i);
      if (unit >= 0x80) return false;
      buf[at++] = unit;
    }
    buf[start] = units;
    this.#pos = at;
    return true;
  }

  #writeVarint(at: number, value: number): void {
    const buf = this.#buf;
    while (value >= 0x80) {
      buf[at++] = (value & 0x7f) | 0x80;
      value >>>= 7;
    }
    buf[at] = value;
  }

  #ensure(more: number): void {
    if (this.#pos + more <= this.#buf.length) return;
    const grown = new Uint8Array(Math.max(this.#buf.length * 2, this.#pos + more));
    grown.set(this.#buf.subarray(0, this.#pos));
    this.#buf = grown;
    this.#view = new DataView(grown.buffer);
  }
}

export function varintSize(value: number): number {
  if (value < 0x80) return 1;
  if (value < 0x4000) return 2;
  if (value < 0x200000) return 3;
  if (value < 0x10000000) return 4;
  return 5;
}
