/**
 * `deno task bench`: runs the benchmark suites one after the other on this
 * machine, prints one table and writes bench/results/<time>.json (and
 * latest.json). `deno task bench hub-rpc` runs only the named suites.
 */
import { join } from "node:path";
import { benchHubRpc } from "./suites/hub_rpc.ts";
import { benchResource } from "./suites/resource.ts";
import { benchRuntime } from "./suites/runtime.ts";
import { benchTunnelBulk } from "./suites/tunnel_bulk.ts";
import { type BenchRow, formatTable } from "./table.ts";

const suites: Record<string, () => Promise<BenchRow[]>> = {
  "hub-rpc": benchHubRpc,
  "tunnel-bulk": benchTunnelBulk,
  "resource": benchResource,
  "runtime": benchRuntime,
};

async function main(args: string[]): Promise<void> {
  const unknown = args.filter((name) => !(name in suites));
  if (unknown.length > 0) {
    throw new Error(`unknown suite(s) ${unknown.join(", ")}; known: ${Object.keys(suites).join(", ")}`);
  }
  const selected = args.length > 0 ? args : Object.keys(suites);
  const rows: BenchRow[] = [];
  for (const name of selected) {
    console.error(`running ${name}…`);
    rows.push(...await suites[name]());
  }
  console.log(formatTable(rows));
  await writeResults(rows);
}

async function writeResults(rows: BenchRow[]): Promise<void> {
  const dir = join(import.meta.dirname!, "results");
  await Deno.mkdir(dir, { recursive: true });
  const result = {
    time: new Date().toISOString(),
    machine: { cores: navigator.hardwareConcurrency, deno: Deno.version.deno, os: Deno.build.os },
    rows,
  };
  const text = JSON.stringify(result, null, 2) + "\n";
  const file = join(dir, `${result.time.replaceAll(":", "-")}.json`);
  await Deno.writeTextFile(file, text);
  await Deno.writeTextFile(join(dir, "latest.json"), text);
  console.error(`results written to ${file}`);
}

await main(Deno.args);
