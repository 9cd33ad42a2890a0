/**
 * Agent manifests as the hub hands them out: GetAgentManifest renders one for an authenticated user
 * and adds a download URL valid for an hour; the URL renders it again when it is fetched, so it always
 * carries the hub's current version and URLs and a fresh enrolment token.
 */
import type { Logger } from "../../shared/log.ts";
import { agentImage } from "../../shared/agent_deployment.ts";
import { type EnrolmentTokenKey, mintEnrolmentToken } from "../tunnel/enrolment_token.ts";
import { renderAgentManifest } from "./agent_manifest.ts";
import {
  type ManifestTokenKey,
  manifestTokenTtlMs,
  mintManifestToken,
  verifyManifestToken,
} from "./manifest_token.ts";

export const manifestPathPrefix = "/fleet/manifest/";

export interface AgentManifestsOptions {
  enrolmentTokenKey: EnrolmentTokenKey;
  manifestTokenKey: ManifestTokenKey;
  /** The hub's public URL: agents enrol there, and download URLs start with it. */
  externalUrl: URL;
  externalTunnelUrl: URL;
  version: string;
  log: Logger;
}

export interface AgentManifests {
  /** Throws RangeError for an invalid cluster name. */
  issue(cluster: string, user: string): Promise<{ manifest: string; url: string; expires: Date }>;
  /** The manifest for a download token, or undefined when the token is invalid or expired. */
  download(token: string): Promise<string | undefined>;
}

export function createAgentManifests(options: AgentManifestsOptions): AgentManifests {
  const base = options.externalUrl.href.replace(/\/+$/, "");
  const render = async (cluster: string) =>
    renderAgentManifest({
      cluster,
      serverUrl: base,
      tunnelUrl: options.externalTunnelUrl.href.replace(/\/+$/, ""),
      image: agentImage(options.version),
      enrolmentToken: await mintEnrolmentToken(options.enrolmentTokenKey, { cluster }),
    });
  return {
    async issue(cluster, user) {
      const manifest = await render(cluster);
      const now = new Date();
      const token = await mintManifestToken(options.manifestTokenKey, { cluster, sub: user, now });
      const expires = new Date(now.getTime() + manifestTokenTtlMs);
      options.log.info("agent manifest issued", { cluster, user, url_expires: expires.toISOString() });
      return { manifest, url: `${base}${manifestPathPrefix}${token}`, expires };
    },
    async download(token) {
      let claims;
      try {
        claims = await verifyManifestToken(options.manifestTokenKey, token);
      } catch (error) {
        options.log.debug("agent manifest download refused", { reason: (error as Error).message });
        return undefined;
      }
      let manifest;
      try {
        manifest = await render(claims.cluster);
      } catch (error) {
        options.log.error("cannot render an agent manifest", {
          cluster: claims.cluster,
          error: (error as Error).message,
        });
        throw error;
      }
      options.log.info("agent manifest downloaded", { cluster: claims.cluster, requested_by: claims.sub });
      return manifest;
    },
  };
}
