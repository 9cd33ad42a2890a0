import assert from "node:assert/strict";
import { applyMask, connectWebSocket, encodeFrame, WebSocketError } from "./websocket.ts";
import { UpgradeRefusedError } from "./upgrade_answer.ts";
import { connectTcp, type RawPeer, startRawServer } from "./test_websocket_server.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function bytes(length: number, seed = 7): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = (i * 31 + seed) & 0xff;
  return out;
}

async function withRawServer(
  handle: (peer: RawPeer) => void | Promise<void>,
  run: (port: number) => Promise<void>,
): Promise<void> {
  const server = await startRawServer(handle);
  try {
    await run(server.port);
  } finally {
    await server.close();
  }
}

Deno.test("talks to Deno's own WebSocket server: subprotocol, messages of every length class, close", async () => {
  const received: number[] = [];
  let closeCode = 0;
  const closed = Promise.withResolvers<void>();
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
    const { socket, response } = Deno.upgradeWebSocket(request, { protocol: "v4.channel.k8s.io" });
    socket.binaryType = "arraybuffer";
    socket.onmessage = (event) => {
      const data = new Uint8Array(event.data as ArrayBuffer);
      received.push(data.length);
      socket.send(data); // echo
    };
    socket.onclose = (event) => {
      closeCode = event.code;
      closed.resolve();
    };
    return response;
  });
  try {
    const ws = await connectWebSocket(await connectTcp(server.addr.port), {
      path: "/exec",
      host: "localhost",
      protocols: ["v5.channel.k8s.io", "v4.channel.k8s.io"],
    });
    assert.equal(ws.protocol, "v4.channel.k8s.io");
    for (const length of [0, 1, 125, 126, 65535, 65536, 200_000]) {
      const message = bytes(length, length);
      await ws.send([message.subarray(0, 3), message.subarray(3)]);
      const echo = await ws.read();
      assert.deepEqual(new Uint8Array(echo!), message, `length ${length}`);
    }
    assert.deepEqual(received, [0, 1, 125, 126, 65535, 65536, 200_000]);
    const info = await ws.close();
    await closed.promise;
    assert.equal(closeCode, 1000);
    assert.equal(info.clean, true);
    assert.equal(await ws.read(), null);
  } finally {
    await server.shutdown();
  }
});

Deno.test("a refused upgrade hands back status and body", async () => {
  const status = { kind: "Status", status: "Failure", reason: "Forbidden", message: "no", code: 403 };
  await withRawServer(
    (peer) => peer.refuse(403, "Forbidden", JSON.stringify(status), { "Content-Type": "application/json" }),
    async (port) => {
      const error = await connectWebSocket(await connectTcp(port), { path: "/", host: "h", protocols: [] })
        .then(
          () => undefined,
          (e) => e,
        );
      assert.ok(error instanceof UpgradeRefusedError, String(error));
      assert.equal(error.status, 403);
      assert.equal(error.headers["content-type"], "application/json");
      assert.deepEqual(JSON.parse(decoder.decode(error.body)), status);
    },
  );
});

Deno.test("a refused upgrade whose body ends with the connection (no length) is read to its end", async () => {
  await withRawServer(
    (peer) => {
      peer.socket.write("HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n404 page");
      setTimeout(() => peer.socket.end(" not found"), 20);
    },
    async (port) => {
      const error = await connectWebSocket(await connectTcp(port), { path: "/", host: "h", protocols: [] })
        .catch((
          e,
        ) => e);
      assert.ok(error instanceof UpgradeRefusedError);
      assert.equal(decoder.decode(error.body), "404 page not found");
    },
  );
});

Deno.test("the request carries key, version, offered subprotocols and extra headers in order", async () => {
  let seen: RawPeer["request"] | undefined;
  await withRawServer(
    (peer) => {
      seen = peer.request;
      peer.accept("b");
      peer.send(0x8, Uint8Array.of(0x03, 0xe8));
    },
    async (port) => {
      const ws = await connectWebSocket(await connectTcp(port), {
        path: "/p?q=1",
        host: "alpha",
        protocols: ["a", "b"],
        headers: [["Impersonate-User", "alice"], ["Impersonate-Group", "g1"], ["Impersonate-Group", "g2"]],
      });
      assert.equal(ws.protocol, "b");
      assert.equal(await ws.read(), null);
      await ws.closed;
    },
  );
  assert.equal(seen?.path, "/p?q=1");
  assert.deepEqual(seen?.headers["host"], ["alpha"]);
  assert.deepEqual(seen?.headers["sec-websocket-version"], ["13"]);
  assert.deepEqual(seen?.headers["sec-websocket-protocol"], ["a, b"]);
  assert.deepEqual(seen?.headers["impersonate-group"], ["g1", "g2"]);
  assert.equal(atob(seen?.headers["sec-websocket-key"]?.[0] ?? "").length, 16);
});

