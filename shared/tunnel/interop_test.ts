// Conformance against the reference implementation: hashicorp/yamux (Go), with JS as client and as server.
// The Go peer (tests/interop/yamux_go) is built once into the git-ignored .cache/interop/, keyed by a hash of
// its sources. Go must be on PATH (or set GO to the go binary).
import assert from "node:assert/strict";
import net from "node:net";
import { type SessionOptions, YamuxSession } from "./session.ts";
import type { YamuxStream } from "./stream.ts";
import { concat, patternBytes, readAll, sha256Hex, writeAll } from "./test_util.ts";

const repoRoot = new URL("../../", import.meta.url);
const goModule = new URL("tests/interop/yamux_go/", repoRoot);
const encoder = new TextEncoder();
const decoder = new TextDecoder();

async function goPeerBinary(): Promise<string> {
  const sources = await Promise.all(
    ["go.mod", "go.sum", "main.go"].map((name) => Deno.readFile(new URL(name, goModule))),
  );
  const key = (await sha256Hex(concat(sources))).slice(0, 16);
  const binary = new URL(`.cache/interop/yamux_go-${key}/yamux_peer`, repoRoot).pathname;
  try {
    await Deno.stat(binary);
    return binary;
  } catch {
    // not built yet
  }
  const go = Deno.env.get("GO") ?? "go";
  console.log(`building the hashicorp/yamux interop peer with ${go} (first run only)`);
  let status: Deno.CommandStatus;
  try {
    status = await new Deno.Command(go, {
      args: ["build", "-v", "-o", binary, "."],
      cwd: goModule.pathname,
      env: { GOFLAGS: "-mod=readonly" },
      stdout: "inherit",
      stderr: "inherit",
    }).spawn().status;
  } catch (error) {
    throw new Error(
      `cannot build the yamux interop peer: Go toolchain "${go}" not runnable (put go on PATH or set GO)`,
      { cause: error },
    );
  }
  if (!status.success) {
    throw new Error(`go build of ${goModule.pathname} failed with exit code ${status.code}`);
  }
  return binary;
}

interface GoPeer {
  child: Deno.ChildProcess;
  stdout: Promise<string>;
  stderr: Promise<string>;
  /** Closing the Go peer's stdin makes it close its session. */
  closeStdin(): Promise<void>;
}

function startGoPeer(binary: string, args: string[]): { peer: GoPeer; firstLine: Promise<string> } {
  const child = new Deno.Command(binary, { args, stdin: "piped", stdout: "piped", stderr: "piped" }).spawn();
  const firstLine = Promise.withResolvers<string>();
  const collect = async (stream: ReadableStream<Uint8Array>, onText?: (text: string) => void) => {
    let text = "";
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      text += chunk;
      onText?.(text);
    }
    return text;
  };
  const stdout = collect(child.stdout, (text) => {
    if (text.includes("\n")) firstLine.resolve(text.slice(0, text.indexOf("\n")));
  });
  stdout.then((text) => firstLine.resolve(text)); // never leave it pending
  const stdin = child.stdin.getWriter();
  return {
    peer: { child, stdout, stderr: collect(child.stderr), closeStdin: () => stdin.close() },
    firstLine: firstLine.promise,
  };
}

interface Sink {
  expected: string;
  actual: Promise<string>;
}

/** Handles the streams the Go peer opens: "echo\n" echoes the rest, "sink <sha256>\n" hashes the rest. */
function serveGoStream(stream: YamuxStream, sinks: Map<number, Sink>, errors: Error[]): void {
  stream.on("error", (error) => errors.push(error));
  let head: Uint8Array = new Uint8Array(0);
  let mode: "head" | "echo" | "sink" = "head";
  const sinkChunks: Uint8Array[] = [];
  const sinkDone = Promise.withResolvers<string>();
  const echoChunk = (chunk: Uint8Array) => {
    if (!stream.write(chunk)) {
      stream.pause();
      stream.once("drain", () => stream.resume());
    }
  };
  stream.on("data", (chunk: Uint8Array) => {
    if (mode === "echo") return echoChunk(chunk);
    if (mode === "sink") return void sinkChunks.push(chunk);
    head = concat([head, chunk]);
    const newline = head.indexOf(10);
    if (newline < 0) return;
    const line = decoder.decode(head.subarray(0, newline));
    const rest = head.subarray(newline + 1);
    if (line === "echo") {
      mode = "echo";
      echoChunk(rest);
    } else if (line.startsWith("sink ")) {
      mode = "sink";
      sinkChunks.push(rest);
      sinks.set(stream.id, { expected: line.slice(5), actual: sinkDone.promise });
    } else {
      errors.push(new Error(`unexpected first line from Go on stream ${stream.id}: ${line}`));
      stream.destroy();
    }
  });
  stream.on("end", () => {
    if (mode === "sink") sinkDone.resolve(sha256Hex(concat(sinkChunks)));
    stream.end();
  });
}

async function command(session: YamuxSession, line: string): Promise<string> {
  const stream = session.openStream();
  const reply = readAll(stream);
  await writeAll(stream, encoder.encode(`${line}\n`));
  return decoder.decode(await reply).trim();
}

async function echoThroughGo(session: YamuxSession, payload: Uint8Array): Promise<Uint8Array> {
  const stream = session.openStream();
  const reply = readAll(stream);
  await writeAll(stream, concat([encoder.encode("echo\n"), payload]));
  return await reply;
}

