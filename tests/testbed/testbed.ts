// The bed as a whole: `up` (build what is missing, start what is not running, write state.json),
// `down`, `status`, and `ensureTestbed` for tests, which is exactly `up`.
import { mkdir, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { binaryLayout, ensureBinaries, type Log } from "./build.ts";
import { clusterLayout, clusterStatus, type ComponentStatus, downCluster, upCluster } from "./cluster.ts";
import { keycloakRunning, startKeycloak, stopKeycloak } from "./keycloak/keycloak.ts";
import { type TestbedPaths, testbedPaths } from "./paths.ts";
import { CLUSTER_NAMES, keycloakPort } from "./ports.ts";
import { groupResidentBytes, readPid, sleep } from "./processes.ts";
import { readState, type TestbedState, writeState } from "./state.ts";

export type { TestbedState } from "./state.ts";

export const KEYCLOAK_PORT = keycloakPort;

export interface TestbedOptions {
  paths?: TestbedPaths;
  log?: Log;
  /** How many clusters (alpha, beta, ...); default from TESTBED_CLUSTERS, else 2. */
  clusters?: number;
}

/**
 * Brings the bed up and returns its state. Idempotent: running, healthy parts are reused. Throws an
 * error that names the part that failed; it never returns a partial bed.
 */
export async function up(opts: TestbedOptions = {}): Promise<TestbedState> {
  const paths = opts.paths ?? testbedPaths();
  const log = opts.log ?? ((line: string) => console.error(`testbed: ${line}`));
  const names = CLUSTER_NAMES.slice(0, clusterCount(opts.clusters));
  await mkdir(paths.runDir, { recursive: true });
  return await withLock(paths.lockFile, log, async () => {
    const started = Date.now();
    const bins = await ensureBinaries(paths, log);
    const keycloakStart = startKeycloak({ ...keycloakDirs(paths), port: KEYCLOAK_PORT, log });
    const clusterStarts = names.map((name, index) => upCluster(clusterLayout(paths, name, index), bins, log));
    // Let every part finish (or fail) before reporting, so one error message lists all that failed.
    const settled = await Promise.allSettled([keycloakStart, ...clusterStarts]);
    const failures = settled.flatMap((result, i) =>
      result.status === "rejected" ? [`${["keycloak", ...names][i]}: ${errorText(result.reason)}`] : []
    );
    if (failures.length > 0) throw new Error(`testbed up failed:\n${failures.join("\n")}`);
    const keycloak = await keycloakStart;
    const state: TestbedState = {
      clusters: await Promise.all(clusterStarts),
      keycloak: {
        realmUrl: keycloak.realmUrl,
        clientId: keycloak.clientId,
        clientSecret: keycloak.clientSecret,
      },
      users: keycloak.users,
      versions: bins.versions,
    };
    await writeState(paths.stateFile, state);
    log(`up: ${names.join(", ")} and keycloak ready in ${Math.round((Date.now() - started) / 100) / 10}s`);
    return state;
  });
}

/** What tests call: the same as `up`, so a test run starts the bed when it is not running. */
export function ensureTestbed(opts: TestbedOptions = {}): Promise<TestbedState> {
  return up(opts);
}

/** Stops every process of the bed (all clusters that have a folder, and Keycloak). */
export async function down(opts: TestbedOptions & { purge?: boolean } = {}): Promise<void> {
  const paths = opts.paths ?? testbedPaths();
  const log = opts.log ?? ((line: string) => console.error(`testbed: ${line}`));
  await withLock(paths.lockFile, log, async () => {
    for (const [index, name] of CLUSTER_NAMES.entries()) {
      const layout = clusterLayout(paths, name, index);
      if (!(await exists(layout.dir))) continue;
      const stopped = await downCluster(layout);
      log(`down: ${name}: ${stopped.length > 0 ? `stopped ${stopped.join(", ")}` : "nothing was running"}`);
    }
    const keycloak = keycloakDirs(paths);
    const wasRunning = await keycloakRunning(keycloak.runDir);
    await stopKeycloak(keycloak.runDir);
    log(`down: keycloak: ${wasRunning ? "stopped" : "was not running"}`);
    await rm(paths.stateFile, { force: true });
  });
  if (opts.purge) {
    await rm(paths.runDir, { recursive: true, force: true });
    log(`down: removed ${paths.runDir}`);
  }
}

export interface StatusReport {
  clusters: { name: string; server: string; components: ComponentStatus[] }[];
  keycloak: { running: boolean; rssBytes: number };
  totalRssBytes: number;
  state?: TestbedState;
}

export async function status(opts: TestbedOptions = {}): Promise<StatusReport> {
  const paths = opts.paths ?? testbedPaths();
  // Status only reports: it never builds, so it only needs to know where the binaries would be.
  const bins = await binaryLayout(paths);
  const clusters: StatusReport["clusters"] = [];
  for (const [index, name] of CLUSTER_NAMES.entries()) {
    const layout = clusterLayout(paths, name, index);
    if (!(await exists(layout.dir))) continue;
    clusters.push({ name, server: layout.server, components: await clusterStatus(layout, bins) });
  }
  const keycloakDir = keycloakDirs(paths).runDir;
  const keycloak = {
    running: await keycloakRunning(keycloakDir),
    // The Keycloak module records its launcher's pid here; the JVM runs in the same process group.
    rssBytes: await groupResidentBytes(join(keycloakDir, "keycloak.pid")),
  };
  const totalRssBytes = keycloak.rssBytes +
    clusters.flatMap((c) => c.components).reduce((sum, c) => sum + c.rssBytes, 0);
  return { clusters, keycloak, totalRssBytes, state: await readState(paths.stateFile) };
}

function keycloakDirs(paths: TestbedPaths) {
  return { cacheDir: join(paths.cacheDir, "keycloak"), runDir: join(paths.runDir, "keycloak") };
}

function clusterCount(requested?: number): number {
  const raw = requested ?? Number(Deno.env.get("TESTBED_CLUSTERS") ?? "2");
  if (!Number.isInteger(raw) || raw < 1 || raw > CLUSTER_NAMES.length) {
    throw new Error(`testbed: TESTBED_CLUSTERS must be 1..${CLUSTER_NAMES.length}, got ${raw}`);
  }
  return raw;
}

/**
 * One `up`/`down` at a time per checkout (tests in several processes may all call ensureTestbed).
 * A lock left by a process that died is taken over.
 */
async function withLock<T>(lockFile: string, log: Log, fn: () => Promise<T>): Promise<T> {
  let waitingSince: number | undefined;
  while (true) {
    try {
      const file = await Deno.open(lockFile, { createNew: true, write: true });
      try {
        await file.write(new TextEncoder().encode(`${Deno.pid}\n`));
      } finally {
        file.close();
      }
      break;
    } catch (error) {
      if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
      const holder = await readPid(lockFile);
      if (holder === undefined || !(await exists(`/proc/${holder}`))) {
        await rm(lockFile, { force: true });
        continue;
      }
      if (waitingSince === undefined) {
        waitingSince = Date.now();
        log(`waiting for another testbed command (pid ${holder}) to finish`);
      }
      if (Date.now() - waitingSince > 30 * 60_000) {
        throw new Error(`testbed: ${lockFile} is held by pid ${holder} for over 30 minutes`);
      }
      await sleep(500);
    }
  }
  try {
    return await fn();
  } finally {
    await rm(lockFile, { force: true });
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
