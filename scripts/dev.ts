/**
 * `deno task dev`: the product on one machine with nothing outside it — the
 * test bed's Keycloak as identity provider and a hub started like
 * `deno task server` — then a ready-to-paste call with a fresh token.
 * Ctrl-C stops the hub; `deno task testbed down` stops the test bed.
 */
import { startHubProcess } from "../tests/support/hub_process.ts";
import { accessToken, ensureKeycloak } from "../tests/support/keycloak.ts";

const address = "127.0.0.1:8299";

async function main(): Promise<void> {
  console.error("starting Keycloak (the first start takes a minute)…");
  const keycloak = await ensureKeycloak();
  const hub = await startHubProcess({
    issuerUrl: keycloak.realmUrl,
    fixedAddress: address,
    caDir: ".otterscale/dev/ca",
    allowedOrigins: "http://localhost:5173,http://127.0.0.1:5173",
    echo: true,
  });
  const token = await accessToken(keycloak, "alice");
  console.log(`
OtterScale hub: ${hub.url}   (identity provider: ${keycloak.realmUrl})
Users: ${keycloak.users.map((u) => `${u.username}/${u.password}`).join(", ")}

List the connected clusters as alice (token valid for 15 minutes):

  node_modules/.bin/buf curl --protocol grpc --http2-prior-knowledge \\
    -H 'Authorization: Bearer ${token}' \\
    ${hub.url}/otterscale.fleet.v1.FleetService/ListClusters

Press Ctrl-C to stop the hub.
`);
  const stop = () => hub.stop("SIGTERM");
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
  Deno.exit(await hub.exited);
}

await main();
