/**
 * Waiting for CustomResourceDefinitions to be Established: until then the apiserver does not serve
 * their kinds, and objects of those kinds cannot be applied.
 */
import type { KubeClient } from "../kube_client.ts";

export interface WaitOptions {
  timeoutMs: number;
  intervalMs: number;
  signal?: AbortSignal;
}

/** Resolves when every named CRD is Established; throws after `timeoutMs`, naming those that are not. */
export async function waitForEstablished(
  client: KubeClient,
  names: string[],
  options: WaitOptions,
): Promise<void> {
  const deadline = Date.now() + options.timeoutMs;
  let pending = [...names];
  while (true) {
    const checks = await Promise.all(
      pending.map(async (name) => ({ name, done: await isEstablished(client, name) })),
    );
    pending = checks.filter((c) => !c.done).map((c) => c.name);
    if (pending.length === 0) return;
    options.signal?.throwIfAborted();
    if (Date.now() + options.intervalMs > deadline) {
      throw new Error(
        `CRDs not Established within ${options.timeoutMs} ms: ${pending.join(", ")}`,
      );
    }
    await delay(options.intervalMs, options.signal);
  }
}

async function isEstablished(client: KubeClient, name: string): Promise<boolean> {
  try {
    const response = await client.send(
      "GET",
      `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${encodeURIComponent(name)}`,
    );
    if (response.status !== 200) return false;
    const conditions = (response.body as { status?: { conditions?: { type: string; status: string }[] } })
      .status?.conditions ?? [];
    return conditions.some((c) => c.type === "Established" && c.status === "True");
  } catch {
    // A failed poll is retried at the next interval; only the deadline ends the wait.
    return false;
  }
}

function delay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(done, ms);
    function done() {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }
    function onAbort() {
      clearTimeout(timer);
      reject(signal!.reason);
    }
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
