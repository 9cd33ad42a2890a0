/**
 * RuntimeService: logs, terminals, port-forward, scale and restart of workloads, each as the caller.
 *
 * Exec and port-forward are WebSocket sessions to the apiserver (server/sessions/), owned by the caller on
 * one cluster. The server stream carries the session id in its first message and the output after it; the
 * input comes by unary calls (WriteTTY, ResizeTTY, WritePortForward) naming that id, so browsers can use
 * them over HTTP/1.1. Only the owner finds a session. A session ends when the command or connection ends,
 * when the caller cancels the stream, after 30 minutes without input or output, or at shutdown.
 *
 * A session that cannot start (forbidden, no such pod, cluster down) fails the stream with its Connect
 * code before any message; an exec that started ends with an `exit` message saying how it ended.
 */
import { create, isFieldSet } from "@bufbuild/protobuf";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, type ConnectRouter, type HandlerContext } from "@connectrpc/connect";
import { Counter, Gauge, type Registry } from "prom-client";
import { invalidArgument } from "../../shared/errors.ts";
import type { Logger } from "../../shared/log.ts";
import {
  type ExecuteTTYResponse,
  ExecuteTTYResponseSchema,
  PodLogRequestSchema,
  ResizeTTYRequestSchema,
  RuntimeService,
  WritePortForwardRequestSchema,
  WriteTTYRequestSchema,
} from "../../shared/gen/otterscale/runtime/v1/runtime_pb.ts";
import type { Identity } from "../auth/identity.ts";
import { EXEC_PROTOCOLS, PORT_FORWARD_PROTOCOLS, supportsResize } from "../clusters/channel_protocol.ts";
import type { DiscoveryCache } from "../clusters/discovery.ts";
import type { ClusterAccess } from "../clusters/kube.ts";
import type { ClusterCaller } from "../clusters/kube_call.ts";
import { type ChannelTransport, openClusterChannels } from "../clusters/kube_upgrade.ts";
import { streamPodLog } from "../clusters/pod_log.ts";
import type { ClusterRegistry } from "../clusters/registry.ts";
import { segment, withQuery } from "../clusters/resource_paths.ts";
import { restartWorkload } from "../clusters/restart.ts";
import { getScale, type ScaleTarget, setScale } from "../clusters/scale.ts";
import { requireIdentity } from "../http/context.ts";
import { ExecSession } from "../sessions/exec_session.ts";
import { PortForwardSession } from "../sessions/port_forward_session.ts";
import { type SessionKind, type SessionLimits, SessionStore } from "../sessions/session_store.ts";

export interface RuntimeDeps {
  access: ClusterAccess;
  clusters: ClusterRegistry;
  /** The hub's one discovery cache, shared with ResourceService. */
  discovery: DiscoveryCache;
  log: Logger;
  /** Where the session metrics go (the hub's /metrics registry). */
  metrics?: Registry;
  /** Aborted when the hub shuts down: every session ends. */
  shutdownSignal?: AbortSignal;
  sessionLimits?: Partial<SessionLimits>;
  /** How often idle sessions are looked for (default 30 s). */
  reapIntervalMs?: number;
}

/** The field manager Scale and Restart record (the same as ResourceService's). */
export const FIELD_MANAGER = "otterscale";

const MAX_TERMINAL_DIMENSION = 65535;

