/**
 * SPDY/3 header compression: each direction of a connection is one zlib stream (RFC 1950) primed with the
 * SPDY/3 dictionary, and every header block ends with a sync flush, so each block can be expanded on arrival
 * while later blocks still refer back to earlier ones. A block is only readable in order, with the same
 * context; the context lives as long as the connection.
 *
 * Expanding uses node:zlib's inflate with the dictionary. For compressing, Deno's node:zlib ignores the
 * `dictionary` option of deflate, so the zlib header is written here (declaring the SPDY/3 dictionary, as
 * the spec asks) in front of a raw deflate stream: still valid zlib, whose back-references just never reach
 * into the dictionary. The stream is never finished, so no Adler-32 trailer is ever due.
 */
import { setImmediate } from "node:timers";
import zlib from "node:zlib";
import { SpdyProtocolError } from "./spdy_frames.ts";
import { concatBytes } from "../../shared/bytes.ts";

/** Header names the SPDY/3 dictionary lists, each preceded by its length as 4 big-endian bytes. */
const DICTIONARY_WORDS = [
  "options",
  "head",
  "post",
  "put",
  "delete",
  "trace",
  "accept",
  "accept-charset",
  "accept-encoding",
  "accept-language",
  "accept-ranges",
  "age",
  "allow",
  "authorization",
  "cache-control",
  "connection",
  "content-base",
  "content-encoding",
  "content-language",
  "content-length",
  "content-location",
  "content-md5",
  "content-range",
  "content-type",
  "date",
  "etag",
  "expect",
  "expires",
  "from",
  "host",
  "if-match",
  "if-modified-since",
  "if-none-match",
  "if-range",
  "if-unmodified-since",
  "last-modified",
  "location",
  "max-forwards",
  "pragma",
  "proxy-authenticate",
  "proxy-authorization",
  "range",
  "referer",
  "retry-after",
  "server",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
  "user-agent",
  "vary",
  "via",
  "warning",
  "www-authenticate",
  "method",
  "get",
  "status",
  "200 OK",
  "version",
  "HTTP/1.1",
  "url",
  "public",
  "set-cookie",
  "keep-alive",
  "origin",
];

/** The dictionary's free text after the words: status codes, reason phrases, dates, common values. */
const DICTIONARY_TAIL =
  "100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505" +
  "203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request401 Unauthorized" +
  "403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented503 Service Unavailable" +
  "Jan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMT" +
  "chunked,text/html,image/png,image/jpg,image/gif,application/xml,application/xhtml+xml,text/plain," +
  "text/javascript,publicprivatemax-age=gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0.";

/** The SPDY/3 header compression dictionary (1423 bytes). */
export const SPDY3_DICTIONARY: Uint8Array = buildDictionary();

