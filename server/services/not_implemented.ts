/**
 * Honest scaffolding: an RPC whose work is planned but not built yet answers
 * `unimplemented` and says so, rather than pretending with fake data.
 */
import { Code, ConnectError } from "@connectrpc/connect";

export function notImplemented(procedure: string): never {
  throw new ConnectError(`${procedure} is not implemented yet in this hub version`, Code.Unimplemented);
}
