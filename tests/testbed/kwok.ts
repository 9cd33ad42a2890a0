// kwok's --config file: the stock stages (nodes become Ready, pods Running) plus cluster-wide rules
// that make the fake pods usable: logs stream a real file, exec runs a real local process and
// port-forward dials a real local listener.
import { readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { stringify } from "yaml";

export interface KwokPodRules {
  /** File every container's logs stream from (followed, so appends show up live). */
  logsFile: string;
  /** Working directory of exec'd commands. */
  execWorkDir: string;
  /** Local address port-forward connects to, whatever pod port is asked for. */
  forwardTarget: { address: string; port: number };
}

export async function writeKwokConfig(path: string, stagesDir: string, rules: KwokPodRules): Promise<void> {
  const stageFiles = (await readdir(stagesDir)).filter((f) => f.endsWith(".yaml")).sort();
  const stages = await Promise.all(stageFiles.map((f) => readFile(join(stagesDir, f), "utf8")));
  const docs = [...stages, ...podRules(rules).map((doc) => stringify(doc))];
  await writeFile(path, docs.map((d) => d.trim()).join("\n---\n") + "\n");
}

function podRules(rules: KwokPodRules): object[] {
  const apiVersion = "kwok.x-k8s.io/v1alpha1";
  return [
    {
      apiVersion,
      kind: "ClusterLogs",
      metadata: { name: "testbed-logs" },
      spec: { logs: [{ logsFile: rules.logsFile, follow: true }] },
    },
    {
      apiVersion,
      kind: "ClusterExec",
      metadata: { name: "testbed-exec" },
      spec: {
        execs: [{
          local: { workDir: rules.execWorkDir, envs: [{ name: "TESTBED_EXEC", value: "kwok" }] },
        }],
      },
    },
    {
      apiVersion,
      kind: "ClusterPortForward",
      metadata: { name: "testbed-port-forward" },
      // A forward without ports is the default for every port.
      spec: { forwards: [{ target: rules.forwardTarget }] },
    },
  ];
}