function buildDictionary(): Uint8Array {
  const encoder = new TextEncoder();
  const parts: Uint8Array[] = [];
  for (const word of DICTIONARY_WORDS) {
    const bytes = encoder.encode(word);
    const length = new Uint8Array(4);
    new DataView(length.buffer).setUint32(0, bytes.length);
    parts.push(length, bytes);
  }
  parts.push(encoder.encode(DICTIONARY_TAIL));
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** Adler-32 (RFC 1950 §9), the dictionary's id in a zlib header. */
export function adler32(bytes: Uint8Array): number {
  let a = 1;
  let b = 0;
  // 5552 is the most bytes that can be summed before the 32-bit sums must be reduced.
  for (let start = 0; start < bytes.length; start += 5552) {
    const end = Math.min(bytes.length, start + 5552);
    for (let i = start; i < end; i++) {
      a += bytes[i];
      b += a;
    }
    a %= 65521;
    b %= 65521;
  }
  return ((b << 16) | a) >>> 0;
}

/**
 * The two-byte zlib header for deflate with a 32 KiB window (0x78), the default level and the preset
 * dictionary flag, then the dictionary's Adler-32: six bytes.
 */
export function zlibHeaderWithDictionary(dictionary: Uint8Array): Uint8Array {
  const cmf = 0x78;
  let flg = (2 << 6) | 0x20;
  flg += 31 - ((cmf * 256 + flg) % 31);
  const header = new Uint8Array(6);
  header[0] = cmf;
  header[1] = flg;
  new DataView(header.buffer).setUint32(2, adler32(dictionary));
  return header;
}

/** The most bytes one expanded header block may take; a larger one is treated as an attack. */
export const MAX_HEADER_BLOCK_BYTES = 256 * 1024;

type ZlibStream = zlib.Deflate | zlib.Inflate | zlib.DeflateRaw;

/**
 * Feeds `input` to a zlib stream and sync-flushes it: resolves with every byte that came out. Calls are
 * chained, so blocks go through the shared context one at a time and in call order.
 */
class FlushingStream {
  readonly #stream: ZlibStream;
  readonly #limit: number;
  #queue: Promise<unknown> = Promise.resolve();
  #failed: Error | undefined;

  constructor(stream: ZlibStream, limit: number) {
    this.#stream = stream;
    this.#limit = limit;
    // A failure poisons the context for good; it is reported by the call that caused it and all later ones.
    stream.on("error", (error: Error) => (this.#failed ??= error));
  }

  process(input: Uint8Array): Promise<Uint8Array> {
    const result = this.#queue.then(() => this.#flush(input));
    this.#queue = result.catch(() => {});
    return result;
  }

  close(): void {
    this.#stream.close();
  }

  #flush(input: Uint8Array): Promise<Uint8Array> {
    if (this.#failed) return Promise.reject(this.#failed);
    const stream = this.#stream;
    return new Promise((resolve, reject) => {
      const chunks: Uint8Array[] = [];
      let length = 0;
      let settled = false;
      const finish = (error?: Error) => {
        if (settled) return;
        settled = true;
        stream.off("data", onData);
        stream.off("error", onError);
        if (error) return reject(error);
        resolve(concatBytes(chunks, length));
      };
      const onData = (chunk: Uint8Array) => {
        length += chunk.length;
        if (length > this.#limit) {
          const error = new SpdyProtocolError(`a SPDY header block expands past ${this.#limit} bytes`);
          this.#failed = error;
          finish(error);
          return;
        }
        chunks.push(chunk);
      };
      const onError = (error: Error) => finish(error);
      stream.on("data", onData);
      stream.on("error", onError);
      stream.write(input);
      // node:zlib reports a data error after the flush callback; give it that turn before settling.
      stream.flush(zlib.constants.Z_SYNC_FLUSH, () => setImmediate(() => finish(this.#failed)));
    });
  }
}

/** Compresses the header blocks one side of a connection sends. */
export class HeaderCompressor {
  readonly #deflate = new FlushingStream(zlib.createDeflateRaw({ level: 6, windowBits: 15 }), Infinity);
  #headerSent = false;

  async compress(block: Uint8Array): Promise<Uint8Array> {
    const compressed = await this.#deflate.process(block);
    if (this.#headerSent) return compressed;
    this.#headerSent = true;
    const header = zlibHeaderWithDictionary(SPDY3_DICTIONARY);
    return concatBytes([header, compressed]);
  }

  close(): void {
    this.#deflate.close();
  }
}

/** Expands the header blocks the other side sends, in the order they arrive. */
export class HeaderDecompressor {
  readonly #inflate = new FlushingStream(
    zlib.createInflate({ dictionary: SPDY3_DICTIONARY }),
    MAX_HEADER_BLOCK_BYTES,
  );

  async decompress(block: Uint8Array): Promise<Uint8Array> {
    try {
      return await this.#inflate.process(block);
    } catch (error) {
      if (error instanceof SpdyProtocolError) throw error;
      throw new SpdyProtocolError(`a SPDY header block does not decompress: ${(error as Error).message}`);
    }
  }

  close(): void {
    this.#inflate.close();
  }
}
