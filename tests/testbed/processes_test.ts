import assert from "node:assert/strict";
import { join } from "node:path";
import { isRunning, readPid, startDetached, stopProcess } from "./processes.ts";
import { waitFor } from "./wait.ts";

Deno.test("a detached process is tracked by its pid file and stopped with its process group", async () => {
  const dir = await Deno.makeTempDir();
  const pidFile = join(dir, "sleeper.pid");
  const logFile = join(dir, "sleeper.log");
  try {
    // The shell forks a child `sleep`: both must end, the group is what gets stopped.
    const pid = await startDetached({
      name: "sleeper",
      command: "sh",
      args: ["-c", "sleep 300 & echo started; wait"],
      pidFile,
      logFile,
    });
    assert.equal(await readPid(pidFile), pid);
    assert.ok(await isRunning(pidFile, "/bin/sh"));
    assert.ok(!(await isRunning(pidFile, "kube-apiserver")), "pid must not count as another program");
    // The pid file is written before the program runs: on a busy machine, stopping at once could end the
    // shell before it has forked its child (or written anything). "started" comes after the fork.
    await waitFor("the program's first output", 20_000, async () => {
      const log = await Deno.readTextFile(logFile).catch(() => "");
      return log.includes("started") ? true : undefined;
    });

    assert.ok(await stopProcess(pidFile, 2_000));
    assert.ok(!(await isRunning(pidFile, "sh")));
    const survivors = await groupMembers(pid);
    assert.deepEqual(survivors, []);
  } finally {
    await stopProcess(pidFile, 0);
    await Deno.remove(dir, { recursive: true });
  }
});

async function groupMembers(pgid: number): Promise<number[]> {
  const members: number[] = [];
  for await (const entry of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const stat = await Deno.readTextFile(`/proc/${entry.name}/stat`);
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (Number(fields[2]) === pgid && fields[0] !== "Z") members.push(Number(entry.name));
    } catch {
      // gone already
    }
  }
  return members;
}
