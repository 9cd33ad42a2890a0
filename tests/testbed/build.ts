// Compiles the bed's binaries from the Go module in tests/testbed/build (versions pinned by its
// go.mod/go.sum, sources from the Go module proxy) into .cache/testbed/bin/<name>-<version>/.
// A binary is rebuilt only when its versioned file is missing.
import { copyFile, mkdir, rename, stat } from "node:fs/promises";
import { join } from "node:path";
import type { TestbedPaths } from "./paths.ts";

export type ToolName = "etcd" | "kube-apiserver" | "kube-controller-manager" | "kube-scheduler" | "kwok";

interface ToolSpec {
  name: ToolName;
  /** Go package of the main program. */
  pkg: string;
  /** Module whose version (from go.mod) names the binary. */
  module: string;
}

const TOOLS: ToolSpec[] = [
  { name: "etcd", pkg: "go.etcd.io/etcd/server/v3", module: "go.etcd.io/etcd/server/v3" },
  { name: "kube-apiserver", pkg: "k8s.io/kubernetes/cmd/kube-apiserver", module: "k8s.io/kubernetes" },
  {
    name: "kube-controller-manager",
    pkg: "k8s.io/kubernetes/cmd/kube-controller-manager",
    module: "k8s.io/kubernetes",
  },
  { name: "kube-scheduler", pkg: "k8s.io/kubernetes/cmd/kube-scheduler", module: "k8s.io/kubernetes" },
  { name: "kwok", pkg: "sigs.k8s.io/kwok/cmd/kwok", module: "sigs.k8s.io/kwok" },
];

/** kwok's stock stages (shipped in its module) that make nodes Ready and pods Running. */
const KWOK_STAGE_FILES = [
  "kustomize/stage/node/fast/node-initialize.yaml",
  "kustomize/stage/node/heartbeat-with-lease/node-heartbeat-with-lease.yaml",
  "kustomize/stage/pod/fast/pod-ready.yaml",
  "kustomize/stage/pod/fast/pod-complete.yaml",
  "kustomize/stage/pod/fast/pod-delete.yaml",
];

export interface Binaries {
  paths: Record<ToolName, string>;
  versions: Record<ToolName, string>;
  /** Folder with kwok's stage YAML files, copied from the kwok module at build time. */
  kwokStagesDir: string;
}

export type Log = (line: string) => void;

/** Where each binary of the pinned versions lives, and which of them are not built yet. */
export async function binaryLayout(paths: TestbedPaths): Promise<Binaries & { missing: ToolName[] }> {
  const moduleVersions = await readModuleVersions(join(paths.goModuleDir, "go.mod"));
  const result: Binaries & { missing: ToolName[] } = {
    paths: {} as Record<ToolName, string>,
    versions: {} as Record<ToolName, string>,
    kwokStagesDir: "",
    missing: [],
  };
  for (const tool of TOOLS) {
    const version = moduleVersions.get(tool.module);
    if (!version) {
      throw new Error(`testbed build: ${tool.module} has no version in tests/testbed/build/go.mod`);
    }
    const file = join(paths.binDir, `${tool.name}-${version}`, tool.name);
    result.paths[tool.name] = file;
    result.versions[tool.name] = version;
    if (!(await isFile(file))) result.missing.push(tool.name);
  }
  result.kwokStagesDir = join(paths.binDir, `kwok-${result.versions.kwok}`, "stages");
  return result;
}

/** Builds the binaries that are missing (with progress on `log`) and returns where they all are. */
export async function ensureBinaries(paths: TestbedPaths, log: Log): Promise<Binaries> {
  const { missing, ...bins } = await binaryLayout(paths);
  if (missing.length > 0) {
    await checkGoToolchain(paths.goModuleDir);
    const started = Date.now();
    log(`build: compiling ${missing.join(", ")} from the Go module proxy (a cold build takes many minutes)`);
    for (const [i, name] of missing.entries()) {
      const tool = TOOLS.find((t) => t.name === name)!;
      const label = `${name} ${bins.versions[name]} (${i + 1}/${missing.length})`;
      await buildTool(paths, tool, bins.versions[name], bins.paths[name], label, log);
    }
    log(`build: done in ${seconds(started)}`);
  }
  if (!(await isFile(join(bins.kwokStagesDir, "pod-ready.yaml")))) {
    await copyKwokStages(paths.goModuleDir, bins.kwokStagesDir);
  }
  return bins;
}

