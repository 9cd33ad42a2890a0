// .testbed/state.json: what a running bed offers, for tests and for people. Paths are absolute.
import { readFile, rename, writeFile } from "node:fs/promises";
import type { ClusterInfo } from "./cluster.ts";

export interface TestbedUser {
  username: string;
  password: string;
  groups: string[];
}

export interface TestbedState {
  clusters: ClusterInfo[];
  keycloak: { realmUrl: string; clientId: string; clientSecret?: string };
  users: TestbedUser[];
  /** Versions of the binaries the clusters run. */
  versions: Record<string, string>;
}

export async function writeState(file: string, state: TestbedState): Promise<void> {
  // Write then rename, so a reader never sees half a file.
  await writeFile(`${file}.partial`, JSON.stringify(state, null, 2) + "\n");
  await rename(`${file}.partial`, file);
}

export async function readState(file: string): Promise<TestbedState | undefined> {
  try {
    return JSON.parse(await readFile(file, "utf8")) as TestbedState;
  } catch {
    return undefined;
  }
}