/** Everything both roles exercise, up to (not including) closing the session. */
async function exercise(session: YamuxSession, sinks: Map<number, Sink>, goAwayReceived: Promise<void>) {
  const payloads = Array.from({ length: 6 }, (_, i) => patternBytes(1024 * 1024 + i * 4093, i + 1));
  const echoed = await Promise.all(payloads.map((payload) => echoThroughGo(session, payload)));
  for (let i = 0; i < payloads.length; i++) {
    assert.equal(await sha256Hex(echoed[i]), await sha256Hex(payloads[i]), `echo of stream ${i} intact`);
  }

  const jsRtt = await session.ping();
  const goPing = await command(session, "ping");
  assert.match(goPing, /^ok \d+$/, "Go pinged JS");

  const [sentId, sentSha] = (await command(session, `send ${4 * 1024 * 1024}`)).split(" ");
  const sink = sinks.get(Number(sentId));
  assert.ok(sink, `JS accepted Go's stream ${sentId}`);
  assert.equal(sink.expected, sentSha);
  assert.equal(await sink.actual, sentSha, "4 MiB from Go arrived intact");

  assert.equal(await command(session, `echoback 4 ${1024 * 1024}`), "ok", "JS echoed Go's streams intact");

  session.goAway();
  assert.match(await command(session, "tryopen"), /^refused: remote end is not accepting connections/);

  assert.equal(await command(session, "goaway"), "ok");
  await goAwayReceived;
  assert.throws(() => session.openStream(), /GoAway/);
  return { jsRtt, goRttUs: Number(goPing.split(" ")[1]) };
}

function jsSessionOptions(role: "client" | "server", streamWindow?: number) {
  const sinks = new Map<number, Sink>();
  const errors: Error[] = [];
  const goAway = Promise.withResolvers<void>();
  const options: SessionOptions = {
    role,
    keepAliveIntervalMs: 200,
    streamWindow,
    onStream: (stream) => serveGoStream(stream, sinks, errors),
    onGoAway: goAway.resolve,
  };
  return { options, sinks, errors, goAwayReceived: goAway.promise };
}

async function finishGoPeer(peer: GoPeer) {
  const [status, stdout, stderr] = await Promise.all([peer.child.status, peer.stdout, peer.stderr]);
  const goLog = stderr.trim();
  if (goLog) console.log(`Go peer log:\n${goLog}`);
  assert.ok(stdout.includes("session closed"), `Go peer output: ${stdout}`);
  assert.equal(status.code, 0, `Go peer failed: ${stderr}`);
  assert.ok(!goLog.includes("[ERR]"), "hashicorp/yamux logged no error");
}

Deno.test("interop: JS client (1 MiB stream window) with a hashicorp/yamux server", async () => {
  const binary = await goPeerBinary();
  const { peer, firstLine } = startGoPeer(binary, ["listen"]);
  const port = Number((await firstLine).replace("listening ", ""));
  assert.ok(port > 0, `Go peer did not report a port: ${await firstLine}`);
  const socket = net.connect(port, "127.0.0.1");
  await new Promise((resolve, reject) => socket.once("connect", resolve).once("error", reject));
  socket.setNoDelay(true);
  // A window above hashicorp's 256 KiB default: Go must honour the larger window JS advertises in SYN.
  const { options, sinks, errors, goAwayReceived } = jsSessionOptions("client", 1024 * 1024);
  const session = new YamuxSession(socket, options);
  try {
    const { jsRtt, goRttUs } = await exercise(session, sinks, goAwayReceived);
    console.log(`ping JS→Go ${jsRtt.toFixed(2)} ms, Go→JS ${(goRttUs / 1000).toFixed(2)} ms`);
    await session.close();
    assert.equal(await session.closed, undefined);
    assert.deepEqual(errors, []);
  } finally {
    await session.close();
    await peer.closeStdin().catch(() => {});
    await finishGoPeer(peer);
  }
});

Deno.test("interop: hashicorp/yamux client with a JS server", async () => {
  const binary = await goPeerBinary();
  const listener = net.createServer();
  await new Promise<void>((resolve) => listener.listen(0, "127.0.0.1", resolve));
  const accepted = new Promise<net.Socket>((resolve) => listener.once("connection", resolve));
  const { peer } = startGoPeer(binary, ["dial", String((listener.address() as net.AddressInfo).port)]);
  const socket = await accepted;
  listener.close();
  socket.setNoDelay(true);
  const { options, sinks, errors, goAwayReceived } = jsSessionOptions("server");
  const session = new YamuxSession(socket, options);
  try {
    const { jsRtt, goRttUs } = await exercise(session, sinks, goAwayReceived);
    console.log(`ping JS→Go ${jsRtt.toFixed(2)} ms, Go→JS ${(goRttUs / 1000).toFixed(2)} ms`);
    // This time Go closes the session; it announced GoAway before, so for JS it is a normal close.
    await peer.closeStdin();
    assert.equal(await session.closed, undefined);
    assert.ok(socket.destroyed);
    assert.deepEqual(errors, []);
  } finally {
    await session.close();
    await peer.closeStdin().catch(() => {});
    await finishGoPeer(peer);
  }
});
