import assert from "node:assert/strict";
import { join } from "node:path";
import { compileArgs, outputName, parseTask, programs } from "./compile.ts";

const root = join(import.meta.dirname!, "..");
const tasks: Record<string, string> = JSON.parse(Deno.readTextFileSync(join(root, "deno.json"))).tasks;

Deno.test("parseTask splits the server and agent tasks into flags and entry point", () => {
  const server = parseTask("server", tasks.server);
  assert.equal(server.entry, "server/main.ts");
  assert.ok(server.flags.includes("--allow-net"), server.flags.join(" "));
  assert.ok(server.flags.every((flag) => flag.startsWith("--")), server.flags.join(" "));
  assert.equal(parseTask("agent", tasks.agent).entry, "agent/main.ts");
  assert.throws(() => parseTask("dev", "deno task other"), /task dev is not "deno run/);
});

Deno.test("compileArgs keeps the task's flags, bundles, and adds include dirs and the target", () => {
  const task = parseTask("agent", tasks.agent);
  const args = compileArgs(task, {
    output: "dist/otterscale-agent-aarch64-unknown-linux-gnu",
    target: "aarch64-unknown-linux-gnu",
    include: ["agent/bootstrap/manifests"],
  });
  assert.deepEqual(args, [
    "compile",
    "--bundle",
    ...task.flags,
    "--include",
    "agent/bootstrap/manifests",
    "--target",
    "aarch64-unknown-linux-gnu",
    "--output",
    "dist/otterscale-agent-aarch64-unknown-linux-gnu",
    "agent/main.ts",
  ]);
  assert.equal(
    outputName(programs[0], "x86_64-unknown-linux-gnu"),
    "otterscale-server-x86_64-unknown-linux-gnu",
  );
  assert.equal(outputName(programs[1]), "otterscale-agent");
});

/** The permission flags a compiled program carries, in the names of its embedded metadata. */
function expectedPermissions(flags: string[]): Record<string, string[] | null> {
  const expected: Record<string, string[] | null> = {};
  for (const kind of ["env", "net", "ffi", "read", "run", "sys", "write"]) expected[`allow_${kind}`] = null;
  for (const flag of flags) {
    const match = flag.match(/^--allow-([a-z]+)(?:=(.*))?$/);
    if (!match) continue;
    expected[`allow_${match[1]}`] = match[2] === undefined ? [] : match[2].split(",");
  }
  return expected;
}

/** The JSON metadata deno compile writes into an executable (it starts with `{"argv":`). */
function embeddedMetadata(executable: Uint8Array): Record<string, unknown> {
  const text = new TextDecoder("latin1").decode(executable);
  const start = text.indexOf('{"argv":');
  assert.ok(start >= 0, "no deno compile metadata in the executable");
  let depth = 0;
  let inString = false;
  for (let i = start; i < text.length; i++) {
    const char = text[i];
    if (inString) {
      if (char === "\\") i++;
      else if (char === '"') inString = false;
    } else if (char === '"') inString = true;
    else if (char === "{") depth++;
    else if (char === "}" && --depth === 0) return JSON.parse(text.slice(start, i + 1));
  }
  throw new Error("the deno compile metadata does not end");
}

Deno.test({
  // deno compile needs Deno's runtime (denort), which it downloads; offline, DENORT_BIN points it at
  // a stand-in binary. Everything else is the real thing: the task, the module graph, type-checking,
  // bundling and the metadata the runtime would read its permissions from.
  name: "deno task compile builds both executables with the tasks' permissions (stand-in runtime)",
  async fn() {
    const outDir = await Deno.makeTempDir({ prefix: "otterscale-compile-" });
    try {
      const output = await new Deno.Command(join(root, "scripts/deno"), {
        args: ["task", "compile", "--out-dir", outDir],
        cwd: root,
        env: { DENORT_BIN: "/bin/true" },
        stdout: "piped",
        stderr: "piped",
      }).output();
      const log = new TextDecoder().decode(output.stderr);
      assert.ok(output.success, `deno task compile failed:\n${log}`);
      for (const program of programs) {
        const { flags } = parseTask(program.task, tasks[program.task]);
        const executable = await Deno.readFile(join(outDir, program.output));
        const metadata = embeddedMetadata(executable);
        const permissions = metadata.permissions as Record<string, unknown>;
        for (const [key, value] of Object.entries(expectedPermissions(flags))) {
          assert.deepEqual(permissions[key], value, `${program.output}: ${key}`);
        }
        const unstable = metadata.unstable_config as { features: string[] };
        assert.ok(unstable.features.includes("no-legacy-abort"), `${program.output}: deno.json's unstable`);
        // The bundle, not node_modules: a few MB, not a few hundred.
        assert.ok(executable.length < 20_000_000, `${program.output} embeds ${executable.length} bytes`);
      }
    } finally {
      await Deno.remove(outDir, { recursive: true });
    }
  },
});