Deno.test("header values with line breaks are refused before anything is sent", async () => {
  let connections = 0;
  await withRawServer(() => void connections++, async (port) => {
    const socket = await connectTcp(port);
    await assert.rejects(
      connectWebSocket(socket, { path: "/", host: "h", protocols: [], headers: [["X", "a\r\nInjected: 1"]] }),
      TypeError,
    );
    assert.equal(socket.destroyed, true);
  });
  assert.equal(connections, 0);
});

Deno.test("a wrong Sec-WebSocket-Accept or an unoffered subprotocol fails the handshake", async () => {
  for (
    const answer of [
      (peer: RawPeer) => peer.accept(undefined, "bm90IHRoZSBrZXk="),
      (peer: RawPeer) => peer.accept("zzz"),
    ]
  ) {
    await withRawServer(answer, async (port) => {
      await assert.rejects(
        connectWebSocket(await connectTcp(port), { path: "/", host: "h", protocols: ["a"] }),
        WebSocketError,
      );
    });
  }
});

Deno.test("the handshake ends with the caller's abort or its time limit", async () => {
  await withRawServer(() => {/* never answers */}, async (port) => {
    const controller = new AbortController();
    const opening = connectWebSocket(await connectTcp(port), {
      path: "/",
      host: "h",
      protocols: [],
      signal: controller.signal,
    });
    controller.abort(new Error("caller went away"));
    await assert.rejects(opening, /caller went away/);
    const timed = connectWebSocket(await connectTcp(port), {
      path: "/",
      host: "h",
      protocols: [],
      timeoutMs: 50,
    });
    await assert.rejects(timed, (error: Error) => error.name === "TimeoutError");
  });
});

Deno.test("frames in: fragments join, pings get pongs, data after the head arrives in the same chunk", async () => {
  await withRawServer(
    async (peer) => {
      // The 101 and the first frames in one write.
      const first = encoder.encode("hel");
      peer.accept();
      peer.send(0x2, first, { fin: false });
      peer.send(0x9, encoder.encode("are you there"));
      peer.send(0x0, encoder.encode("lo "), { fin: false });
      peer.send(0x0, encoder.encode("world"));
      const pong = await peer.nextFrame();
      assert.deepEqual([pong?.opcode, pong?.masked, decoder.decode(pong?.payload)], [
        0xa,
        true,
        "are you there",
      ]);
      peer.send(0x1, encoder.encode("text too"));
      peer.send(0x8, Uint8Array.of(0x0f, 0xa0, ...encoder.encode("bye")));
      const close = await peer.nextMessage();
      assert.equal(close?.opcode, 0x8);
      peer.socket.end();
    },
    async (port) => {
      const ws = await connectWebSocket(await connectTcp(port), { path: "/", host: "h", protocols: [] });
      assert.equal(decoder.decode((await ws.read())!), "hello world");
      assert.equal(decoder.decode((await ws.read())!), "text too");
      assert.equal(await ws.read(), null);
      const info = await ws.closed;
      assert.deepEqual([info.code, info.reason, info.clean], [4000, "bye", true]);
    },
  );
});

Deno.test("protocol violations fail the connection with a close frame and a WebSocketError", async () => {
  const violations: [string, (peer: RawPeer) => void][] = [
    ["a masked server frame", (peer) => peer.send(0x2, encoder.encode("x"), { mask: true })],
    ["reserved bits", (peer) => peer.socket.write(Uint8Array.of(0xc2, 0x00))],
    ["a continuation without a start", (peer) => peer.send(0x0, encoder.encode("x"))],
    ["a fragmented ping", (peer) => peer.send(0x9, encoder.encode("x"), { fin: false })],
  ];
  for (const [what, violate] of violations) {
    let closeCode = 0;
    await withRawServer(
      async (peer) => {
        peer.accept();
        violate(peer);
        const close = await peer.nextMessage();
        closeCode = close ? (close.payload[0] << 8) | close.payload[1] : 0;
      },
      async (port) => {
        const ws = await connectWebSocket(await connectTcp(port), { path: "/", host: "h", protocols: [] });
        await assert.rejects(ws.read(), WebSocketError, what);
        await ws.closed;
      },
    );
    assert.equal(closeCode, 1002, what);
  }
});

