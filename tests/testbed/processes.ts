// Detached background processes tracked by pid files. Each process is started in its own session
// (setsid), so it outlives the `up` command and `down` can end it with its whole process group.
import { mkdir, readFile, rm } from "node:fs/promises";
import { basename, dirname } from "node:path";

export interface ProcessSpec {
  /** Human name for errors and status, e.g. "alpha/kube-apiserver". */
  name: string;
  command: string;
  args: string[];
  pidFile: string;
  logFile: string;
  cwd?: string;
  env?: Record<string, string>;
}

/** Starts the process detached and returns its pid (also its process group id). */
export async function startDetached(spec: ProcessSpec): Promise<number> {
  await mkdir(dirname(spec.pidFile), { recursive: true });
  await mkdir(dirname(spec.logFile), { recursive: true });
  await rm(spec.pidFile, { force: true });
  // `setsid -f` forks and returns at once, so this call awaits only a short-lived parent (no child
  // handle leaks into a Deno test), and the real process is re-parented to init. The shell records
  // its own pid, then execs the program, so the recorded pid is the program's and its group's.
  const script = 'pidfile=$1; log=$2; shift 2; echo $$ > "$pidfile"; exec "$@" >>"$log" 2>&1 </dev/null';
  const out = await new Deno.Command("setsid", {
    args: ["-f", "sh", "-c", script, "sh", spec.pidFile, spec.logFile, spec.command, ...spec.args],
    cwd: spec.cwd,
    env: spec.env,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!out.success) {
    throw new Error(`cannot start ${spec.name}: setsid failed: ${new TextDecoder().decode(out.stderr)}`);
  }
  const deadline = Date.now() + 5_000;
  while (Date.now() < deadline) {
    const pid = await readPid(spec.pidFile);
    if (pid !== undefined) return pid;
    await sleep(20);
  }
  throw new Error(`cannot start ${spec.name}: no pid file ${spec.pidFile} after 5s`);
}

export async function readPid(pidFile: string): Promise<number | undefined> {
  try {
    const pid = Number((await readFile(pidFile, "utf8")).trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * True when the process in the pid file is alive and still runs the program `command` (a recycled
 * pid that now belongs to something else does not count).
 */
export async function isRunning(pidFile: string, command: string): Promise<boolean> {
  const pid = await readPid(pidFile);
  if (pid === undefined) return false;
  return await pidRuns(pid, command);
}

async function pidRuns(pid: number, command?: string): Promise<boolean> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, "utf8");
    // Field 3 is the state; a zombie has exited already.
    const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
    if (state === "Z" || state === "X") return false;
    if (command === undefined) return true;
    // Compare program names only: the same tool may be reached through another path (e.g. deno).
    const argv0 = (await readFile(`/proc/${pid}/cmdline`, "utf8")).split("\0")[0];
    return basename(argv0) === basename(command);
  } catch {
    return false;
  }
}

/** Ends the process group recorded in the pid file: SIGTERM, then SIGKILL after the grace period. */
export async function stopProcess(pidFile: string, graceMs = 10_000): Promise<boolean> {
  const pid = await readPid(pidFile);
  if (pid === undefined) return false;
  let stopped = false;
  if (await pidRuns(pid)) {
    signalGroup(pid, "SIGTERM");
    const deadline = Date.now() + graceMs;
    while (Date.now() < deadline && await pidRuns(pid)) await sleep(50);
    if (await pidRuns(pid)) signalGroup(pid, "SIGKILL");
    while (await pidRuns(pid)) await sleep(50);
    stopped = true;
  }
  // Helpers the program forked (e.g. kwok's exec sessions) share its group; make sure none stay.
  signalGroup(pid, "SIGKILL");
  await rm(pidFile, { force: true });
  return stopped;
}

function signalGroup(pgid: number, signal: Deno.Signal): void {
  try {
    Deno.kill(-pgid, signal);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
}

/**
 * Memory in use (resident set, bytes) by the process group recorded in the pid file: the program and
 * anything it started (a launcher script's JVM, kwok's exec sessions). 0 when nothing runs.
 */
export async function groupResidentBytes(pidFile: string): Promise<number> {
  const pgid = await readPid(pidFile);
  if (pgid === undefined) return 0;
  let total = 0;
  for await (const entry of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const stat = await readFile(`/proc/${entry.name}/stat`, "utf8");
      // Fields after the command name: state, ppid, pgrp, ...
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (Number(fields[2]) !== pgid) continue;
      const status = await readFile(`/proc/${entry.name}/status`, "utf8");
      const kb = /^VmRSS:\s+(\d+) kB/m.exec(status);
      if (kb) total += Number(kb[1]) * 1024;
    } catch {
      // The process ended while we looked.
    }
  }
  return total;
}

/** The end of a log file, for error messages about a process that failed. */
export async function tailLog(logFile: string, lines = 30): Promise<string> {
  try {
    return (await readFile(logFile, "utf8")).split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log)";
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
