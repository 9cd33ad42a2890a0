/**
 * The same bytes as a plain Uint8Array (a view, no copy). Response chunks are node Buffers, whose indexOf
 * and subarray are JavaScript in Deno and many times slower than the typed array's own.
 */
export function plainBytes(bytes: Uint8Array): Uint8Array {
  return Object.getPrototypeOf(bytes) === Uint8Array.prototype
    ? bytes
    : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * `parts` as one plain Uint8Array of `length` bytes. A single part comes back as itself (as a plain view
 * when it is a Buffer), so nothing is copied in the common one-chunk case.
 */
export function concatBytes(
  parts: readonly Uint8Array[],
  length = parts.reduce((sum, part) => sum + part.length, 0),
): Uint8Array {
  if (parts.length === 1) return plainBytes(parts[0]);
  const out = new Uint8Array(length);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}
