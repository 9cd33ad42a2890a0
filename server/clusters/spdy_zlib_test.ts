import assert from "node:assert/strict";
import zlib from "node:zlib";
import { decodeHeaderBlock, encodeHeaderBlock, SpdyProtocolError } from "./spdy_frames.ts";
import {
  adler32,
  HeaderCompressor,
  HeaderDecompressor,
  MAX_HEADER_BLOCK_BYTES,
  SPDY3_DICTIONARY,
  zlibHeaderWithDictionary,
} from "./spdy_zlib.ts";

const hex = (text: string) => Uint8Array.from(text.match(/../g)!, (b) => parseInt(b, 16));
const ascii = (text: string) => new TextEncoder().encode(text);

/** Feeds blocks through one independent inflate context (node:zlib, primed with the dictionary). */
async function inflateInOrder(blocks: Uint8Array[]): Promise<Uint8Array[]> {
  const inflate = zlib.createInflate({ dictionary: SPDY3_DICTIONARY });
  const out: Uint8Array[] = [];
  for (const block of blocks) {
    out.push(
      await new Promise<Uint8Array>((resolve, reject) => {
        const chunks: Uint8Array[] = [];
        const onData = (chunk: Uint8Array) => chunks.push(chunk);
        inflate.on("data", onData);
        inflate.once("error", reject);
        inflate.write(block);
        inflate.flush(zlib.constants.Z_SYNC_FLUSH, () => {
          inflate.off("data", onData);
          resolve(Uint8Array.from(chunks.flatMap((chunk) => [...chunk])));
        });
      }),
    );
  }
  inflate.close();
  return out;
}

Deno.test("the SPDY/3 dictionary: 1423 bytes, length-prefixed words first, the free text last", () => {
  assert.equal(SPDY3_DICTIONARY.length, 1423);
  assert.deepEqual(SPDY3_DICTIONARY.subarray(0, 11), Uint8Array.of(0, 0, 0, 7, ...ascii("options")));
  assert.equal(new TextDecoder().decode(SPDY3_DICTIONARY.subarray(-6)), "enq=0.");
  // RFC 1950's check value, against a published vector.
  assert.equal(adler32(ascii("Wikipedia")), 0x11e60398);
  const header = zlibHeaderWithDictionary(SPDY3_DICTIONARY);
  assert.equal((header[0] * 256 + header[1]) % 31, 0, "FCHECK");
  assert.equal(header[1] & 0x20, 0x20, "FDICT");
  assert.deepEqual(header, hex("78bbe3c6a7c2"));
});

Deno.test("blocks from an independent zlib with the dictionary (references into it) expand in order", async () => {
  // Captured from another zlib implementation compressing two header blocks in one context with the SPDY/3
  // dictionary (23 bytes for 77): without the dictionary they cannot be expanded.
  const first = hex("78f9e3c6a7c202253ad2d2287ab9c3857030000000ffff");
  const second = hex("026535120c03000000ffff");
  const decompressor = new HeaderDecompressor();
  try {
    assert.deepEqual(
      decodeHeaderBlock(await decompressor.decompress(first)),
      new Map([["status", ["200 OK"]], ["version", ["HTTP/1.1"]], ["content-type", ["text/plain"]]]),
    );
    assert.deepEqual(
      decodeHeaderBlock(await decompressor.decompress(second)),
      new Map([["status", ["200 OK"]], ["version", ["HTTP/1.1"]]]),
    );
  } finally {
    decompressor.close();
  }
});

Deno.test("compressed blocks declare the dictionary, share one context and expand with real zlib", async () => {
  const blocks = [
    encodeHeaderBlock([["streamtype", "error"], ["port", "8080"], ["requestid", "0"]]),
    encodeHeaderBlock([["streamtype", "data"], ["port", "8080"], ["requestid", "0"]]),
    encodeHeaderBlock([["streamtype", "data"], ["port", "8080"], ["requestid", "0"]]),
  ];
  const compressor = new HeaderCompressor();
  const compressed = await Promise.all(blocks.map((block) => compressor.compress(block)));
  compressor.close();
  assert.deepEqual(compressed[0].subarray(0, 6), hex("78bbe3c6a7c2"), "the zlib header names the dictionary");
  for (const block of compressed) {
    assert.deepEqual(block.subarray(-4), hex("0000ffff"), "each ends in a sync flush");
  }
  // The repeated block is mostly back-references into the shared history.
  assert.ok(compressed[2].length < blocks[2].length / 3, `${compressed[2].length} bytes`);
  assert.deepEqual(await inflateInOrder(compressed), blocks);
  // And the decompressor reads what the compressor wrote.
  const decompressor = new HeaderDecompressor();
  for (const [i, block] of compressed.entries()) {
    assert.deepEqual(await decompressor.decompress(block), blocks[i]);
  }
  decompressor.close();
});

Deno.test("a block that expands past the limit, or is not zlib, fails the context", async () => {
  const compressor = new HeaderCompressor();
  const big = await compressor.compress(encodeHeaderBlock([["x", "a".repeat(MAX_HEADER_BLOCK_BYTES)]]));
  compressor.close();
  const decompressor = new HeaderDecompressor();
  await assert.rejects(decompressor.decompress(big), /expands past/);
  await assert.rejects(decompressor.decompress(hex("0000ffff")), SpdyProtocolError);
  decompressor.close();
  const garbage = new HeaderDecompressor();
  await assert.rejects(garbage.decompress(ascii("not zlib at all")), SpdyProtocolError);
  garbage.close();
});
