/** FleetService: which clusters are connected, agent enrolment, agent manifests. */
import { Code, ConnectError, type ConnectRouter } from "@connectrpc/connect";
import { FleetService } from "../../shared/gen/otterscale/fleet/v1/fleet_pb.ts";
import type { ClusterRegistry } from "../clusters/registry.ts";
import { requireIdentity } from "../http/context.ts";
import { clusterNameProblem } from "../tunnel/enrolment_token.ts";
import type { Enrolment } from "../tunnel/enrolment.ts";
import type { AgentManifests } from "../manifest/agent_manifests.ts";

export interface FleetDeps {
  clusters: ClusterRegistry;
  enrolment: Enrolment;
  /** Absent when the hub has no external URL to put into manifests. */
  manifests?: AgentManifests;
}

export function registerFleetService(router: ConnectRouter, deps: FleetDeps): void {
  router.service(FleetService, {
    listClusters(_req, ctx) {
      requireIdentity(ctx);
      const clusters = deps.clusters.list().map((c) => ({ name: c.name, agentVersion: c.agentVersion }));
      return { clusters };
    },
    // Public: the enrolment token or the agent's certificate authorises it.
    async register(req) {
      const response = await deps.enrolment.register(req);
      deps.clusters.noteAgentVersion(req.cluster, req.agentId, req.agentVersion);
      return response;
    },
    async getAgentManifest(req, ctx) {
      const { user } = requireIdentity(ctx);
      if (!deps.manifests) {
        throw new ConnectError("this hub has no external URL configured for agents", Code.FailedPrecondition);
      }
      const problem = clusterNameProblem(req.cluster);
      if (problem) throw new ConnectError(`invalid cluster: ${problem}`, Code.InvalidArgument);
      const { manifest, url } = await deps.manifests.issue(req.cluster, user);
      return { manifest, url };
    },
  });
}
