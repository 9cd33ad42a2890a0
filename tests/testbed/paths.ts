// Where the test bed keeps things. Everything is repo-relative so a fresh clone is self-contained:
// built binaries under .cache/testbed (kept across `down`), live state and logs under .testbed.
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export interface TestbedPaths {
  repoRoot: string;
  /** tests/testbed/build: the Go module that pins the tool versions. */
  goModuleDir: string;
  /** .cache/testbed: survives `down`; holds compiled binaries. */
  cacheDir: string;
  binDir: string;
  /** .testbed: everything a running bed owns (pids, logs, certs, data). */
  runDir: string;
  stateFile: string;
  lockFile: string;
}

export function testbedPaths(repoRoot = defaultRepoRoot()): TestbedPaths {
  const cacheDir = join(repoRoot, ".cache", "testbed");
  const runDir = join(repoRoot, ".testbed");
  return {
    repoRoot,
    goModuleDir: join(repoRoot, "tests", "testbed", "build"),
    cacheDir,
    binDir: join(cacheDir, "bin"),
    runDir,
    stateFile: join(runDir, "state.json"),
    lockFile: join(runDir, "up.lock"),
  };
}

function defaultRepoRoot(): string {
  // This file lives in <repo>/tests/testbed/.
  return resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
}
