// `deno task testbed up|down|status`: the test bed from a shell. See tests/testbed/README.md.
import { parseArgs } from "node:util";
import { down, status, type StatusReport, up } from "./testbed.ts";

const USAGE = `usage: deno task testbed <command>
  up              build what is missing, start what is not running, write .testbed/state.json
  down [--purge]  stop every process of the bed (--purge also deletes .testbed/)
  status          show the processes and their memory
env: TESTBED_CLUSTERS=n (1..4, default 2) chooses how many clusters up starts`;

async function main(argv: string[]): Promise<number> {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { purge: { type: "boolean", default: false }, help: { type: "boolean", short: "h" } },
  });
  const [command] = positionals;
  if (values.help || positionals.length !== 1) {
    console.log(USAGE);
    return values.help ? 0 : 2;
  }
  switch (command) {
    case "up": {
      const state = await up();
      for (const c of state.clusters) console.log(`${c.name}\t${c.server}\tkubeconfig ${c.kubeconfig}`);
      console.log(`keycloak\t${state.keycloak.realmUrl}`);
      return 0;
    }
    case "down":
      await down({ purge: values.purge });
      return 0;
    case "status":
      printStatus(await status());
      return 0;
    default:
      console.error(`unknown command '${command}'\n${USAGE}`);
      return 2;
  }
}

function printStatus(report: StatusReport): void {
  if (report.clusters.length === 0) console.log("no clusters (run `deno task testbed up`)");
  for (const cluster of report.clusters) {
    console.log(`${cluster.name}  ${cluster.server}`);
    for (const c of cluster.components) {
      const state = c.running ? `running  pid ${c.pid}  rss ${mib(c.rssBytes)}` : "stopped";
      console.log(`  ${c.name.padEnd(24)} ${state}`);
    }
  }
  const kc = report.keycloak;
  console.log(`keycloak  ${kc.running ? `running  rss ${mib(kc.rssBytes)}` : "stopped"}`);
  console.log(`total rss ${mib(report.totalRssBytes)}`);
  if (report.state) {
    console.log(`state: ${report.state.clusters.map((c) => c.name).join(", ")} in .testbed/state.json`);
  }
}

function mib(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(0)} MiB`;
}

if (import.meta.main) {
  try {
    Deno.exit(await main(Deno.args));
  } catch (error) {
    console.error(error instanceof Error ? error.message : error);
    Deno.exit(1);
  }
}