async function buildTool(
  paths: TestbedPaths,
  tool: ToolSpec,
  version: string,
  target: string,
  label: string,
  log: Log,
): Promise<void> {
  await mkdir(join(target, ".."), { recursive: true });
  const partial = `${target}.partial`;
  const ldflags = ["-s", "-w", ...versionLdflags(tool, version)].join(" ");
  const args = [
    "build",
    "-v",
    "-buildvcs=false",
    "-trimpath",
    `-ldflags=${ldflags}`,
    "-o",
    partial,
    tool.pkg,
  ];
  log(`build: ${label}: go ${args.join(" ")}`);
  const started = Date.now();
  const child = new Deno.Command(goBinary(), {
    args,
    cwd: paths.goModuleDir,
    env: { GOTOOLCHAIN: "local" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();

  // `go build -v` names each package as it compiles it: count them as progress, keep the rest for errors.
  let compiled = 0;
  const errors: string[] = [];
  const ticker = setInterval(() => {
    log(`build: ${label}: ${compiled} packages compiled, ${seconds(started)} elapsed`);
  }, 30_000);
  try {
    const [status] = await Promise.all([
      child.status,
      forEachLine(child.stderr, (line) => {
        if (/^[\w.\-]+(\/[\w.\-~]+)*$/.test(line)) compiled++;
        else errors.push(line);
      }),
      forEachLine(child.stdout, (line) => errors.push(line)),
    ]);
    if (!status.success) {
      throw new Error(
        `testbed build: go build ${tool.pkg} failed (exit ${status.code}):\n${errors.slice(-40).join("\n")}`,
      );
    }
  } finally {
    clearInterval(ticker);
  }
  await rename(partial, target);
  log(`build: ${label}: built in ${seconds(started)} (${compiled} packages)`);
}

/** Version stamps the release builds set, so /version and the components report the real release. */
function versionLdflags(tool: ToolSpec, version: string): string[] {
  if (tool.module === "k8s.io/kubernetes") {
    const [major, minor] = version.replace(/^v/, "").split(".");
    const pkg = "k8s.io/component-base/version";
    return [
      `-X ${pkg}.gitVersion=${version}`,
      `-X ${pkg}.gitMajor=${major}`,
      `-X ${pkg}.gitMinor=${minor}`,
      `-X ${pkg}.gitTreeState=clean`,
    ];
  }
  return [];
}

async function copyKwokStages(goModuleDir: string, stagesDir: string): Promise<void> {
  const out = await runGo(goModuleDir, ["list", "-m", "-f", "{{.Dir}}", "sigs.k8s.io/kwok"]);
  const kwokDir = out.trim();
  await mkdir(stagesDir, { recursive: true });
  for (const file of KWOK_STAGE_FILES) {
    const name = file.split("/").at(-1)!;
    await copyFile(join(kwokDir, file), join(stagesDir, name));
  }
}

async function checkGoToolchain(goModuleDir: string): Promise<void> {
  let version: string;
  try {
    version = await runGo(goModuleDir, ["env", "GOVERSION"]);
  } catch (error) {
    throw new Error(
      `testbed build: cannot run Go (${goBinary()}); install Go 1.26+ or set GO to its path: ${error}`,
    );
  }
  const match = /^go(\d+)\.(\d+)/.exec(version.trim());
  if (!match || Number(match[1]) < 1 || (Number(match[1]) === 1 && Number(match[2]) < 26)) {
    throw new Error(`testbed build: Go 1.26 or newer is needed, found ${version.trim()}`);
  }
}

async function runGo(cwd: string, args: string[]): Promise<string> {
  const out = await new Deno.Command(goBinary(), { args, cwd, env: { GOTOOLCHAIN: "local" }, stdin: "null" })
    .output();
  const text = new TextDecoder();
  if (!out.success) {
    throw new Error(`go ${args.join(" ")} failed (exit ${out.code}): ${text.decode(out.stderr).trim()}`);
  }
  return text.decode(out.stdout);
}

function goBinary(): string {
  return Deno.env.get("GO") ?? "go";
}

export async function readModuleVersions(goModPath: string): Promise<Map<string, string>> {
  const text = await Deno.readTextFile(goModPath);
  const versions = new Map<string, string>();
  // Both `require x v1` and lines inside `require ( ... )`; replace lines carry "=>" and are skipped.
  for (const raw of text.split("\n")) {
    const line = raw.replace(/\/\/.*$/, "").trim().replace(/^require\s+/, "");
    const match = /^(\S+)\s+(v\d\S*)$/.exec(line);
    if (match) versions.set(match[1], match[2]);
  }
  return versions;
}

async function forEachLine(
  stream: ReadableStream<Uint8Array>,
  onLine: (line: string) => void,
): Promise<void> {
  let rest = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    const lines = (rest + chunk).split("\n");
    rest = lines.pop() ?? "";
    lines.forEach(onLine);
  }
  if (rest) onLine(rest);
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

function seconds(since: number): string {
  return `${Math.round((Date.now() - since) / 1000)}s`;
}
