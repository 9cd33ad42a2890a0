/**
 * `deno task compile`: builds the otterscale-server and otterscale-agent
 * executables into dist/ with the same permission flags as the `server` and
 * `agent` tasks (read from deno.json, so they cannot drift apart).
 *
 *   deno task compile [--target <triple>] [--out-dir <dir>]
 *
 * deno compile downloads Deno's runtime (denort) for the target; run it on a
 * machine with internet. `--target` cross-compiles (x86_64-unknown-linux-gnu,
 * aarch64-unknown-linux-gnu, …) and suffixes the file names with the target.
 */
import { parseArgs } from "node:util";
import { join } from "node:path";

export interface Program {
  task: string;
  output: string;
  /** Directories embedded with --include, when they exist (the agent's bootstrap manifests). */
  include: string[];
}

export const programs: readonly Program[] = [
  { task: "server", output: "otterscale-server", include: [] },
  { task: "agent", output: "otterscale-agent", include: ["agent/bootstrap/manifests"] },
];

export interface TaskCommand {
  /** Permission (and other) flags between `deno run` and the entry point. */
  flags: string[];
  entry: string;
}

/** Splits a deno.json task such as `deno run --allow-net server/main.ts`. */
export function parseTask(task: string, command: string): TaskCommand {
  const words = command.trim().split(/\s+/);
  if (words[0] !== "deno" || words[1] !== "run" || words.length < 3) {
    throw new Error(`task ${task} is not "deno run [flags] <entry>": ${command}`);
  }
  return { flags: words.slice(2, -1), entry: words.at(-1)! };
}

export interface CompileOptions {
  output: string;
  target?: string;
  include: string[];
}

export function compileArgs(task: TaskCommand, options: CompileOptions): string[] {
  return [
    "compile",
    // Without --bundle the executable embeds the whole node_modules (about 190 MB: buf, TypeScript and
    // other build tools), and Deno 2.9.6 overflows its stack on a data file inside prom-client's
    // bintrees dependency. The bundle holds only the code the program reaches (2–3 MB).
    "--bundle",
    ...task.flags,
    ...options.include.flatMap((dir) => ["--include", dir]),
    ...(options.target ? ["--target", options.target] : []),
    "--output",
    options.output,
    task.entry,
  ];
}

export function outputName(program: Program, target?: string): string {
  return target ? `${program.output}-${target}` : program.output;
}

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isDirectory;
  } catch {
    return false;
  }
}

async function main(args: string[]): Promise<void> {
  const root = join(import.meta.dirname!, "..");
  const { values } = parseArgs({
    args,
    options: { target: { type: "string" }, "out-dir": { type: "string", default: "dist" } },
  });
  const config = JSON.parse(await Deno.readTextFile(join(root, "deno.json")));
  for (const program of programs) {
    const command: string | undefined = config.tasks?.[program.task];
    if (!command) throw new Error(`deno.json has no task "${program.task}"`);
    const include: string[] = [];
    for (const dir of program.include) if (await isDirectory(join(root, dir))) include.push(dir);
    const compile = compileArgs(parseTask(program.task, command), {
      output: join(values["out-dir"], outputName(program, values.target)),
      target: values.target,
      include,
    });
    console.error(`deno ${compile.join(" ")}`);
    const status = await new Deno.Command(Deno.execPath(), {
      args: compile,
      cwd: root,
      stdout: "inherit",
      stderr: "inherit",
    }).spawn().status;
    if (!status.success) Deno.exit(status.code);
  }
}

if (import.meta.main) await main(Deno.args);
