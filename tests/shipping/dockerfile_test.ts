/**
 * The image, checked without a Docker engine (none runs here): the Dockerfile's stages, user,
 * volume, ports and environment; that the build context lets through every file the build needs
 * (the reference's .dockerignore did not, its bug B16); and hadolint's verdict.
 */
import assert from "node:assert/strict";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { loadServerConfig } from "../../server/config.ts";
import { hadolint } from "../support/pip_tool.ts";
import { denoLauncher, repoRoot } from "../support/repo.ts";
import {
  argumentList,
  effectiveInstructions,
  keyValues,
  parseDockerfile,
  type Stage,
  stageChain,
} from "./dockerfile.ts";
import { isIgnored, parseDockerignore } from "./dockerignore.ts";

const dockerfileText = Deno.readTextFileSync(join(repoRoot, "Dockerfile"));
const stages = parseDockerfile(dockerfileText);
const ignoreRules = parseDockerignore(Deno.readTextFileSync(join(repoRoot, ".dockerignore")));
const NONROOT = "65532:65532";
const CA_VOLUME = "/var/lib/otterscale";

function stage(name: string): Stage {
  const found = stages.find((s) => s.name === name);
  assert.ok(found, `the Dockerfile has no stage ${name}`);
  return found;
}

function lastOf(stageName: string, keyword: string): string[] {
  const instruction = effectiveInstructions(stages, stageName, keyword).at(-1);
  assert.ok(instruction, `stage ${stageName} has no ${keyword}`);
  return argumentList(instruction.args);
}

function pinnedDenoVersion(): string {
  const match = Deno.readTextFileSync(denoLauncher).match(/^DENO_VERSION="([^"]+)"/m);
  assert.ok(match, "scripts/deno pins no DENO_VERSION");
  return match[1];
}

