import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type ConnectRouter } from "@connectrpc/connect";
import {
  Health,
  HealthCheckResponse_ServingStatus as ServingStatus,
  HealthCheckResponseSchema,
} from "../../shared/gen/grpc/health/v1/health_pb.ts";

export { ServingStatus };

/** The service name health clients use for the server as a whole. */
export const OVERALL_SERVICE = "";

/**
 * Serving status per service name, as `grpc.health.v1.Health` reports it.
 *
 * `""` is the whole server and always exists. A status change notifies every subscriber synchronously;
 * subscribers read the current status themselves, so no history is kept.
 *
 * After `shutdown()` every status is NOT_SERVING for good: later `set` calls are ignored, because a
 * component that finishes starting while the server drains must not advertise it as healthy again.
 */
export class HealthState {
  #statuses = new Map<string, ServingStatus>();
  #listeners = new Set<() => void>();
  #shutDown = false;

  /** Registers `""` and each of `services` with `initial` (SERVING unless given). */
  constructor(services: Iterable<string> = [], initial: ServingStatus = ServingStatus.SERVING) {
    checkSettable(initial, OVERALL_SERVICE);
    this.#statuses.set(OVERALL_SERVICE, initial);
    for (const service of services) this.#statuses.set(service, initial);
  }

  get isShutDown(): boolean {
    return this.#shutDown;
  }

  /** How many change subscriptions are open; each running Watch holds one. */
  get subscriberCount(): number {
    return this.#listeners.size;
  }

  /** The status of `service`, or undefined if that name was never registered. */
  get(service: string): ServingStatus | undefined {
    return this.#statuses.get(service);
  }

  /** Every registered service with its status. */
  entries(): [service: string, status: ServingStatus][] {
    return [...this.#statuses];
  }

  /** Sets (and registers, if new) the status of `service`. Ignored after `shutdown()`. */
  set(service: string, status: ServingStatus): void {
    checkSettable(status, service);
    if (this.#shutDown || this.#statuses.get(service) === status) return;
    this.#statuses.set(service, status);
    this.#notify();
  }

  /** Calls `listener` after each status change and on shutdown. Returns the unsubscribe function. */
  subscribe(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Marks every service NOT_SERVING and ends all Watch streams. Idempotent. */
  shutdown(): void {
    if (this.#shutDown) return;
    for (const service of this.#statuses.keys()) this.#statuses.set(service, ServingStatus.NOT_SERVING);
    this.#shutDown = true;
    this.#notify();
  }

  #notify(): void {
    for (const listener of [...this.#listeners]) listener();
  }
}

// SERVICE_UNKNOWN is what Watch answers for a name nobody registered; storing it would make a
// registered service indistinguishable from an unregistered one.
function checkSettable(status: ServingStatus, service: string): void {
  if (status === ServingStatus.SERVICE_UNKNOWN || ServingStatus[status] === undefined) {
    throw new RangeError(`health: cannot set status ${status} for service "${service}"`);
  }
}

/**
 * Yields the status of `service` now and after each change, until `signal` aborts or the state shuts
 * down (after yielding the final NOT_SERVING). An unregistered name yields SERVICE_UNKNOWN and keeps
 * watching, as the gRPC health protocol asks.
 *
 * Changes are coalesced: a notification only wakes the loop, which then reads the current status. A
 * slow client therefore costs no memory and never receives a stale intermediate status; consecutive
 * equal statuses are sent once.
 */
export async function* watchStatus(
  state: HealthState,
  service: string,
  signal: AbortSignal,
): AsyncGenerator<ServingStatus> {
  let wake: (() => void) | undefined;
  const onChange = () => {
    wake?.();
    wake = undefined;
  };
  const unsubscribe = state.subscribe(onChange);
  // Unsubscribe from the abort listener rather than only in `finally`: after a cancel, connect stops
  // pulling this generator while it is parked at a `yield` and never resumes or returns it, so `finally`
  // would not run and the state would keep the listener forever.
  const stop = () => {
    unsubscribe();
    signal.removeEventListener("abort", stop);
    onChange();
  };
  signal.addEventListener("abort", stop);
  try {
    let sent: ServingStatus | undefined;
    while (!signal.aborted) {
      const status = state.get(service) ?? ServingStatus.SERVICE_UNKNOWN;
      if (status !== sent) {
        sent = status;
        yield status;
        continue;
      }
      if (state.isShutDown) return;
      // No await between reading the status and parking here, so no notification can slip through.
      await new Promise<void>((resolve) => wake = resolve);
    }
  } finally {
    stop();
  }
}

/** Serves `grpc.health.v1.Health` (Check, List, Watch) from `state` on `router`. */
export function registerHealth(router: ConnectRouter, state: HealthState): void {
  router.service(Health, {
    check(request) {
      const status = state.get(request.service);
      if (status === undefined) {
        throw new ConnectError(`health: unknown service "${request.service}"`, Code.NotFound);
      }
      return { status };
    },
    list() {
      const statuses = Object.fromEntries(
        state.entries().map(([service, status]) => [service, create(HealthCheckResponseSchema, { status })]),
      );
      return { statuses };
    },
    async *watch(request, context) {
      for await (const status of watchStatus(state, request.service, context.signal)) {
        yield { status };
      }
    },
  });
}
