/**
 * Bulk bytes through one tunnel stream (yamux over mutual-TLS-grade TLS 1.3)
 * against the same bytes on a raw TLS connection, receiver in another
 * process. Each mode sends a warm-up transfer, then three measured ones.
 */
import * as tls from "node:tls";
import type { Duplex } from "node:stream";
import { createCa, issueServerCert } from "../../shared/pki/mod.ts";
import { YamuxSession } from "../../shared/tunnel/session.ts";
import type { BenchRow } from "../table.ts";

const transferBytes = 64 * 1024 * 1024;
const chunkBytes = 64 * 1024;
const measuredTransfers = 3;

export async function benchTunnelBulk(): Promise<BenchRow[]> {
  const ca = await createCa();
  const cert = await issueServerCert({ ca, hosts: ["127.0.0.1"] });
  const rows: BenchRow[] = [];
  const results: Record<string, number> = {};
  for (const mode of ["raw", "yamux"] as const) {
    const peer = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        new URL("../tunnel_peer.ts", import.meta.url).pathname,
        mode,
        String(transferBytes),
      ],
      env: { BENCH_CERT: cert.certPem, BENCH_KEY: cert.keyPem },
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    const reader = peer.stdout.pipeThrough(new TextDecoderStream()).getReader();
    const port = Number((await reader.read()).value?.trim());
    reader.releaseLock();
    try {
      const socket = await connect(port, ca.certPem);
      const session = mode === "yamux"
        ? new YamuxSession(socket, { role: "client", keepAliveIntervalMs: 0 })
        : undefined;
      const conn: Duplex = session ? session.openStream() : socket;
      await transfer(conn); // warm-up: JIT and TCP windows
      const started = performance.now();
      for (let i = 0; i < measuredTransfers; i++) await transfer(conn);
      const seconds = (performance.now() - started) / 1000;
      results[mode] = (measuredTransfers * transferBytes) / (1024 * 1024) / seconds;
      await session?.close();
      socket.destroy();
    } finally {
      peer.kill();
      await peer.status;
      await peer.stdout.cancel().catch(() => {});
    }
  }
  rows.push({ suite: "tunnel-bulk", name: "raw TLS 1.3, 1 connection", values: { mib_per_s: results.raw } });
  rows.push({
    suite: "tunnel-bulk",
    name: "yamux over TLS 1.3, 1 stream",
    values: { mib_per_s: results.yamux, of_raw_pct: (100 * results.yamux) / results.raw },
  });
  return rows;
}

function connect(port: number, caPem: string): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect(
      { host: "127.0.0.1", port, ca: caPem, minVersion: "TLSv1.3" },
      () => resolve(socket),
    );
    socket.setNoDelay(true);
    socket.once("error", reject);
  });
}

/** Sends one transfer with backpressure and waits for the peer's one-byte acknowledgement. */
async function transfer(conn: Duplex): Promise<void> {
  const ack = new Promise<void>((resolve) => conn.once("data", () => resolve()));
  const chunk = new Uint8Array(chunkBytes).fill(7);
  for (let sent = 0; sent < transferBytes; sent += chunkBytes) {
    if (!conn.write(chunk)) await new Promise((resolve) => conn.once("drain", resolve));
  }
  await ack;
}