/** Repository-relative paths of the local modules a program imports. */
async function localModules(entry: string): Promise<string[]> {
  const output = await new Deno.Command(denoLauncher, {
    args: ["info", "--json", entry],
    cwd: repoRoot,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(output.success, new TextDecoder().decode(output.stderr));
  const graph = JSON.parse(new TextDecoder().decode(output.stdout)) as { modules: { specifier: string }[] };
  return graph.modules
    .map((m) => m.specifier)
    .filter((s) => s.startsWith("file:"))
    .map((s) => relative(repoRoot, fileURLToPath(s)));
}

Deno.test("the build stage is Deno's image at the pinned version and compiles with deno task compile", () => {
  const build = stage("build");
  assert.equal(build.from, `denoland/deno:debian-${pinnedDenoVersion()}`);
  // Cross-compiles on the build machine's platform instead of emulating the target's.
  assert.equal(build.fromFlags.platform, "$BUILDPLATFORM");
  const runs = build.instructions.filter((i) => i.keyword === "RUN").map((i) => i.args).join("\n");
  assert.match(runs, /deno install --frozen/);
  // The task reads the permission flags from deno.json (scripts/compile_test.ts checks them).
  assert.match(runs, /deno task compile --target "\$target"/);
  assert.doesNotMatch(runs, /deno compile/, "compile through the task, so the flags cannot drift");
});

Deno.test("the runtime is distroless/cc, non-root, with both executables", () => {
  const base = stage("base");
  assert.equal(base.from, "gcr.io/distroless/cc-debian12:nonroot");
  const copied = base.instructions.find((i) => i.keyword === "COPY" && i.flags.from === "build");
  assert.ok(copied, "base copies nothing from the build stage");
  assert.deepEqual(argumentList(copied.args), ["/out/otterscale-server", "/out/otterscale-agent", "/"]);
  for (const name of ["agent", "server"]) {
    assert.deepEqual(lastOf(name, "USER"), [NONROOT], `${name} runs as`);
    assert.ok(stageChain(stages, name).some((s) => s === base), `${name} is built from base`);
  }
});

Deno.test("the server is the default target: entry point, ports, environment, CA volume", () => {
  assert.equal(stages.at(-1)?.name, "server", "docker build without --target builds the last stage");
  assert.deepEqual(lastOf("server", "ENTRYPOINT"), ["/otterscale-server"]);
  assert.deepEqual(lastOf("server", "EXPOSE").sort(), ["8299", "8300"]);
  assert.deepEqual(lastOf("server", "VOLUME"), [CA_VOLUME]);
  const volumeOwner = stage("server").instructions.find((i) =>
    i.keyword === "COPY" && argumentList(i.args).at(-1) === CA_VOLUME
  );
  assert.equal(volumeOwner?.flags.chown, NONROOT, "the CA volume must belong to the non-root user");
  assert.deepEqual(lastOf("agent", "ENTRYPOINT"), ["/otterscale-agent"]);
});

Deno.test("the image's environment configures the hub as intended (read by the real config loader)", () => {
  const env: Record<string, string> = Object.assign(
    {},
    ...effectiveInstructions(stages, "server", "ENV").map((i) => keyValues(i.args)),
  );
  const required = [
    "--allowed-origins=https://console.example.com",
    "--keycloak-realm-url=https://id.example.com/realms/otterscale",
    "--external-url=https://otterscale.example.com",
    "--external-tunnel-url=https://tunnel.otterscale.example.com:8300",
  ];
  const result = loadServerConfig(required, { env: (name) => env[name], readFile: () => undefined });
  assert.equal(result.kind, "config");
  if (result.kind !== "config") return;
  assert.deepEqual(result.config.address, { hostname: "0.0.0.0", port: 8299 });
  assert.deepEqual(result.config.tunnel.address, { hostname: "0.0.0.0", port: 8300 });
  assert.ok(
    result.config.tunnel.caDir.startsWith(`${CA_VOLUME}/`),
    `the default CA dir ${result.config.tunnel.caDir} is outside the volume`,
  );
});

Deno.test("the build context holds every file the build copies and every module the programs import", async () => {
  const build = stage("build");
  const copied = build.instructions
    .filter((i) => i.keyword === "COPY" && !i.flags.from)
    .flatMap((i) => argumentList(i.args).slice(0, -1).map((source) => source.replace(/\/$/, "")));
  for (const source of copied) {
    await Deno.stat(join(repoRoot, source)).catch(() => assert.fail(`COPY ${source}: not in the repository`));
    assert.ok(!isIgnored(ignoreRules, source), `COPY ${source}: excluded by .dockerignore`);
  }
  const needed = [
    ...await localModules("server/main.ts"),
    ...await localModules("agent/main.ts"),
    ...await localModules("scripts/compile.ts"),
  ];
  assert.ok(needed.length > 20, `only ${needed.length} local modules found`);
  for (const file of new Set(needed)) {
    assert.ok(!isIgnored(ignoreRules, file), `${file}: excluded by .dockerignore`);
    assert.ok(
      copied.some((source) => file === source || file.startsWith(`${source}/`)),
      `${file}: no COPY brings it into the build stage`,
    );
  }
  // And the context stays small: no git metadata, caches, node_modules or test bed state.
  for (const heavy of [".git", "node_modules", ".cache", ".testbed", ".tools", "tests", "dist"]) {
    assert.ok(isIgnored(ignoreRules, `${heavy}/x`), `${heavy} is sent to the Docker daemon`);
  }
});

Deno.test(".dockerignore rules: last match wins, parents count, ! lets paths back in", () => {
  const rules = parseDockerignore("*\n!src/\n**/*_test.ts\n!keep/one.txt\n");
  assert.equal(isIgnored(rules, "README.md"), true);
  assert.equal(isIgnored(rules, "src/a/b.ts"), false);
  assert.equal(isIgnored(rules, "src/a/b_test.ts"), true);
  assert.equal(isIgnored(rules, "keep/one.txt"), false);
  assert.equal(isIgnored(rules, "keep/two.txt"), true);
});

Deno.test("hadolint passes the Dockerfile and fails a bad one", async () => {
  const binary = await hadolint();
  const run = async (file: string) => {
    const output = await new Deno.Command(binary, {
      args: ["--no-color", file],
      stdout: "piped",
      stderr: "piped",
    })
      .output();
    return {
      code: output.code,
      text: new TextDecoder().decode(output.stdout) + new TextDecoder().decode(output.stderr),
    };
  };
  const good = await run(join(repoRoot, "Dockerfile"));
  assert.equal(good.code, 0, good.text);

  const dir = await Deno.makeTempDir({ prefix: "otterscale-hadolint-" });
  try {
    // An unpinned base image and `cd` in RUN: the mistakes hadolint exists for.
    const bad = join(dir, "Dockerfile");
    await Deno.writeTextFile(
      bad,
      dockerfileText.replace("denoland/deno:debian-", "denoland/deno:latest-x") +
        "\nFROM debian:latest\nRUN cd /tmp && touch x\n",
    );
    const result = await run(bad);
    assert.notEqual(result.code, 0, "hadolint accepted a broken Dockerfile");
    assert.match(result.text, /DL3007/, result.text);
    assert.match(result.text, /DL3003/, result.text);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
