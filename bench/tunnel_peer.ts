/**
 * The receiving end of the tunnel benchmark, run as its own process so the
 * two ends do not share one JavaScript thread: a TLS listener that counts
 * bytes, either straight off the TLS socket ("raw") or off the streams of a
 * yamux session ("yamux"), and answers each `transferBytes` received with one
 * byte. Prints its port on stdout.
 *
 * deno run -A bench/tunnel_peer.ts raw|yamux <transferBytes>   (cert and key in BENCH_CERT, BENCH_KEY)
 */
import * as tls from "node:tls";
import type { Duplex } from "node:stream";
import { YamuxSession } from "../shared/tunnel/session.ts";
import { tunnelStreamWindow } from "../shared/tunnel/tunnel_settings.ts";

const mode = Deno.args[0];
const transferBytes = Number(Deno.args[1]);

function acknowledgeTransfers(conn: Duplex): void {
  let received = 0;
  conn.on("data", (chunk: Uint8Array) => {
    received += chunk.length;
    while (received >= transferBytes) {
      conn.write(new Uint8Array([1]));
      received -= transferBytes;
    }
  });
}

const options = {
  cert: Deno.env.get("BENCH_CERT"),
  key: Deno.env.get("BENCH_KEY"),
  minVersion: "TLSv1.3" as const,
};
const server = tls.createServer(options, (socket) => {
  socket.setNoDelay(true);
  if (mode === "raw") acknowledgeTransfers(socket);
  // The window the hub and agent use: it decides single-stream throughput.
  else {new YamuxSession(socket, {
      role: "server",
      onStream: acknowledgeTransfers,
      streamWindow: tunnelStreamWindow,
    });}
});
server.listen(0, "127.0.0.1", () => console.log((server.address() as { port: number }).port));
