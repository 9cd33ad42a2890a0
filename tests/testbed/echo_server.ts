// The real local listener behind the demo pod's port-forward: a tiny HTTP server on loopback that
// answers every request with a fixed greeting line, then echoes the request line and body.
// Usage: deno run --allow-net=127.0.0.1 echo_server.ts <port> <greeting>
const [portArg, greeting] = Deno.args;
const port = Number(portArg);
if (!Number.isInteger(port) || !greeting) {
  console.error("usage: echo_server.ts <port> <greeting>");
  Deno.exit(2);
}

Deno.serve({ hostname: "127.0.0.1", port }, async (req) => {
  const body = await req.text();
  const url = new URL(req.url);
  return new Response(`${greeting}\n${req.method} ${url.pathname}\n${body}`, {
    headers: { "content-type": "text/plain" },
  });
});
