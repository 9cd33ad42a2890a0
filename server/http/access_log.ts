/** One log line per RPC: who called what, how it ended and how long it took. */
import { ConnectError, type Interceptor } from "@connectrpc/connect";
import type { Logger } from "../../shared/log.ts";
import { identityKey, requestIdKey } from "./context.ts";
import { callWithEnd } from "./call_end.ts";
import { codeName } from "./metrics.ts";

export function createAccessLogInterceptor(log: Logger): Interceptor {
  return (next) => (req) => {
    const started = performance.now();
    const write = (error: unknown) => {
      const code = error === undefined ? "ok" : codeName(ConnectError.from(error).code);
      const fields = {
        request_id: req.contextValues.get(requestIdKey),
        procedure: `${req.service.typeName}/${req.method.name}`,
        user: req.contextValues.get(identityKey)?.user,
        code,
        duration_ms: Math.round((performance.now() - started) * 1000) / 1000,
        ...(error === undefined ? {} : { error: ConnectError.from(error).rawMessage }),
      };
      if (code === "internal" || code === "unknown") log.error("rpc", fields);
      else log.info("rpc", fields);
    };
    return callWithEnd(next, req, write);
  };
}
