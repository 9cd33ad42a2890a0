/**
 * Bytes received in chunks, read from the front: what a frame parser needs to look at a header before the
 * rest of its frame has arrived. Reading copies only when the bytes asked for span chunks.
 */
export class ByteQueue {
  #chunks: Uint8Array[] = [];
  #length = 0;

  /** Bytes held. */
  get length(): number {
    return this.#length;
  }

  push(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    this.#chunks.push(chunk);
    this.#length += chunk.length;
  }

  /** The first `n` bytes (n ≤ length), left in the queue. */
  peek(n: number): Uint8Array {
    if (n === 0) return new Uint8Array(0);
    if (this.#chunks[0].length >= n) return this.#chunks[0].subarray(0, n);
    const out = new Uint8Array(n);
    let offset = 0;
    for (const chunk of this.#chunks) {
      const part = chunk.subarray(0, n - offset);
      out.set(part, offset);
      offset += part.length;
      if (offset === n) break;
    }
    return out;
  }

  /** The first `n` bytes (n ≤ length), removed from the queue. */
  take(n: number): Uint8Array {
    const out = this.peek(n);
    this.consume(n);
    return out;
  }

  /** Drops the first `n` bytes (n ≤ length). */
  consume(n: number): void {
    this.#length -= n;
    while (n > 0) {
      const first = this.#chunks[0];
      if (first.length <= n) {
        this.#chunks.shift();
        n -= first.length;
      } else {
        this.#chunks[0] = first.subarray(n);
        n = 0;
      }
    }
  }
}
