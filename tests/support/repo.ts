/** Where the repository is, and how to run its pinned Deno and npm tools. */
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export const repoRoot = fileURLToPath(new URL("../../", import.meta.url)).replace(/\/$/, "");
export const denoLauncher = join(repoRoot, "scripts/deno");
export const bufBinary = join(repoRoot, "node_modules/.bin/buf");

/**
 * The argv of a deno.json task, with `deno` replaced by the pinned launcher.
 * Tests start the programs with exactly the permission flags users get.
 */
export function taskArgv(task: string): string[] {
  const config = JSON.parse(Deno.readTextFileSync(join(repoRoot, "deno.json")));
  const command: string | undefined = config.tasks?.[task];
  if (!command) throw new Error(`deno.json has no task "${task}"`);
  const [program, ...args] = command.trim().split(/\s+/);
  if (program !== "deno") throw new Error(`task "${task}" does not start with deno: ${command}`);
  return [denoLauncher, ...args];
}