export function registerRuntimeService(router: ConnectRouter, deps: RuntimeDeps): void {
  const sessions = new SessionStore(deps.sessionLimits);
  const discovery = deps.discovery;
  const metrics = sessionMetrics(deps.metrics, sessions);
  sessions.startReaper(
    deps.reapIntervalMs ?? 30_000,
    (count) => deps.log.info("ended idle sessions", { count }),
  );
  deps.shutdownSignal?.addEventListener("abort", () => {
    sessions.close(new ConnectError("the hub is shutting down", Code.Unavailable));
  }, { once: true });

  /** Reserves a session place, opens the WebSocket and fills the place with the session `build` makes. */
  async function openSession<S extends ExecSession | PortForwardSession>(
    kind: SessionKind,
    ctx: HandlerContext,
    request: { cluster: string; path: string; protocols: readonly string[]; action: string },
    build: (id: string, ws: ChannelTransport) => S,
  ): Promise<S> {
    const identity = requireIdentity(ctx);
    let reservation;
    try {
      reservation = sessions.reserve(kind, identity.user, request.cluster);
      const ws = await openClusterChannels(deps.clusters, {
        ...request,
        identity,
        signal: AbortSignal.any([ctx.signal, reservation.signal]),
      });
      const session = build(reservation.id, ws);
      if (!sessions.fill(reservation, session)) {
        ws.destroy();
        throw new ConnectError(`${request.action}: the hub is shutting down`, Code.Unavailable);
      }
      metrics.started(kind, "ok");
      deps.log.debug("session opened", {
        kind,
        id: session.id,
        user: identity.user,
        cluster: request.cluster,
      });
      return session;
    } catch (error) {
      reservation?.cancel();
      const failure = ConnectError.from(error);
      metrics.started(kind, Code[failure.code]);
      throw failure;
    }
  }

  /** Ends `session` when the caller cancels the stream, and forgets it once the stream is over. */
  async function* owned<T>(
    session: ExecSession | PortForwardSession,
    ctx: HandlerContext,
    stream: () => AsyncGenerator<T>,
  ): AsyncGenerator<T> {
    const cancel = () =>
      session.end(new ConnectError(`${session.action}: canceled by the caller`, Code.Canceled));
    ctx.signal.addEventListener("abort", cancel, { once: true });
    try {
      yield* stream();
    } finally {
      ctx.signal.removeEventListener("abort", cancel);
      sessions.delete(session);
      session.end(new ConnectError(`${session.action}: the stream has ended`, Code.Canceled));
      deps.log.debug("session closed", { kind: session.kind, id: session.id });
    }
  }

  router.service(RuntimeService, {
    async *podLog(req, ctx) {
      requireText("cluster", req.cluster);
      requireText("name", req.name);
      const set = (field: keyof typeof PodLogRequestSchema.field) =>
        isFieldSet(req, PodLogRequestSchema.field[field]);
      const caller = callerFor(deps.access, req.cluster, requireIdentity(ctx));
      yield* mapChunks(
        streamPodLog(caller, {
          namespace: req.namespace,
          pod: req.name,
          container: req.container,
          follow: req.follow,
          previous: req.previous,
          timestamps: req.timestamps,
          tailLines: set("tailLines") ? req.tailLines : undefined,
          sinceSeconds: set("sinceSeconds") ? req.sinceSeconds : undefined,
          sinceTime: set("sinceTime") && req.sinceTime ? timestampDate(req.sinceTime) : undefined,
          limitBytes: set("limitBytes") ? req.limitBytes : undefined,
        }, ctx.signal),
        (data) => ({ data }),
      );
    },

    async *executeTTY(req, ctx) {
      requireText("cluster", req.cluster);
      requireText("name", req.name);
      if (req.command.length === 0) throw invalidArgument("command: at least one word is required");
      checkTerminalSize(req.rows, req.cols);
      const query = new URLSearchParams();
      for (const word of req.command) query.append("command", word);
      if (req.container) query.set("container", req.container);
      query.set("stdin", "true");
      query.set("stdout", "true");
      query.set("stderr", String(!req.tty));
      query.set("tty", String(req.tty));
      const action = `exec in pod ${req.namespace}/${req.name} on cluster "${req.cluster}"`;
      const session = await openSession(
        "exec-session",
        ctx,
        {
          cluster: req.cluster,
          path: `${podPath(req.namespace, req.name)}/exec?${query}`,
          protocols: EXEC_PROTOCOLS,
          action,
        },
        (id, ws) =>
          new ExecSession({
            id,
            user: requireIdentity(ctx).user,
            cluster: req.cluster,
            ws,
            action,
            tty: req.tty,
          }),
      );

      yield* owned(session, ctx, async function* (): AsyncGenerator<ExecuteTTYResponse> {
        // An old protocol without a resize channel still runs the command, at the terminal's default size.
        if (req.tty && req.rows > 0 && req.cols > 0 && supportsResize(session.protocol)) {
          session.resize({ rows: req.rows, cols: req.cols });
        }
        yield create(ExecuteTTYResponseSchema, { sessionId: session.id });
        for await (const output of session.output()) {
          if (output.kind === "exit") yield create(ExecuteTTYResponseSchema, { exit: output.outcome });
          else if (output.kind === "stdout") yield create(ExecuteTTYResponseSchema, { stdout: output.data });
          else yield create(ExecuteTTYResponseSchema, { stderr: output.data });
        }
      });
    },

    async writeTTY(req, ctx) {
      const user = requireIdentity(ctx).user;
      const cluster = isFieldSet(req, WriteTTYRequestSchema.field.cluster) ? req.cluster : undefined;
      const session = sessions.find("exec-session", req.sessionId, user, cluster) as ExecSession;
      await session.write(req.stdin);
      return {};
    },

    resizeTTY(req, ctx) {
      const user = requireIdentity(ctx).user;
      checkTerminalSize(req.rows, req.cols);
      const cluster = isFieldSet(req, ResizeTTYRequestSchema.field.cluster) ? req.cluster : undefined;
      const session = sessions.find("exec-session", req.sessionId, user, cluster) as ExecSession;
      session.resize({ rows: req.rows, cols: req.cols });
      return {};
    },

    async *portForward(req, ctx) {
      requireText("cluster", req.cluster);
      requireText("name", req.name);
      if (!Number.isInteger(req.port) || req.port < 1 || req.port > 65535) {
        throw invalidArgument("port: must be between 1 and 65535");
      }
      const action =
        `port-forward to port ${req.port} of pod ${req.namespace}/${req.name} on cluster "${req.cluster}"`;
      const session = await openSession(
        "portforward-session",
        ctx,
        {
          cluster: req.cluster,
          path: withQuery(`${podPath(req.namespace, req.name)}/portforward`, { ports: req.port }),
          protocols: PORT_FORWARD_PROTOCOLS,
          action,
        },
        (id, ws) =>
          new PortForwardSession({
            id,
            user: requireIdentity(ctx).user,
            cluster: req.cluster,
            ws,
            action,
            port: req.port,
          }),
      );

      yield* owned(session, ctx, async function* () {
        yield { sessionId: session.id };
        for await (const data of session.output()) yield { data };
      });
    },

    async writePortForward(req, ctx) {
      const user = requireIdentity(ctx).user;
      const cluster = isFieldSet(req, WritePortForwardRequestSchema.field.cluster) ? req.cluster : undefined;
      const session = sessions.find(
        "portforward-session",
        req.sessionId,
        user,
        cluster,
      ) as PortForwardSession;
      await session.write(req.data);
      return {};
    },

    async scale(req, ctx) {
      if (req.replicas < 0) throw invalidArgument("replicas: must not be negative");
      const { caller, target } = await resolveScalable(discovery, deps.access, req, requireIdentity(ctx));
      const state = await setScale(caller, target, req.replicas, FIELD_MANAGER, ctx.signal);
      return { replicas: state.replicas };
    },

    async getScale(req, ctx) {
      const { caller, target } = await resolveScalable(discovery, deps.access, req, requireIdentity(ctx));
      return await getScale(caller, target, ctx.signal);
    },

    async restart(req, ctx) {
      const identity = requireIdentity(ctx);
      const target = await resolveNamed(discovery, req, identity);
      await restartWorkload(
        callerFor(deps.access, req.cluster, identity),
        target,
        FIELD_MANAGER,
        new Date(),
        ctx.signal,
      );
      return {};
    },
  });
}

