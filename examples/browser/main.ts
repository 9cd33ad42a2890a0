/**
 * The example page: sign in with Keycloak, list the fleet's clusters, and stream a Watch of the
 * ConfigMaps in one namespace, all from another origin than the hub's (the hub's CORS grants it).
 * Settings come from config.json next to the page (examples/browser/serve.ts writes it).
 */
import { Code, ConnectError } from "@connectrpc/connect";
import type { JsonObject } from "@bufbuild/protobuf";
import { WatchEvent_Type } from "../../shared/gen/otterscale/resource/v1/resource_pb.ts";
import { createElement, element, replaceAddress } from "./dom.ts";
import { hubClients, type Protocol } from "./hub.ts";
import {
  beginSignIn,
  claimsOf,
  exchangeCode,
  type OidcClient,
  type PendingSignIn,
  returnedCode,
} from "./oidc.ts";

interface PageConfig {
  hubUrl: string;
  realmUrl: string;
  clientId: string;
  namespace: string;
  /** Defaults to the first cluster ListClusters returns. */
  cluster?: string;
  protocol?: Protocol;
}

const PENDING_KEY = "otterscale.sign-in";
const TOKEN_KEY = "otterscale.access-token";

function showError(where: string, error: unknown) {
  const box = element("error");
  const connectError = error instanceof ConnectError ? error : undefined;
  box.hidden = false;
  box.dataset.code = connectError ? Code[connectError.code] : "";
  box.textContent = `${where}: ${error instanceof Error ? error.message : String(error)}`;
}

function readJson<T>(storage: Storage, key: string): T | undefined {
  const text = storage.getItem(key);
  return text ? JSON.parse(text) as T : undefined;
}

/** The access token, after coming back from Keycloak or from earlier in this tab; else undefined. */
async function accessToken(client: OidcClient): Promise<string | undefined> {
  const here = new URL(location.href);
  const pending = readJson<PendingSignIn>(sessionStorage, PENDING_KEY);
  const code = returnedCode(here, pending);
  if (code && pending) {
    sessionStorage.removeItem(PENDING_KEY);
    // Drop code and state from the address bar; a reload must not replay them.
    replaceAddress(client.redirectUri);
    const tokens = await exchangeCode(client, code, pending);
    sessionStorage.setItem(TOKEN_KEY, JSON.stringify(tokens));
  }
  const tokens = readJson<{ accessToken: string; expiresAt: number }>(sessionStorage, TOKEN_KEY);
  return tokens && tokens.expiresAt > Date.now() ? tokens.accessToken : undefined;
}

function offerSignIn(client: OidcClient) {
  const button = element("sign-in");
  button.hidden = false;
  button.onclick = async () => {
    const { pending, url } = await beginSignIn(client);
    sessionStorage.setItem(PENDING_KEY, JSON.stringify(pending));
    location.assign(url.toString());
  };
  element("status").textContent = "Signed out.";
}

function renderClusters(clusters: { name: string; agentVersion: string }[]) {
  const list = element("clusters");
  list.replaceChildren(...clusters.map((cluster) => {
    const item = createElement("li");
    item.dataset.cluster = cluster.name;
    item.textContent = `${cluster.name} (agent ${cluster.agentVersion || "unknown"})`;
    return item;
  }));
}

function renderEvent(type: WatchEvent_Type, object: JsonObject | undefined, resourceVersion: string) {
  const metadata = (object?.metadata ?? {}) as JsonObject;
  const item = createElement("li");
  item.dataset.type = WatchEvent_Type[type];
  item.dataset.name = String(metadata.name ?? "");
  item.textContent = `${WatchEvent_Type[type]} ${metadata.name ?? ""} (resource version ${resourceVersion})`;
  element("events").append(item);
}

async function watchConfigMaps(
  clients: ReturnType<typeof hubClients>,
  cluster: string,
  namespace: string,
) {
  const status = element("watch-status");
  element("watch-target").textContent = `configmaps in ${cluster}/${namespace}`;
  status.dataset.state = "connecting";
  status.textContent = "connecting…";
  try {
    const events = clients.resource.watch({
      cluster,
      group: "",
      version: "v1",
      resource: "configmaps",
      namespace,
    });
    for await (const event of events) {
      status.dataset.state = "watching";
      status.textContent = "watching";
      renderEvent(event.type, event.resource?.object, event.resourceVersion);
    }
    status.dataset.state = "ended";
    status.textContent = "the hub ended the watch";
  } catch (error) {
    status.dataset.state = "error";
    status.textContent = "failed";
    showError("Watch", error);
  }
}

async function main() {
  const config = await (await fetch("config.json")).json() as PageConfig;
  const protocol =
    (new URL(location.href).searchParams.get("protocol") ?? config.protocol ?? "connect") as Protocol;
  element("protocol").textContent = protocol;
  const client: OidcClient = {
    realmUrl: config.realmUrl,
    clientId: config.clientId,
    redirectUri: `${location.origin}${location.pathname}`,
  };
  const token = await accessToken(client);
  if (!token) return offerSignIn(client);

  const claims = claimsOf(token);
  element("user").textContent = String(claims.preferred_username ?? claims.sub);
  element("status").textContent = "Signed in.";
  const clients = hubClients(config.hubUrl, protocol, token);

  let clusters;
  try {
    clusters = (await clients.fleet.listClusters({})).clusters;
  } catch (error) {
    return showError("ListClusters", error);
  }
  renderClusters(clusters);
  const cluster = config.cluster ?? clusters[0]?.name;
  if (!cluster) return showError("Watch", new Error("the fleet has no cluster to watch"));
  await watchConfigMaps(clients, cluster, config.namespace);
}

main().catch((error) => showError("page", error));
