/**
 * A request id per HTTP request: the caller's `X-Request-Id` when it is a sane
 * token (so ids can be traced across a proxy), otherwise a fresh UUID.
 */
const saneRequestId = /^[A-Za-z0-9._:-]{1,128}$/;

export function requestIdFrom(header: string | string[] | undefined): string {
  const given = Array.isArray(header) ? header[0] : header;
  return given && saneRequestId.test(given) ? given : crypto.randomUUID();
}