interface NamedResourceRequest {
  cluster: string;
  group: string;
  version: string;
  resource: string;
  namespace: string;
  name: string;
}

/** Validates the request against the cluster's discovery and the resource's scope. */
async function resolveNamed(
  discovery: DiscoveryCache,
  req: NamedResourceRequest,
  identity: Identity,
): Promise<ScaleTarget> {
  requireText("cluster", req.cluster);
  requireText("version", req.version);
  requireText("resource", req.resource);
  requireText("name", req.name);
  const resource = await discovery.resolve(req.cluster, identity, req);
  if (resource.namespaced && !req.namespace) {
    throw invalidArgument(`namespace: required, ${req.resource} are namespaced`);
  }
  if (!resource.namespaced && req.namespace) {
    throw invalidArgument(`namespace: must be empty, ${req.resource} are cluster-scoped`);
  }
  return {
    group: req.group,
    version: req.version,
    resource: req.resource,
    namespace: req.namespace,
    name: req.name,
  };
}

/** As resolveNamed, and the resource must have a scale subresource. */
async function resolveScalable(
  discovery: DiscoveryCache,
  access: ClusterAccess,
  req: NamedResourceRequest,
  identity: Identity,
): Promise<{ caller: ClusterCaller; target: ScaleTarget }> {
  const target = await resolveNamed(discovery, req, identity);
  const snapshot = await discovery.snapshot(req.cluster, identity);
  const scalable = snapshot.groupVersion(req.group, req.version)?.resources
    .some((entry) => entry.resource === `${req.resource}/scale`);
  if (!scalable) throw invalidArgument(`resource: ${req.resource} have no scale subresource`);
  return { caller: callerFor(access, req.cluster, identity), target };
}

