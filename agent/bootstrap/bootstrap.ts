/**
 * Bootstrap ("layer 0"): installs the bundled FluxCD and OtterScale operator CRDs into the agent's
 * cluster by server-side apply. CRDs go first and must be Established before the other objects are
 * applied in bundle order (namespaces before what lives in them). Re-running is harmless: applying an
 * unchanged object changes nothing.
 */
import type { Logger } from "../../shared/log.ts";
import type { KubeClient } from "../kube_client.ts";
import { applyObject } from "./apply.ts";
import { type BootstrapBundle, isCrd, type KubeObject } from "./bundle.ts";
import { waitForEstablished } from "./crd_established.ts";
import { createResourceMapper } from "./resource_mapper.ts";

export interface BootstrapOptions {
  client: KubeClient;
  bundle: BootstrapBundle;
  log: Logger;
  signal?: AbortSignal;
  /** How long CRDs may take to become Established (default 60 s), and how often to look (2 s). */
  establishTimeoutMs?: number;
  establishIntervalMs?: number;
}

/** One complete pass; throws on the first object that cannot be applied. */
export async function bootstrapCluster(options: BootstrapOptions): Promise<void> {
  const { client, bundle, log, signal } = options;
  const started = Date.now();
  log.info("bootstrap started", {
    objects: bundle.objects.length,
    sources: bundle.sources.map((s) => `${s.module}@${s.version}`),
  });
  for (const part of bundle.omitted) {
    log.warn("bootstrap bundle lacks a part", {
      part: part.name,
      module: `${part.module}@${part.version}`,
      reason: part.reason,
    });
  }
  const mapper = createResourceMapper(client);
  const crds = bundle.objects.filter(isCrd);
  for (const crd of crds) {
    signal?.throwIfAborted();
    await applyObject(client, mapper, crd);
    log.info("applied CRD", { name: crd.metadata.name });
  }
  if (crds.length > 0) {
    log.info("waiting for CRDs to be established", { count: crds.length });
    await waitForEstablished(client, crds.map((c) => c.metadata.name), {
      timeoutMs: options.establishTimeoutMs ?? 60_000,
      intervalMs: options.establishIntervalMs ?? 2_000,
      signal,
    });
    log.info("CRDs established", { count: crds.length });
  }
  const rest: KubeObject[] = bundle.objects.filter((o) => !isCrd(o));
  for (const object of rest) {
    signal?.throwIfAborted();
    await applyObject(client, mapper, object);
    log.info("applied resource", {
      kind: object.kind,
      namespace: object.metadata.namespace,
      name: object.metadata.name,
    });
  }
  log.info("bootstrap finished", { objects: bundle.objects.length, ms: Date.now() - started });
}
