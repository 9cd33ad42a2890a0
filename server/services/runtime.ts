/** RuntimeService: logs, terminals, port-forward, scale and restart of workloads. */
import type { ConnectRouter } from "@connectrpc/connect";
import { RuntimeService } from "../../shared/gen/otterscale/runtime/v1/runtime_pb.ts";
import { notImplemented } from "./not_implemented.ts";

export function registerRuntimeService(router: ConnectRouter): void {
  router.service(RuntimeService, {
    // deno-lint-ignore require-yield
    async *podLog() {
      notImplemented("RuntimeService.PodLog");
    },
    // deno-lint-ignore require-yield
    async *executeTTY() {
      notImplemented("RuntimeService.ExecuteTTY");
    },
    writeTTY: () => notImplemented("RuntimeService.WriteTTY"),
    resizeTTY: () => notImplemented("RuntimeService.ResizeTTY"),
    // deno-lint-ignore require-yield
    async *portForward() {
      notImplemented("RuntimeService.PortForward");
    },
    writePortForward: () => notImplemented("RuntimeService.WritePortForward"),
    scale: () => notImplemented("RuntimeService.Scale"),
    restart: () => notImplemented("RuntimeService.Restart"),
  });
}
