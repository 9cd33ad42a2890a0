/**
 * Graceful shutdown of calls in flight: unary calls may finish within a bound,
 * streams end at once with `unavailable` so clients reconnect elsewhere.
 */
import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";

export interface Drain {
  interceptor: Interceptor;
  /** Ends every open stream and refuses new calls. */
  begin(): void;
  /** Resolves true when no unary call is in flight, or false after `timeoutMs`. */
  unaryDone(timeoutMs: number): Promise<boolean>;
}

export function createDrain(): Drain {
  const shutdown = new AbortController();
  let unaryInFlight = 0;
  let idle: (() => void) | undefined;
  const shuttingDown = () => new ConnectError("the hub is shutting down", Code.Unavailable);

  const interceptor: Interceptor = (next) => async (req) => {
    if (shutdown.signal.aborted) throw shuttingDown();
    if (req.stream) {
      const res = await next(req);
      if (!res.stream) return res;
      return { ...res, message: untilShutdown(res.message, shutdown.signal, shuttingDown) };
    }
    unaryInFlight++;
    try {
      return await next(req);
    } finally {
      unaryInFlight--;
      if (unaryInFlight === 0) idle?.();
    }
  };

  return {
    interceptor,
    begin: () => shutdown.abort(),
    unaryDone(timeoutMs) {
      if (unaryInFlight === 0) return Promise.resolve(true);
      return new Promise((resolve) => {
        const timer = setTimeout(() => resolve(false), timeoutMs);
        idle = () => {
          clearTimeout(timer);
          resolve(true);
        };
      });
    },
  };
}

/** Passes messages through until `signal` aborts, then throws `error()`. */
async function* untilShutdown<T>(messages: AsyncIterable<T>, signal: AbortSignal, error: () => Error) {
  const iterator = messages[Symbol.asyncIterator]();
  let onAbort = () => {};
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(error());
    if (signal.aborted) onAbort();
    else signal.addEventListener("abort", onAbort, { once: true });
  });
  aborted.catch(() => {});
  try {
    while (true) {
      const result = await Promise.race([iterator.next(), aborted]);
      if (result.done) return;
      yield result.value;
    }
  } finally {
    // One shutdown signal serves every stream of the process's life; a
    // listener left behind per stream would pile up.
    signal.removeEventListener("abort", onAbort);
    // Not awaited: a handler blocked on its upstream would hold up shutdown.
    // Its own cleanup (closing upstream requests) still runs.
    iterator.return?.()?.catch(() => {});
  }
}
