// Just enough DER to move an EC private key between SEC1 and PKCS#8: WebCrypto only speaks
// PKCS#8, while the CA key file must be SEC1 so the reference Go server can read it.

/** Bytes backed by a plain ArrayBuffer, which is what WebCrypto and @peculiar/x509 accept. */
export type Bytes = Uint8Array<ArrayBuffer>;

export const DerTag = {
  integer: 0x02,
  bitString: 0x03,
  octetString: 0x04,
  objectIdentifier: 0x06,
  sequence: 0x30,
  contextExplicit0: 0xa0,
  contextExplicit1: 0xa1,
} as const;

/** One decoded tag-length-value element; `end` is the offset just past it. */
export interface DerElement {
  tag: number;
  value: Bytes;
  end: number;
}

export function readDerElement(bytes: Bytes, offset = 0): DerElement {
  if (offset + 2 > bytes.length) throw new Error(`DER: truncated header at offset ${offset}`);
  const tag = bytes[offset];
  if ((tag & 0x1f) === 0x1f) throw new Error(`DER: multi-byte tag at offset ${offset} is not supported`);
  let length = bytes[offset + 1];
  let cursor = offset + 2;
  if (length & 0x80) {
    const lengthBytes = length & 0x7f;
    if (lengthBytes === 0) throw new Error(`DER: indefinite length at offset ${offset}`);
    if (lengthBytes > 4) {
      throw new Error(`DER: length of ${lengthBytes} bytes at offset ${offset} is too large`);
    }
    if (cursor + lengthBytes > bytes.length) throw new Error(`DER: truncated length at offset ${offset}`);
    length = 0;
    for (let i = 0; i < lengthBytes; i++) length = length * 256 + bytes[cursor + i];
    cursor += lengthBytes;
  }
  const end = cursor + length;
  if (end > bytes.length) throw new Error(`DER: element at offset ${offset} runs past the end of the data`);
  return { tag, value: bytes.subarray(cursor, end), end };
}

/** Reads a complete DER value of the expected tag; trailing bytes are an error. */
export function readDerExactly(bytes: Bytes, expectedTag: number): DerElement {
  const element = readDerElement(bytes);
  if (element.tag !== expectedTag) {
    throw new Error(`DER: expected tag 0x${hex(expectedTag)}, found 0x${hex(element.tag)}`);
  }
  if (element.end !== bytes.length) throw new Error("DER: trailing bytes after the value");
  return element;
}

/** The elements directly inside a constructed value (e.g. the fields of a SEQUENCE). */
export function readDerChildren(constructedValue: Bytes): DerElement[] {
  const children: DerElement[] = [];
  let offset = 0;
  while (offset < constructedValue.length) {
    const child = readDerElement(constructedValue, offset);
    children.push(child);
    offset = child.end;
  }
  return children;
}

export function encodeDer(tag: number, ...contents: Bytes[]): Bytes {
  const length = contents.reduce((sum, part) => sum + part.length, 0);
  const header = [tag, ...encodeLength(length)];
  const out = new Uint8Array(header.length + length);
  out.set(header, 0);
  let offset = header.length;
  for (const part of contents) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

function encodeLength(length: number): number[] {
  if (length < 0x80) return [length];
  const bytes: number[] = [];
  for (let rest = length; rest > 0; rest = Math.floor(rest / 256)) bytes.unshift(rest % 256);
  return [0x80 | bytes.length, ...bytes];
}

export function bytesEqual(a: Bytes, b: Bytes): boolean {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}

function hex(byte: number): string {
  return byte.toString(16).padStart(2, "0");
}
