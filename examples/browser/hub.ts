/**
 * Clients for the hub from a browser, with Connect-Web: the Connect protocol by default, or
 * gRPC-Web. Every call carries the signed-in user's access token.
 */
import { createClient, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-web";
import { FleetService } from "../../shared/gen/otterscale/fleet/v1/fleet_pb.ts";
import { ResourceService } from "../../shared/gen/otterscale/resource/v1/resource_pb.ts";

export type Protocol = "connect" | "grpc-web";

export function hubClients(hubUrl: string, protocol: Protocol, accessToken: string) {
  const bearer: Interceptor = (next) => (request) => {
    request.header.set("authorization", `Bearer ${accessToken}`);
    return next(request);
  };
  const options = { baseUrl: hubUrl, interceptors: [bearer] };
  const transport = protocol === "grpc-web"
    ? createGrpcWebTransport(options)
    : createConnectTransport(options);
  return {
    fleet: createClient(FleetService, transport),
    resource: createClient(ResourceService, transport),
  };
}
