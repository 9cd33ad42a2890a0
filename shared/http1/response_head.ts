/**
 * The head of an HTTP/1.x answer: where it ends in the bytes received, and its status line and header
 * fields. Both the keep-alive client's ResponseParser and the upgrade handshakes (WebSocket, SPDY) read
 * heads through here.
 */

export interface HeadLines {
  status: number;
  statusText: string;
  /** Header fields in order, names as sent, values trimmed. */
  fields: [name: string, value: string][];
  /** The first header line without a name and colon, if any (it is left out of `fields`). */
  malformedLine?: string;
}

/** Where the head ends (the index of its blank line's CR, at or after `from`), or -1 while it is incomplete. */
export function indexOfHeadEnd(bytes: Uint8Array, from = 0): number {
  for (let i = bytes.indexOf(13, from); i >= 0 && i + 3 < bytes.length; i = bytes.indexOf(13, i + 1)) {
    if (bytes[i + 1] === 10 && bytes[i + 2] === 13 && bytes[i + 3] === 10) return i;
  }
  return -1;
}

/** The status line and header lines of a head (without its blank line); undefined when not HTTP/1.x. */
export function parseHeadLines(text: string): HeadLines | undefined {
  const [statusLine, ...lines] = text.split("\r\n");
  const match = /^HTTP\/1\.[01] (\d{3})(?: (.*))?$/.exec(statusLine);
  if (!match) return undefined;
  const head: HeadLines = { status: Number(match[1]), statusText: match[2] ?? "", fields: [] };
  for (const line of lines) {
    const colon = line.indexOf(":");
    if (colon <= 0) {
      head.malformedLine ??= line;
      continue;
    }
    head.fields.push([line.slice(0, colon).trim(), line.slice(colon + 1).trim()]);
  }
  return head;
}
