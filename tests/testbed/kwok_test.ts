import assert from "node:assert/strict";
import { join } from "node:path";
import { parseAllDocuments } from "yaml";
import { writeKwokConfig } from "./kwok.ts";

Deno.test("kwok config holds the stages and the logs/exec/port-forward rules", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const stages = join(dir, "stages");
    await Deno.mkdir(stages);
    await Deno.writeTextFile(
      join(stages, "pod-ready.yaml"),
      "apiVersion: kwok.x-k8s.io/v1alpha1\nkind: Stage\nmetadata:\n  name: pod-ready\n",
    );
    const file = join(dir, "kwok.yaml");
    await writeKwokConfig(file, stages, {
      logsFile: "/logs/app.log",
      execWorkDir: "/exec",
      forwardTarget: { address: "127.0.0.1", port: 1234 },
    });
    const docs = parseAllDocuments(await Deno.readTextFile(file)).map((d) => d.toJS());
    assert.deepEqual(docs.map((d) => d.kind), ["Stage", "ClusterLogs", "ClusterExec", "ClusterPortForward"]);
    assert.equal(docs[1].spec.logs[0].logsFile, "/logs/app.log");
    assert.equal(docs[2].spec.execs[0].local.workDir, "/exec");
    assert.deepEqual(docs[3].spec.forwards, [{ target: { address: "127.0.0.1", port: 1234 } }]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
