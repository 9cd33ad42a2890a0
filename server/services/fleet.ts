/** FleetService: which clusters are connected, agent enrolment, agent manifests. */
import type { ConnectRouter } from "@connectrpc/connect";
import { FleetService } from "../../shared/gen/otterscale/fleet/v1/fleet_pb.ts";
import type { ClusterRegistry } from "../clusters/registry.ts";
import { requireIdentity } from "../http/context.ts";
import type { Enrolment } from "../tunnel/enrolment.ts";
import { notImplemented } from "./not_implemented.ts";

export interface FleetDeps {
  clusters: ClusterRegistry;
  enrolment: Enrolment;
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
    getAgentManifest(_req, ctx) {
      requireIdentity(ctx);
      notImplemented("FleetService.GetAgentManifest");
    },
  });
}