function callerFor(access: ClusterAccess, cluster: string, identity: Identity): ClusterCaller {
  return { access, cluster, identity };
}

function podPath(namespace: string, name: string): string {
  return `/api/v1/namespaces/${segment("namespace", namespace)}/pods/${segment("name", name)}`;
}

function requireText(field: string, value: string): void {
  if (value === "") throw invalidArgument(`${field}: required`);
}

function checkTerminalSize(rows: number, cols: number): void {
  if (rows > MAX_TERMINAL_DIMENSION || cols > MAX_TERMINAL_DIMENSION) {
    throw invalidArgument(`rows, cols: terminal dimensions must be at most ${MAX_TERMINAL_DIMENSION}`);
  }
}

async function* mapChunks<T>(
  chunks: AsyncIterable<Uint8Array>,
  shape: (data: Uint8Array) => T,
): AsyncGenerator<T> {
  for await (const data of chunks) yield shape(data);
}

/** Session gauges (read at scrape time) and a counter of session starts by outcome. */
function sessionMetrics(registry: Registry | undefined, sessions: SessionStore) {
  if (!registry) return { started: (_kind: SessionKind, _outcome: string) => {} };
  new Gauge({
    name: "otterscale_runtime_sessions",
    help: "Exec and port-forward sessions open on this hub.",
    labelNames: ["kind"],
    registers: [registry],
    collect() {
      this.set({ kind: "exec" }, sessions.count("exec-session"));
      this.set({ kind: "portforward" }, sessions.count("portforward-session"));
    },
  });
  const starts = new Counter({
    name: "otterscale_runtime_session_starts_total",
    help: "Exec and port-forward session starts, by outcome (ok, or the Connect code of the failure).",
    labelNames: ["kind", "outcome"],
    registers: [registry],
  });
  return {
    started: (kind: SessionKind, outcome: string) =>
      starts.inc({ kind: kind === "exec-session" ? "exec" : "portforward", outcome }),
  };
}
