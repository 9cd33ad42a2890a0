/** ResourceService: generic reads and writes of Kubernetes resources, as the caller. */
import type { ConnectRouter } from "@connectrpc/connect";
import { ResourceService } from "../../shared/gen/otterscale/resource/v1/resource_pb.ts";
import { notImplemented } from "./not_implemented.ts";

export function registerResourceService(router: ConnectRouter): void {
  router.service(ResourceService, {
    discovery: () => notImplemented("ResourceService.Discovery"),
    schema: () => notImplemented("ResourceService.Schema"),
    list: () => notImplemented("ResourceService.List"),
    get: () => notImplemented("ResourceService.Get"),
    describe: () => notImplemented("ResourceService.Describe"),
    create: () => notImplemented("ResourceService.Create"),
    apply: () => notImplemented("ResourceService.Apply"),
    delete: () => notImplemented("ResourceService.Delete"),
    // deno-lint-ignore require-yield
    async *watch() {
      notImplemented("ResourceService.Watch");
    },
  });
}
