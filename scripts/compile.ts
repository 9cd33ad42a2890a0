/**
 * `deno task compile`: builds the otterscale-server and otterscale-agent
 * executables into dist/ with the same permission flags as the `server` and
 * `agent` tasks (read from deno.json, so they cannot drift apart).
 *
 * deno compile downloads Deno's runtime (denort) for the target; run it on a
 * machine with internet. `--target <triple>` cross-compiles.
 */
import { parseArgs } from "node:util";
import { join } from "node:path";

const root = join(import.meta.dirname!, "..");
const programs = [
  { task: "server", output: "otterscale-server" },
  { task: "agent", output: "otterscale-agent" },
];

function taskFlagsAndEntry(task: string): { flags: string[]; entry: string } {
  const config = JSON.parse(Deno.readTextFileSync(join(root, "deno.json")));
  const words: string[] = config.tasks[task].trim().split(/\s+/);
  if (words[0] !== "deno" || words[1] !== "run") throw new Error(`task ${task} is not "deno run …"`);
  const entry = words.at(-1)!;
  return { flags: words.slice(2, -1), entry };
}

const { values } = parseArgs({ args: Deno.args, options: { target: { type: "string" } } });
for (const program of programs) {
  const { flags, entry } = taskFlagsAndEntry(program.task);
  const args = [
    "compile",
    ...flags,
    ...(values.target ? ["--target", values.target] : []),
    "--output",
    join("dist", values.target ? `${program.output}-${values.target}` : program.output),
    entry,
  ];
  console.error(`deno ${args.join(" ")}`);
  const status = await new Deno.Command(Deno.execPath(), {
    args,
    cwd: root,
    stdout: "inherit",
    stderr: "inherit",
  })
    .spawn().status;
  if (!status.success) Deno.exit(status.code);
}
