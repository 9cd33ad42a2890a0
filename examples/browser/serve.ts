/**
 * Bundles the example page with `deno bundle` and serves it, with its config.json, from a tiny
 * static server on its own origin:
 *
 *   scripts/deno run -A examples/browser/serve.ts --hub-url http://127.0.0.1:8299 \
 *     --realm-url http://127.0.0.1:18080/realms/otterscale --namespace demo [--port 8400]
 *
 * The hub must list the page's origin (http://127.0.0.1:<port>) in --allowed-origins.
 */
import { join } from "node:path";
import { parseArgs } from "node:util";

export interface PageConfig {
  hubUrl: string;
  realmUrl: string;
  clientId: string;
  namespace: string;
  cluster?: string;
  protocol?: "connect" | "grpc-web";
}

const exampleDir = import.meta.dirname!;
const repoRoot = join(exampleDir, "..", "..");

/** Writes index.html and app.js (the bundled page) into `outDir`. */
export async function bundlePage(outDir: string): Promise<void> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: [
      "bundle",
      "--platform",
      "browser",
      "--output",
      join(outDir, "app.js"),
      join(exampleDir, "main.ts"),
    ],
    cwd: repoRoot,
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!output.success) {
    throw new Error(`deno bundle of the browser example failed:\n${new TextDecoder().decode(output.stderr)}`);
  }
  await Deno.copyFile(join(exampleDir, "index.html"), join(outDir, "index.html"));
}

export interface StaticServer {
  /** e.g. http://127.0.0.1:41234 — the page's origin. */
  origin: string;
  close(): Promise<void>;
}

/** Serves the bundled page from `dir` and `config` as /config.json; nothing else. */
export function servePage(dir: string, config: PageConfig, port = 0): StaticServer {
  const files: Record<string, { file: string; type: string }> = {
    "/": { file: "index.html", type: "text/html; charset=utf-8" },
    "/index.html": { file: "index.html", type: "text/html; charset=utf-8" },
    "/app.js": { file: "app.js", type: "text/javascript; charset=utf-8" },
  };
  const server = Deno.serve({ hostname: "127.0.0.1", port, onListen: () => {} }, async (request) => {
    const path = new URL(request.url).pathname;
    if (path === "/config.json") return Response.json(config);
    const entry = files[path];
    if (!entry) return new Response("not found", { status: 404 });
    return new Response(await Deno.readFile(join(dir, entry.file)), {
      headers: { "content-type": entry.type },
    });
  });
  return { origin: `http://127.0.0.1:${server.addr.port}`, close: () => server.shutdown() };
}

async function main(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      "hub-url": { type: "string" },
      "realm-url": { type: "string" },
      "client-id": { type: "string", default: "otterscale-web" },
      namespace: { type: "string", default: "default" },
      cluster: { type: "string" },
      protocol: { type: "string", default: "connect" },
      port: { type: "string", default: "8400" },
    },
  });
  if (!values["hub-url"] || !values["realm-url"]) {
    console.error(
      "usage: serve.ts --hub-url <url> --realm-url <keycloak realm url> [--namespace <ns>] [--port <n>]",
    );
    Deno.exit(2);
  }
  const outDir = await Deno.makeTempDir({ prefix: "otterscale-browser-example-" });
  await bundlePage(outDir);
  const server = servePage(outDir, {
    hubUrl: values["hub-url"],
    realmUrl: values["realm-url"],
    clientId: values["client-id"],
    namespace: values.namespace,
    cluster: values.cluster,
    protocol: values.protocol === "grpc-web" ? "grpc-web" : "connect",
  }, Number(values.port));
  console.log(`open ${server.origin}/ (the hub must allow the origin ${server.origin})`);
}

if (import.meta.main) await main(Deno.args);
