import assert from "node:assert/strict";
import { createLogger } from "../../shared/log.ts";
import { backgroundBootstrap } from "./background.ts";

const quick = { initialMs: 5, maxMs: 20 };

Deno.test("a failing bootstrap is logged and retried until it succeeds, once started", async () => {
  const lines: string[] = [];
  let runs = 0;
  const bootstrap = backgroundBootstrap(
    () => {
      runs++;
      return runs < 3 ? Promise.reject(new Error(`apiserver busy ${runs}`)) : Promise.resolve();
    },
    createLogger("info", {}, (line) => lines.push(line)),
    quick,
  );
  await new Promise((resolve) => setTimeout(resolve, 30));
  assert.equal(runs, 0, "nothing runs before start()");
  bootstrap.start();
  bootstrap.start();
  await bootstrap.done;
  assert.equal(runs, 3);
  const failures = lines.map((l) => JSON.parse(l)).filter((l) => l.msg.startsWith("bootstrap failed"));
  assert.deepEqual(failures.map((f) => [f.level, f.error, f.attempt]), [
    ["error", "apiserver busy 1", 1],
    ["error", "apiserver busy 2", 2],
  ]);
  await bootstrap.stop();
});

Deno.test("stop ends the wait between attempts and the attempt in progress", async () => {
  let seenSignal: AbortSignal | undefined;
  const bootstrap = backgroundBootstrap(
    (signal) => {
      seenSignal = signal;
      return Promise.reject(new Error("forbidden"));
    },
    createLogger("error", {}, () => {}),
    { initialMs: 60_000, maxMs: 60_000 },
  );
  bootstrap.start();
  await new Promise((resolve) => setTimeout(resolve, 10));
  const started = Date.now();
  await bootstrap.stop();
  // Far below the minute of the backoff's wait, with room for a loaded machine.
  assert.ok(Date.now() - started < 10_000);
  assert.equal(seenSignal?.aborted, true);
});
