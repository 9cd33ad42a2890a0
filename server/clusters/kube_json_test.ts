import assert from "node:assert/strict";
import { Code, ConnectError } from "@connectrpc/connect";
import { createServer, type IncomingMessage, request } from "node:http";
import type { AddressInfo } from "node:net";
import { ChunkReader, LineSplitter, readChunks } from "./kube_json.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function split(text: string, chunkSize: number, max = 1024): string[] {
  const splitter = new LineSplitter(max);
  const bytes = encoder.encode(text);
  const lines: string[] = [];
  for (let offset = 0; offset < bytes.length; offset += chunkSize) {
    for (const line of splitter.push(bytes.subarray(offset, offset + chunkSize))) {
      lines.push(decoder.decode(line));
    }
  }
  const rest = splitter.finish();
  if (rest) lines.push(`rest:${decoder.decode(rest)}`);
  return lines;
}

Deno.test("LineSplitter: lines across chunk boundaries, CRLF, empty lines and a final partial line", () => {
  const text = '{"type":"ADDED","object":{"n":"ü🦦"}}\n\r\n{"type":"BOOKMARK"}\r\n\n{"partial":';
  for (const size of [1, 2, 3, 7, 1000]) {
    assert.deepEqual(split(text, size), [
      '{"type":"ADDED","object":{"n":"ü🦦"}}',
      '{"type":"BOOKMARK"}',
      'rest:{"partial":',
    ], `chunk size ${size}`);
  }
  assert.deepEqual(split("a\nb\n", 4), ["a", "b"]);
});

Deno.test("LineSplitter: a line longer than the limit is resource_exhausted", () => {
  for (const size of [3, 64]) {
    assert.throws(
      () => split(`${"x".repeat(40)}\nok\n`, size, 32),
      (error: unknown) =>
        error instanceof ConnectError && error.code === Code.ResourceExhausted &&
        /a watch event exceeds 32 bytes/.test(error.rawMessage),
    );
  }
  assert.deepEqual(split(`${"x".repeat(32)}\n`, 5, 32), ["x".repeat(32)]);
});

/** A real HTTP exchange: the server writes `parts` (then ends, or destroys the socket when `cut`). */
async function withResponse(
  parts: string[],
  cut: boolean,
  use: (response: IncomingMessage) => Promise<void>,
): Promise<void> {
  const server = createServer(async (_req, res) => {
    res.writeHead(200, { "content-type": "application/json" });
    for (const part of parts) {
      res.write(part);
      await new Promise((r) => setTimeout(r, 5));
    }
    if (cut) res.socket?.destroy();
    else res.end();
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as AddressInfo;
  try {
    const response = await new Promise<IncomingMessage>((resolve, reject) =>
      request({ host: "127.0.0.1", port, path: "/" }, resolve).on("error", reject).end()
    );
    await use(response);
  } finally {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
}

Deno.test("readChunks: every chunk in order, then the end", async () => {
  await withResponse(["ab", "cd", "ef"], false, async (response) => {
    const seen: string[] = [];
    await readChunks(response, (chunk) => seen.push(decoder.decode(chunk)));
    assert.equal(seen.join(""), "abcdef");
    assert.equal(response.complete, true);
  });
});

Deno.test("readChunks: a body cut off before its end rejects", async () => {
  await withResponse(["ab", "cd"], true, async (response) => {
    const seen: string[] = [];
    await assert.rejects(readChunks(response, (chunk) => seen.push(decoder.decode(chunk))));
    assert.equal(seen.join(""), "abcd");
  });
});

Deno.test("readChunks: an error thrown by the consumer rejects with it and stops the body", async () => {
  await withResponse(["ab", "cd", "ef"], false, async (response) => {
    let calls = 0;
    const stop = new Error("enough");
    await assert.rejects(
      readChunks(response, () => {
        calls++;
        throw stop;
      }),
      (error: unknown) => error === stop,
    );
    assert.equal(calls, 1);
    assert.equal(response.destroyed, true);
  });
});

Deno.test("ChunkReader: chunks in order, then undefined at the end", async () => {
  await withResponse(["ab", "cd", "ef"], false, async (response) => {
    const reader = new ChunkReader(response);
    let text = "";
    for (let chunk = await reader.next(); chunk; chunk = await reader.next()) text += decoder.decode(chunk);
    assert.equal(text, "abcdef");
    assert.equal(await reader.next(), undefined);
  });
});

Deno.test("ChunkReader: holds the stream back while a chunk waits, and rejects when cut off", async () => {
  await withResponse(["ab", "cd"], true, async (response) => {
    const reader = new ChunkReader(response);
    await new Promise((r) => setTimeout(r, 30));
    assert.equal(response.isPaused(), true, "nobody took the first chunk yet");
    assert.equal(decoder.decode(await reader.next()), "ab");
    // What the stream still held when the connection broke is lost with it; the failure is not.
    await assert.rejects(async () => {
      while (await reader.next());
    }, /closed before the end|aborted|socket hang up|ECONNRESET/);
  });
});
