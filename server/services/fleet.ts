/** FleetService: which clusters are connected, agent enrolment, agent manifests. */
import type { ConnectRouter } from "@connectrpc/connect";
import { FleetService } from "../../shared/gen/otterscale/fleet/v1/fleet_pb.ts";
import type { ClusterRegistry } from "../clusters/registry.ts";
import { requireIdentity } from "../http/context.ts";
import { notImplemented } from "./not_implemented.ts";

export interface FleetDeps {
  clusters: ClusterRegistry;
}

export function registerFleetService(router: ConnectRouter, deps: FleetDeps): void {
  router.service(FleetService, {
    listClusters(_req, ctx) {
      requireIdentity(ctx);
      const clusters = deps.clusters.list().map((c) => ({ name: c.name, agentVersion: c.agentVersion }));
      return { clusters };
    },
    register() {
      notImplemented("FleetService.Register");
    },
    getAgentManifest(_req, ctx) {
      requireIdentity(ctx);
      notImplemented("FleetService.GetAgentManifest");
    },
  });
}
