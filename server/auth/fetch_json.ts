export type FetchJsonOptions = {
  fetch: typeof fetch;
  timeoutMs: number;
  /** Aborts the request early, e.g. when the verifier is closed. */
  signal?: AbortSignal;
};

/**
 * GETs `url` and parses the body as JSON. Fails with an error naming the URL on a network error, a
 * timeout, a non-2xx status or a body that is not JSON.
 */
export async function fetchJson(url: string, options: FetchJsonOptions): Promise<unknown> {
  const abort = new AbortController();
  // A plain timer (not AbortSignal.timeout) so it is cleared on every path and never outlives the call.
  const timer = setTimeout(
    () => abort.abort(new Error(`timed out after ${options.timeoutMs} ms`)),
    options.timeoutMs,
  );
  const forwardAbort = () => abort.abort(options.signal?.reason);
  options.signal?.addEventListener("abort", forwardAbort, { once: true });
  try {
    if (options.signal?.aborted) forwardAbort();
    const response = await options.fetch(url, {
      headers: { accept: "application/json" },
      signal: abort.signal,
    });
    if (!response.ok) {
      await response.body?.cancel();
      throw new Error(`HTTP ${response.status} ${response.statusText}`.trim());
    }
    return await response.json();
  } catch (error) {
    const reason = abort.signal.aborted ? abort.signal.reason : error;
    throw new Error(`GET ${url} failed: ${messageOf(reason)}`, { cause: error });
  } finally {
    clearTimeout(timer);
    options.signal?.removeEventListener("abort", forwardAbort);
  }
}

export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
