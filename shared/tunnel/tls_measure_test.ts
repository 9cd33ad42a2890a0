// Measurement, not a benchmark gate: yamux over node:tls on loopback against raw node:tls. Prints a table;
// asserts only that every byte arrived. Numbers vary with the machine and its load.
import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import type { Duplex } from "node:stream";
import tls from "node:tls";
import { YamuxSession } from "./session.ts";
import type { YamuxStream } from "./stream.ts";
import { patternBytes } from "./test_util.ts";

const MiB = 1024 * 1024;

async function selfSignedLocalhost(): Promise<{ cert: string; key: string }> {
  const algorithm = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" };
  const keys = await crypto.subtle.generateKey(algorithm, true, ["sign", "verify"]) as CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: "01",
    name: "CN=localhost",
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 3_600_000),
    keys,
    signingAlgorithm: algorithm,
    extensions: [
      new x509.BasicConstraintsExtension(false),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension([{ type: "dns", value: "localhost" }]),
    ],
  });
  const pkcs8 = new Uint8Array(await crypto.subtle.exportKey("pkcs8", keys.privateKey));
  const key = x509.PemConverter.encode(pkcs8.buffer, "PRIVATE KEY");
  return { cert: cert.toString("pem"), key };
}

interface TlsPair {
  client: tls.TLSSocket;
  server: tls.TLSSocket;
  close(): Promise<void>;
}

async function tlsPair(credentials: { cert: string; key: string }): Promise<TlsPair> {
  const listener = tls.createServer({ ...credentials, minVersion: "TLSv1.3" });
  await new Promise<void>((resolve) => listener.listen(0, "127.0.0.1", resolve));
  const accepted = new Promise<tls.TLSSocket>((resolve) => listener.once("secureConnection", resolve));
  const client = tls.connect({
    host: "127.0.0.1",
    port: (listener.address() as AddressInfo).port,
    servername: "localhost",
    ca: credentials.cert,
  });
  await new Promise((resolve, reject) => client.once("secureConnect", resolve).once("error", reject));
  const server = await accepted;
  listener.close();
  client.setNoDelay(true);
  server.setNoDelay(true);
  const closed = (socket: tls.TLSSocket) =>
    new Promise<void>((resolve) => socket.destroyed ? resolve() : socket.once("close", () => resolve()));
  return {
    client,
    server,
    async close() {
      client.destroy();
      server.destroy();
      await Promise.all([closed(client), closed(server)]);
    },
  };
}

/** Writes `total` bytes (in 1 MiB writes, with backpressure); resolves when the reader has all of them. */
async function bulk(writer: Duplex, reader: Duplex, total: number): Promise<number> {
  const block = patternBytes(MiB);
  let received = 0;
  const done = new Promise<void>((resolve) => {
    const onData = (chunk: Uint8Array) => {
      received += chunk.length;
      if (received >= total) {
        reader.off("data", onData);
        resolve();
      }
    };
    reader.on("data", onData);
  });
  const started = performance.now();
  for (let sent = 0; sent < total; sent += MiB) {
    if (!writer.write(block)) await new Promise((resolve) => writer.once("drain", resolve));
  }
  await done;
  assert.equal(received, total);
  return total / MiB / ((performance.now() - started) / 1000);
}

/** Sequential 100-byte request / 100-byte reply exchanges; returns [p50, p99] in ms. */
async function roundTrips(client: Duplex, server: Duplex, count: number): Promise<[number, number]> {
  server.on("data", (chunk: Uint8Array) => server.write(chunk));
  const message = patternBytes(100);
  const latencies: number[] = [];
  for (let i = 0; i < count; i++) {
    const started = performance.now();
    await new Promise<void>((resolve) => {
      let got = 0;
      const onData = (chunk: Uint8Array) => {
        got += chunk.length;
        if (got >= message.length) {
          client.off("data", onData);
          resolve();
        }
      };
      client.on("data", onData);
      client.write(message);
    });
    latencies.push(performance.now() - started);
  }
  server.removeAllListeners("data");
  latencies.sort((a, b) => a - b);
  return [latencies[Math.floor(count * 0.5)], latencies[Math.floor(count * 0.99)]];
}

