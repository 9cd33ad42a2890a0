/**
 * A byte relay for the Get benchmark: every connection to it is joined to a
 * new connection to the target, and bytes are copied both ways untouched.
 * Two of these in a row cost what two extra processes on the path cost at
 * the least (the hub and the agent are two more processes), with no HTTP,
 * TLS or protocol work at all. Prints its port on stdout.
 *
 * deno run --allow-net bench/tcp_relay.ts <target host> <target port>
 */
import * as net from "node:net";

const [targetHost, targetPort] = [Deno.args[0], Number(Deno.args[1])];

const server = net.createServer((incoming) => {
  const outgoing = net.connect(targetPort, targetHost);
  for (const socket of [incoming, outgoing]) socket.setNoDelay(true);
  incoming.pipe(outgoing).pipe(incoming);
  incoming.on("error", () => outgoing.destroy());
  outgoing.on("error", () => incoming.destroy());
});
server.listen(0, "127.0.0.1", () => console.log((server.address() as net.AddressInfo).port));
