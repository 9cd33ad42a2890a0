/** Listen addresses: `host:port`, `:port` for all interfaces, `[v6]:port`. */

export interface ListenAddress {
  /** Ready for `Deno.serve`/`Deno.listen`: IPv6 without brackets; `0.0.0.0` for all interfaces. */
  readonly hostname: string;
  readonly port: number;
}

/** What an empty host (`:8299`) means. Deno's own default; IPv6-only hosts can say `[::]:8299`. */
export const ALL_INTERFACES = "0.0.0.0";

const HOST_NAME = /^[A-Za-z0-9.-]+$/;
const IPV6 = /^[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*(%[A-Za-z0-9_.-]+)?$/;
const EXAMPLES = "e.g. :8299, 127.0.0.1:8300 or [::1]:8300";

/** A listen address, or a reason the text is not one. */
export function parseAddress(text: string): { address: ListenAddress } | { reason: string } {
  const split = splitHostPort(text);
  if ("reason" in split) return split;
  const port = parsePort(split.port);
  if (port === undefined) {
    return { reason: `port "${split.port}" must be a number from 0 to 65535 (0 picks a free port)` };
  }
  return { address: { hostname: split.host === "" ? ALL_INTERFACES : split.host, port } };
}

/** Formats an address back the way a user writes it, for logs. */
export function formatAddress(address: ListenAddress): string {
  const host = address.hostname.includes(":") ? `[${address.hostname}]` : address.hostname;
  return `${host}:${address.port}`;
}

function splitHostPort(text: string): { host: string; port: string } | { reason: string } {
  if (text.startsWith("[")) {
    const close = text.indexOf("]");
    if (close < 0) return { reason: `missing "]" after the IPv6 address (${EXAMPLES})` };
    const host = text.slice(1, close);
    const rest = text.slice(close + 1);
    if (!IPV6.test(host)) return { reason: `"${host}" is not an IPv6 address` };
    if (!rest.startsWith(":")) return { reason: `missing ":port" after "]" (${EXAMPLES})` };
    return { host, port: rest.slice(1) };
  }
  const colon = text.lastIndexOf(":");
  if (colon < 0) return { reason: `missing port: expected host:port (${EXAMPLES})` };
  const host = text.slice(0, colon);
  if (host.includes(":")) return { reason: `IPv6 addresses need brackets (${EXAMPLES})` };
  if (host !== "" && !HOST_NAME.test(host)) return { reason: `"${host}" is not a host name or IP address` };
  return { host, port: text.slice(colon + 1) };
}

function parsePort(text: string): number | undefined {
  if (!/^\d{1,5}$/.test(text)) return undefined;
  const port = Number(text);
  // 0 lets the system pick a free port; tests and benchmarks rely on it.
  return port >= 0 && port <= 65535 ? port : undefined;
}
