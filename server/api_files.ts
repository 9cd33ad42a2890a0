/**
 * The proto files of the services the hub serves, for reflection. Reflection
 * adds its own two files, and finds dependencies from these.
 */
import type { GenFile } from "@bufbuild/protobuf/codegenv2";
import { file_grpc_health_v1_health } from "../shared/gen/grpc/health/v1/health_pb.ts";
import { file_otterscale_fleet_v1_fleet } from "../shared/gen/otterscale/fleet/v1/fleet_pb.ts";
import { file_otterscale_resource_v1_resource } from "../shared/gen/otterscale/resource/v1/resource_pb.ts";
import { file_otterscale_runtime_v1_runtime } from "../shared/gen/otterscale/runtime/v1/runtime_pb.ts";

export const apiFiles: readonly GenFile[] = [
  file_otterscale_fleet_v1_fleet,
  file_otterscale_resource_v1_resource,
  file_otterscale_runtime_v1_runtime,
  file_grpc_health_v1_health,
];
