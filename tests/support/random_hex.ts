/**
 * `length` random bytes written as lower-case hex digits: the bed's echo server reads bodies as text, so
 * forwarded payloads must be printable, and random so that a misplaced chunk cannot go unnoticed.
 */
export function randomHex(length: number): Uint8Array {
  const digits = new TextEncoder().encode("0123456789abcdef");
  const random = new Uint8Array(65536);
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i += 2) {
    const index = (i >> 1) & 65535;
    // getRandomValues fills at most 64 KiB per call: refill at every wrap.
    if (index === 0) crypto.getRandomValues(random);
    out[i] = digits[random[index] >> 4];
    out[i + 1] = digits[random[index] & 15];
  }
  return out;
}
