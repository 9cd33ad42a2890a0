import assert from "node:assert/strict";
import { processAlive, readPidFile, spawnDetached, stopProcessGroup } from "./detached_process.ts";

Deno.test("a detached process logs to its file, is found by its PID file and stops with its group", async () => {
  const dir = await Deno.makeTempDir({ prefix: "detached_process_test_" });
  try {
    const marker = `${dir}/marker-script.sh`;
    // The script starts a child of its own, so stopping must reach the whole group, not only the leader.
    await Deno.writeTextFile(
      marker,
      'echo "started $GREETING"\nsleep 60 &\nchild=$!\necho "child $child"\nwait\n',
    );
    const pid = await spawnDetached({
      command: "/bin/sh",
      args: [marker],
      env: { GREETING: "hello" },
      logFile: `${dir}/out.log`,
      pidFile: `${dir}/out.pid`,
    });
    assert.equal(await readPidFile(`${dir}/out.pid`), pid);

    let log = "";
    for (let i = 0; i < 200 && !log.includes("child "); i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      log = await Deno.readTextFile(`${dir}/out.log`);
    }
    assert.match(log, /started hello/);
    const childPid = Number(log.match(/child (\d+)/)?.[1]);
    assert.ok(await processAlive(pid, marker));
    assert.ok(await processAlive(childPid, "sleep"));
    assert.equal(await processAlive(pid, "some-other-program"), false);

    await stopProcessGroup(pid, marker, 5_000);
    assert.equal(await processAlive(pid, marker), false);
    for (let i = 0; i < 200 && await processAlive(childPid, "sleep"); i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.equal(await processAlive(childPid, "sleep"), false);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("readPidFile tells a missing or garbled PID file apart from a real one", async () => {
  const dir = await Deno.makeTempDir({ prefix: "detached_process_test_" });
  try {
    assert.equal(await readPidFile(`${dir}/missing.pid`), undefined);
    await Deno.writeTextFile(`${dir}/garbled.pid`, "not a pid\n");
    assert.equal(await readPidFile(`${dir}/garbled.pid`), undefined);
    await Deno.writeTextFile(`${dir}/good.pid`, "4242\n");
    assert.equal(await readPidFile(`${dir}/good.pid`), 4242);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
