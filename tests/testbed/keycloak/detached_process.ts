// A server that outlives the process that started it: spawned in a session of its own (so it survives the
// caller and can be stopped as a whole process group), with output appended to a log file and its id kept
// in a PID file.

export interface DetachedSpec {
  command: string;
  args: string[];
  env: Record<string, string>;
  logFile: string;
  pidFile: string;
}

/** Starts the command detached and returns its process id, which is also its process group id. */
export async function spawnDetached(spec: DetachedSpec): Promise<number> {
  // Deno cannot point a child's output at a file, so a shell does the redirection and then becomes the command.
  const child = new Deno.Command("/bin/sh", {
    args: ["-c", 'exec "$@" >>"$DETACHED_LOG_FILE" 2>&1', "sh", spec.command, ...spec.args],
    env: { ...spec.env, DETACHED_LOG_FILE: spec.logFile },
    stdin: "null",
    stdout: "null",
    stderr: "null",
    detached: true,
  }).spawn();
  child.unref();
  await Deno.writeTextFile(spec.pidFile, `${child.pid}\n`);
  return child.pid;
}

export async function readPidFile(pidFile: string): Promise<number | undefined> {
  try {
    const pid = Number((await Deno.readTextFile(pidFile)).trim());
    return Number.isInteger(pid) && pid > 1 ? pid : undefined;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return undefined;
    throw err;
  }
}

/**
 * True when `pid` runs and its command line mentions `marker`. The marker guards against a stale PID file
 * whose number now belongs to an unrelated process. An exited child not yet reaped has an empty command line,
 * so it counts as gone.
 */
export async function processAlive(pid: number, marker: string): Promise<boolean> {
  try {
    const cmdline = await Deno.readTextFile(`/proc/${pid}/cmdline`);
    return cmdline.includes(marker);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw err;
  }
}

function signalGroup(pid: number, signal: Deno.Signal): void {
  try {
    Deno.kill(-pid, signal);
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
}

/** Sends SIGTERM to the process group, waits for the leader to exit, and uses SIGKILL after `graceMs`. */
export async function stopProcessGroup(pid: number, marker: string, graceMs = 30_000): Promise<void> {
  if (!(await processAlive(pid, marker))) return;
  signalGroup(pid, "SIGTERM");
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    if (!(await processAlive(pid, marker))) return;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  signalGroup(pid, "SIGKILL");
  for (let i = 0; i < 50 && (await processAlive(pid, marker)); i++) {
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  if (await processAlive(pid, marker)) throw new Error(`process group ${pid} (${marker}) survived SIGKILL`);
}
