/**
 * A proxy in front of a test-bed apiserver that refuses every WebSocket upgrade (as some corporate proxies
 * and old intermediaries do) and passes everything else through unchanged: plain HTTP on loopback towards
 * the agent, TLS towards the apiserver. It looks only at the first request head of each connection; the
 * agent opens a fresh connection for every upgrade, so that is the upgrade request.
 */
import net from "node:net";
import tls from "node:tls";
import { Buffer } from "node:buffer";
import { readFileSync } from "node:fs";

export interface RefusingProxy {
  port: number;
  /** WebSocket upgrades answered with 400. */
  refusedWebSockets: number;
  /** SPDY upgrades passed through. */
  spdyUpgrades: number;
  close(): Promise<void>;
}

const REFUSAL_BODY = "WebSocket upgrades are not allowed through this proxy";

export async function startWebSocketRefusingProxy(apiserver: URL, caFile: string): Promise<RefusingProxy> {
  const ca = readFileSync(caFile);
  const sockets = new Set<net.Socket>();
  const state = { refusedWebSockets: 0, spdyUpgrades: 0 };
  const server = net.createServer((client) => {
    sockets.add(client);
    client.on("close", () => sockets.delete(client));
    client.on("error", () => {});
    const chunks: Uint8Array[] = [];
    const onData = (chunk: Uint8Array) => {
      chunks.push(chunk);
      const buffered = Buffer.concat(chunks);
      const headEnd = buffered.indexOf("\r\n\r\n");
      if (headEnd < 0) return;
      client.off("data", onData);
      client.pause();
      const head = buffered.subarray(0, headEnd).toString("latin1");
      if (/^upgrade:\s*websocket\s*$/im.test(head)) {
        state.refusedWebSockets++;
        client.end(
          `HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: ${REFUSAL_BODY.length}\r\n` +
            `Connection: close\r\n\r\n${REFUSAL_BODY}`,
        );
        return;
      }
      if (/^upgrade:\s*spdy\/3\.1\s*$/im.test(head)) state.spdyUpgrades++;
      const upstream = tls.connect({ host: apiserver.hostname, port: Number(apiserver.port), ca });
      sockets.add(upstream);
      upstream.on("close", () => sockets.delete(upstream));
      upstream.on("error", () => client.destroy());
      client.on("error", () => upstream.destroy());
      upstream.write(buffered);
      client.pipe(upstream);
      upstream.pipe(client);
      client.resume();
    };
    client.on("data", onData);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    get refusedWebSockets() {
      return state.refusedWebSockets;
    },
    get spdyUpgrades() {
      return state.spdyUpgrades;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