Deno.test("a message over the size limit fails the connection (1009)", async () => {
  await withRawServer(
    (peer) => {
      peer.accept();
      peer.send(0x2, new Uint8Array(2048));
    },
    async (port) => {
      const ws = await connectWebSocket(await connectTcp(port), {
        path: "/",
        host: "h",
        protocols: [],
        maxMessageBytes: 1024,
      });
      await assert.rejects(ws.read(), /exceeds/);
      assert.equal((await ws.closed).code, 1009);
    },
  );
});

Deno.test("a connection that ends without a close frame fails the pending read", async () => {
  await withRawServer(
    (peer) => {
      peer.accept();
      peer.send(0x2, encoder.encode("last words"));
      setTimeout(() => peer.socket.end(), 20);
    },
    async (port) => {
      const ws = await connectWebSocket(await connectTcp(port), { path: "/", host: "h", protocols: [] });
      assert.equal(decoder.decode((await ws.read())!), "last words");
      await assert.rejects(ws.read(), /without a WebSocket close handshake/);
      assert.equal((await ws.closed).clean, false);
    },
  );
});

Deno.test("a slow reader pauses the socket: the sender stalls, nothing piles up, every byte arrives", async () => {
  const total = 64 * 1024 * 1024;
  const frame = bytes(32 * 1024);
  let sent = 0;
  let sender: RawPeer | undefined;
  const finished = Promise.withResolvers<void>();
  await withRawServer(
    (peer) => {
      sender = peer;
      peer.accept();
      const pump = () => {
        while (sent < total) {
          sent += frame.length + 4;
          if (!peer.send(0x2, frame)) return peer.socket.once("drain", pump);
        }
        peer.send(0x8, Uint8Array.of(0x03, 0xe8));
        finished.resolve();
      };
      pump();
    },
    async (port) => {
      const ws = await connectWebSocket(await connectTcp(port), {
        path: "/",
        host: "h",
        protocols: [],
        highWaterBytes: 256 * 1024,
      });
      await new Promise((resolve) => setTimeout(resolve, 300));
      // What left the sender sits in kernel buffers (a few MiB on loopback) and our bounded queue.
      const outOfSender = sent - sender!.socket.writableLength;
      assert.ok(ws.bufferedBytes <= 256 * 1024 + 128 * 1024, `buffered ${ws.bufferedBytes}`);
      assert.ok(outOfSender < 24 * 1024 * 1024, `${outOfSender} bytes left the sender while nobody read`);
      let received = 0;
      for await (const message of ws.messages()) {
        assert.deepEqual(new Uint8Array(message), frame);
        received += message.length;
      }
      assert.equal(received, total);
      await finished.promise;
    },
  );
});

Deno.test("masking matches the byte-by-byte definition at every alignment", () => {
  const mask = Uint8Array.of(0x12, 0x34, 0x56, 0x78);
  for (let offset = 0; offset < 8; offset++) {
    for (const length of [0, 1, 3, 4, 5, 17, 64, 1001]) {
      const backing = new Uint8Array(offset + 16 + length);
      const data = bytes(length);
      const view = backing.subarray(offset, offset + 16 + length);
      view.set(data, 16);
      applyMask(view, 16, mask);
      const expected = data.map((b, i) => b ^ mask[i & 3]);
      assert.deepEqual(view.subarray(16), expected, `offset ${offset}, length ${length}`);
    }
  }
});

Deno.test("client frames are final, masked and length-coded as RFC 6455 says", () => {
  const mask = Uint8Array.of(1, 2, 3, 4);
  const small = encodeFrame(0x2, [encoder.encode("ab"), encoder.encode("c")], mask);
  assert.deepEqual([...small.subarray(0, 6)], [0x82, 0x83, 1, 2, 3, 4]);
  assert.deepEqual([...small.subarray(6)], [0x61 ^ 1, 0x62 ^ 2, 0x63 ^ 3]);
  const medium = encodeFrame(0x2, [new Uint8Array(300)], mask);
  assert.deepEqual([...medium.subarray(0, 4)], [0x82, 0x80 | 126, 1, 44]);
  const large = encodeFrame(0x2, [new Uint8Array(70_000)], mask);
  assert.equal(large[1], 0x80 | 127);
  assert.equal(new DataView(large.buffer).getBigUint64(2), 70_000n);
  assert.equal(large.length, 2 + 8 + 4 + 70_000);
});