function yamuxOverTls(pair: TlsPair, streamWindow?: number, onStream?: (stream: YamuxStream) => void) {
  const accepted: YamuxStream[] = [];
  const options = { keepAliveIntervalMs: 0, streamWindow };
  const client = new YamuxSession(pair.client, { role: "client", ...options });
  const server = new YamuxSession(pair.server, {
    role: "server",
    ...options,
    onStream: onStream ?? ((stream) => accepted.push(stream)),
  });
  const openPair = async () => {
    const stream = client.openStream();
    let remote: YamuxStream | undefined;
    while (!(remote = accepted.find((candidate) => candidate.id === stream.id))) {
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    return { local: stream, remote };
  };
  return { client, server, openPair };
}

Deno.test("measure: bulk throughput and round trips, yamux over node:tls vs raw node:tls", async () => {
  const credentials = await selfSignedLocalhost();
  const total = 32 * MiB;
  const rows: string[] = [];

  {
    const pair = await tlsPair(credentials);
    const cold = await bulk(pair.client, pair.server, total);
    const warm = await bulk(pair.client, pair.server, total);
    const [p50, p99] = await roundTrips(pair.client, pair.server, 500);
    rows.push(row("raw node:tls", cold, warm, p50, p99));
    await pair.close();
  }

  for (const window of [256 * 1024, MiB, 16 * MiB]) {
    const pair = await tlsPair(credentials);
    const yamux = yamuxOverTls(pair, window);
    const { local, remote } = await yamux.openPair();
    const cold = await bulk(local, remote, total);
    const warm = await bulk(local, remote, total);
    const [p50, p99] = await roundTrips(local, remote, 500);
    rows.push(row(`yamux 1 stream, window ${window / 1024} KiB`, cold, warm, p50, p99));

    const streams = await Promise.all(Array.from({ length: 16 }, () => yamux.openPair()));
    const started = performance.now();
    await Promise.all(streams.map(({ local, remote }) => bulk(local, remote, 4 * MiB)));
    const concurrent = 64 / ((performance.now() - started) / 1000);
    rows.push(`  16 streams × 4 MiB concurrently: ${concurrent.toFixed(0)} MiB/s`);
    await Promise.all([yamux.client.close(), yamux.server.close()]);
    await pair.close();
  }

  {
    const pair = await tlsPair(credentials);
    const httpServer = http.createServer((_request, response) => response.end("ok"));
    Object.defineProperty(httpServer, "listening", { get: () => true }); // see http_test.ts
    const yamux = yamuxOverTls(pair, undefined, (stream) => httpServer.emit("connection", stream));
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    Object.assign(agent, { createConnection: () => yamux.client.openStream() });
    const latencies: number[] = [];
    for (let i = 0; i < 1000; i++) {
      const started = performance.now();
      const body = await new Promise<string>((resolve, reject) => {
        http.get({ agent, host: "cluster.invalid", path: `/r/${i}` }, (response) => {
          let text = "";
          response.on("data", (chunk) => text += chunk);
          response.on("end", () => resolve(text));
        }).on("error", reject);
      });
      assert.equal(body, "ok");
      latencies.push(performance.now() - started);
    }
    latencies.sort((a, b) => a - b);
    const total = latencies.reduce((sum, value) => sum + value, 0);
    rows.push(
      `node:http keep-alive GET over yamux/TLS, 1000 sequential: total ${total.toFixed(0)} ms, ` +
        `p50 ${latencies[500].toFixed(3)} ms, p99 ${latencies[990].toFixed(3)} ms`,
    );
    agent.destroy();
    await Promise.all([yamux.client.close(), yamux.server.close()]);
    await pair.close();
  }

  console.log(
    `\n${"configuration".padEnd(34)} cold MiB/s  warm MiB/s  rtt p50 ms  rtt p99 ms\n${rows.join("\n")}`,
  );
});

function row(name: string, cold: number, warm: number, p50: number, p99: number): string {
  const cells = [cold, warm].map((value) => value.toFixed(0).padStart(10));
  const times = [p50, p99].map((value) => value.toFixed(3).padStart(10));
  return `${name.padEnd(34)} ${cells.join("  ")}  ${times.join("  ")}`;
}
