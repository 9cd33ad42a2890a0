import assert from "node:assert/strict";
import {
  CHANNEL_CHUNK_BYTES,
  channelMessages,
  closeChannelMessage,
  EXEC_SUCCESS,
  parseExecOutcome,
  PortPrefix,
  resizeMessage,
  splitChannelMessage,
  STREAM_PROTOCOL_V1,
  STREAM_PROTOCOL_V4,
  STREAM_PROTOCOL_V5,
  supportsCloseChannel,
  supportsResize,
} from "./channel_protocol.ts";

const encoder = new TextEncoder();
const json = (value: unknown) => encoder.encode(JSON.stringify(value));

Deno.test("exec outcome: Success, and a kubelet's NonZeroExitCode with its ExitCode cause", () => {
  assert.deepEqual(
    parseExecOutcome(STREAM_PROTOCOL_V5, json({ metadata: {}, status: "Success" })),
    EXEC_SUCCESS,
  );
  const kubelet = {
    status: "Failure",
    message: "command terminated with non-zero exit code: exit status 7",
    reason: "NonZeroExitCode",
    details: { causes: [{ reason: "ExitCode", message: "7" }] },
  };
  assert.deepEqual(parseExecOutcome(STREAM_PROTOCOL_V4, json(kubelet)), {
    exited: true,
    code: 7,
    reason: "NonZeroExitCode",
    message: kubelet.message,
  });
});

Deno.test("exec outcome: kwok's InternalError ending in 'exit status N' is an exit with code N", () => {
  // As the test bed's apiserver sends it over v5 (captured).
  const kwok = {
    metadata: {},
    status: "Failure",
    message:
      "Internal error occurred: error executing command in container: cmd wait: sh -c exit 3: exit status 3",
    reason: "InternalError",
    details: { causes: [{ message: "…: exit status 3" }] },
    code: 500,
  };
  const outcome = parseExecOutcome(STREAM_PROTOCOL_V5, json(kwok));
  assert.deepEqual([outcome.exited, outcome.code, outcome.reason], [true, 3, "NonZeroExitCode"]);
  assert.equal(outcome.message, kwok.message);
});

Deno.test("exec outcome: a failure that is not an exit keeps its reason and message", () => {
  const failure = {
    status: "Failure",
    reason: "InternalError",
    message: 'exec: "nope": executable file not found in $PATH',
  };
  assert.deepEqual(parseExecOutcome(STREAM_PROTOCOL_V5, json(failure)), {
    exited: false,
    code: 0,
    reason: "InternalError",
    message: failure.message,
  });
});

Deno.test("exec outcome: v4/v5 without a Status is not reported as success; v1 plain text is read", () => {
  const none = parseExecOutcome(STREAM_PROTOCOL_V5, new Uint8Array(0));
  assert.deepEqual([none.exited, none.reason], [false, "Unknown"]);
  assert.deepEqual(parseExecOutcome(STREAM_PROTOCOL_V1, new Uint8Array(0)), EXEC_SUCCESS);
  const text = parseExecOutcome(STREAM_PROTOCOL_V1, encoder.encode("command terminated: exit code 2"));
  assert.deepEqual([text.exited, text.code, text.reason], [true, 2, "NonZeroExitCode"]);
  const broken = parseExecOutcome(STREAM_PROTOCOL_V1, encoder.encode("container not running"));
  assert.deepEqual([broken.exited, broken.reason, broken.message], [
    false,
    "InternalError",
    "container not running",
  ]);
});

Deno.test("channel messages: one channel byte, then data in chunks of at most 32 KiB", () => {
  const data = new Uint8Array(CHANNEL_CHUNK_BYTES * 2 + 5).map((_, i) => i & 0xff);
  const messages = channelMessages(0, data);
  assert.deepEqual(messages.map(([channel, part]) => [channel[0], part.length]), [
    [0, CHANNEL_CHUNK_BYTES],
    [0, CHANNEL_CHUNK_BYTES],
    [0, 5],
  ]);
  assert.deepEqual(messages.flatMap(([, part]) => [...part]), [...data]);
  assert.deepEqual(channelMessages(0, new Uint8Array(0)), []);
  assert.deepEqual(splitChannelMessage(Uint8Array.of(2, 65, 66)), {
    channel: 2,
    data: Uint8Array.of(65, 66),
  });
  assert.equal(splitChannelMessage(new Uint8Array(0)), undefined);
  assert.deepEqual(closeChannelMessage(0), Uint8Array.of(255, 0));
});

Deno.test("resize is a JSON TerminalSize; which protocols can resize and half-close", () => {
  assert.deepEqual(JSON.parse(new TextDecoder().decode(resizeMessage(120, 40))), { Width: 120, Height: 40 });
  assert.deepEqual(
    ["v5.channel.k8s.io", "v4.channel.k8s.io", "v3.channel.k8s.io", "v2.channel.k8s.io", "channel.k8s.io", ""]
      .map(
        supportsResize,
      ),
    [true, true, true, false, false, false],
  );
  assert.equal(supportsCloseChannel("v5.channel.k8s.io"), true);
  assert.equal(supportsCloseChannel("v4.channel.k8s.io"), false);
});

Deno.test("the port prefix is dropped even when split, and a wrong port is refused", () => {
  const prefix = new PortPrefix(8080); // 0x1f90, little-endian 0x90 0x1f
  assert.deepEqual(prefix.strip(Uint8Array.of(0x90)), new Uint8Array(0));
  assert.deepEqual(prefix.strip(Uint8Array.of(0x1f, 1, 2)), Uint8Array.of(1, 2));
  assert.deepEqual(prefix.strip(Uint8Array.of(3)), Uint8Array.of(3));
  assert.throws(() => new PortPrefix(80).strip(Uint8Array.of(0x90, 0x1f)), /port 8080, not 80/);
});
