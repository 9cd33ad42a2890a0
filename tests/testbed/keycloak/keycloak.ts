// A real Keycloak for the test bed: one dev-mode server on loopback, started detached so that it outlives the
// test run that started it, reused while it is healthy and serves the current realm file.

import { ensureDistribution, KEYCLOAK_VERSION, seconds } from "./distribution.ts";
import { processAlive, readPidFile, spawnDetached, stopProcessGroup } from "./detached_process.ts";
import { findJavaHome } from "./java_home.ts";
import { prepareRunHome } from "./run_home.ts";

export { passwordGrant } from "./password_grant.ts";
export type { TokenResponse } from "./password_grant.ts";
export { KEYCLOAK_VERSION };

export const REALM_NAME = "otterscale";
export const SERVER_CLIENT_ID = "otterscale-server";
export const WEB_CLIENT_ID = "otterscale-web";
const REALM_FILE = new URL("./realm.json", import.meta.url);

// The distribution's own default for machines outside containers; stated here so it does not depend on how
// the launcher guesses its environment.
const JAVA_HEAP_OPTS = "-Xms64m -Xmx512m";
// Only the quick JIT tier: measured here, it cut the CPU time of a start by about 40 % and the resident
// memory by about 90 MB; a test bed never runs long enough to gain from the optimising tier.
const JAVA_EXTRA_OPTS = "-XX:TieredStopAtLevel=1";
const READY_TIMEOUT_MS = 300_000;

export interface KeycloakInfo {
  realmUrl: string;
  clientId: string;
  clientSecret?: string;
  users: { username: string; password: string; groups: string[] }[];
}

export interface KeycloakOptions {
  cacheDir: string;
  runDir: string;
  port: number;
  log?: (line: string) => void;
}

/** What a running server was started with; a server whose state differs from the wanted one is restarted. */
interface RunState {
  port: number;
  version: string;
  realmSha256: string;
  javaOpts: string;
}

interface RealmFile {
  clients: { clientId: string; secret?: string }[];
  users: { username: string; credentials: { type: string; value: string }[]; groups?: string[] }[];
}

function runPaths(runDir: string) {
  return {
    pidFile: `${runDir}/keycloak.pid`,
    stateFile: `${runDir}/keycloak-state.json`,
    logFile: `${runDir}/keycloak.log`,
    // Both the launcher's path and the JVM's `-Dkc.home.dir` contain it, whichever of the two holds the pid.
    processMarker: `${runDir}/home/bin/`,
    lockFile: `${runDir}/keycloak.lock`,
  };
}

async function absoluteDir(path: string): Promise<string> {
  await Deno.mkdir(path, { recursive: true });
  return await Deno.realPath(path);
}

