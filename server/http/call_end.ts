/**
 * Runs a callback when an RPC is over: for a unary call when the response is
 * ready, for a server stream when the last message went out, the handler
 * failed, or the client went away. Interceptors that measure or log whole
 * calls share it.
 */
import type { Interceptor } from "@connectrpc/connect";

type Next = Parameters<Interceptor>[0];
type Request = Parameters<Next>[0];

/** `error` is undefined when the call succeeded (or a stream's client cancelled). */
export type CallEnd = (error: unknown) => void;

export async function callWithEnd(next: Next, req: Request, onEnd: CallEnd) {
  let res;
  try {
    res = await next(req);
  } catch (error) {
    onEnd(error);
    throw error;
  }
  if (!res.stream) {
    onEnd(undefined);
    return res;
  }
  return { ...res, message: endOfStream(res.message, onEnd) };
}

async function* endOfStream<T>(messages: AsyncIterable<T>, onEnd: CallEnd) {
  let error: unknown = undefined;
  try {
    yield* messages;
  } catch (e) {
    error = e;
    throw e;
  } finally {
    onEnd(error);
  }
}