async function sha256Hex(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

export function realmUrlFor(port: number): string {
  return `http://127.0.0.1:${port}/realms/${REALM_NAME}`;
}

/** Derives the test users and client from the realm file, so the passwords live in one place only. */
export function infoFromRealm(realm: RealmFile, port: number): KeycloakInfo {
  const client = realm.clients.find((c) => c.clientId === SERVER_CLIENT_ID);
  if (!client) throw new Error(`realm file has no client '${SERVER_CLIENT_ID}'`);
  const users = realm.users.map((user) => {
    const password = user.credentials.find((c) => c.type === "password")?.value;
    if (password === undefined) throw new Error(`realm file: user '${user.username}' has no password`);
    const groups = (user.groups ?? []).map((path) => path.replace(/^\//, ""));
    return { username: user.username, password, groups };
  });
  return { realmUrl: realmUrlFor(port), clientId: SERVER_CLIENT_ID, clientSecret: client.secret, users };
}

async function readState(stateFile: string): Promise<RunState | undefined> {
  try {
    return JSON.parse(await Deno.readTextFile(stateFile)) as RunState;
  } catch {
    return undefined;
  }
}

/** True when the realm's discovery document answers with the expected issuer. */
export async function realmAnswers(realmUrl: string, timeoutMs = 2_000): Promise<boolean> {
  try {
    const response = await fetch(`${realmUrl}/.well-known/openid-configuration`, {
      signal: AbortSignal.timeout(timeoutMs),
    });
    if (!response.ok) {
      await response.body?.cancel();
      return false;
    }
    const discovery = await response.json() as { issuer?: string };
    return discovery.issuer === realmUrl;
  } catch {
    return false;
  }
}

function assertPortFree(port: number): void {
  let listener: Deno.Listener;
  try {
    listener = Deno.listen({ hostname: "127.0.0.1", port });
  } catch (err) {
    throw new Error(`cannot start Keycloak: 127.0.0.1:${port} is already in use (${err})`);
  }
  listener.close();
}

async function logTail(logFile: string, lines = 40): Promise<string> {
  try {
    return (await Deno.readTextFile(logFile)).split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log)";
  }
}

async function waitUntilReady(realmUrl: string, pid: number, marker: string, logFile: string): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (await realmAnswers(realmUrl)) return;
    if (!(await processAlive(pid, marker))) {
      throw new Error(
        `Keycloak (pid ${pid}) exited before ${realmUrl} answered; log ${logFile}:\n` +
          (await logTail(logFile)),
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  throw new Error(
    `Keycloak (pid ${pid}) did not answer at ${realmUrl} within ${READY_TIMEOUT_MS / 1000} s; ` +
      `log ${logFile}:\n${await logTail(logFile)}`,
  );
}

function keycloakArgs(port: number): string[] {
  return [
    "start-dev",
    `--http-port=${port}`,
    "--http-host=127.0.0.1",
    // A fixed hostname keeps the issuer the same whichever loopback name a client uses.
    `--hostname=http://127.0.0.1:${port}`,
    // In memory: every start imports the realm file afresh, so tests begin from a known state.
    "--db=dev-mem",
    "--import-realm",
  ];
}

/** Runs `action` holding an exclusive lock on the run folder, so concurrent callers start one server. */
async function withRunLock<T>(lockFile: string, action: () => Promise<T>): Promise<T> {
  using file = await Deno.open(lockFile, { create: true, write: true });
  await file.lock(true);
  try {
    return await action();
  } finally {
    await file.unlock();
  }
}

/**
 * Starts Keycloak (fetching it on first use) and waits until the realm answers. Reuses a running server
 * that was started with the same port, version, Java options and realm file; restarts one that differs.
 */
export async function startKeycloak(opts: KeycloakOptions): Promise<KeycloakInfo> {
  const runDir = await absoluteDir(opts.runDir);
  return await withRunLock(runPaths(runDir).lockFile, () => startLocked(opts, runDir));
}

async function startLocked(opts: KeycloakOptions, runDir: string): Promise<KeycloakInfo> {
  const log = opts.log ?? console.error;
  const cacheDir = await absoluteDir(opts.cacheDir);
  const paths = runPaths(runDir);
  const realmBytes = await Deno.readFile(REALM_FILE);
  const info = infoFromRealm(JSON.parse(new TextDecoder().decode(realmBytes)), opts.port);
  const wanted: RunState = {
    port: opts.port,
    version: KEYCLOAK_VERSION,
    realmSha256: await sha256Hex(realmBytes),
    javaOpts: `${JAVA_HEAP_OPTS} ${JAVA_EXTRA_OPTS}`,
  };

  const pid = await readPidFile(paths.pidFile);
  if (pid !== undefined && await processAlive(pid, paths.processMarker)) {
    const state = await readState(paths.stateFile);
    const same = state !== undefined &&
      (Object.keys(wanted) as (keyof RunState)[]).every((key) => state[key] === wanted[key]);
    if (same && await realmAnswers(info.realmUrl)) {
      log(`keycloak: reusing running server (pid ${pid}) at ${info.realmUrl}`);
      return info;
    }
    log(
      `keycloak: restarting server (pid ${pid}): ${same ? "realm does not answer" : "configuration changed"}`,
    );
    await stopServer(paths);
  }

  assertPortFree(opts.port);
  const java = await findJavaHome();
  const distHome = await ensureDistribution(cacheDir, KEYCLOAK_VERSION, log);
  const home = await prepareRunHome(distHome, runDir, REALM_FILE);
  await Deno.writeTextFile(paths.logFile, "");
  log(`keycloak: starting ${KEYCLOAK_VERSION} on Java ${java.major} (log ${paths.logFile})`);
  const started = performance.now();
  const newPid = await spawnDetached({
    command: `${home}/bin/kc.sh`,
    args: keycloakArgs(opts.port),
    env: { JAVA_HOME: java.home, JAVA_OPTS_KC_HEAP: JAVA_HEAP_OPTS, JAVA_OPTS_APPEND: JAVA_EXTRA_OPTS },
    logFile: paths.logFile,
    pidFile: paths.pidFile,
  });
  await Deno.writeTextFile(paths.stateFile, JSON.stringify(wanted, null, 2) + "\n");
  await waitUntilReady(info.realmUrl, newPid, paths.processMarker, paths.logFile);
  log(`keycloak: ready after ${seconds(started)} at ${info.realmUrl} (pid ${newPid})`);
  return info;
}

/** The run folder's real path, or undefined when it does not exist (then nothing runs from it). */
async function existingDir(path: string): Promise<string | undefined> {
  try {
    return await Deno.realPath(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return undefined;
    throw err;
  }
}

/** Stops the server of this run folder, if one runs, and forgets it. */
export async function stopKeycloak(runDir: string): Promise<void> {
  const dir = await existingDir(runDir);
  if (dir === undefined) return;
  const paths = runPaths(dir);
  await withRunLock(paths.lockFile, () => stopServer(paths));
}

async function stopServer(paths: ReturnType<typeof runPaths>): Promise<void> {
  const pid = await readPidFile(paths.pidFile);
  if (pid !== undefined) await stopProcessGroup(pid, paths.processMarker);
  for (const file of [paths.pidFile, paths.stateFile]) {
    await Deno.remove(file).catch((err) => {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
    });
  }
}

/** True when the process recorded in this run folder still runs (it may still be starting up). */
export async function keycloakRunning(runDir: string): Promise<boolean> {
  const dir = await existingDir(runDir);
  if (dir === undefined) return false;
  const paths = runPaths(dir);
  const pid = await readPidFile(paths.pidFile);
  return pid !== undefined && await processAlive(pid, paths.processMarker);
}
