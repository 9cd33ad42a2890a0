import type { Bytes } from "./der.ts";

/** One PEM block: its label (e.g. `CERTIFICATE`) and the DER bytes it carries. */
export interface PemBlock {
  type: string;
  der: Bytes;
}

const pemBlockPattern = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END ([A-Z0-9 ]+)-----/g;

/** Every PEM block in `text`, in order. Text outside blocks is ignored, as openssl does. */
export function decodePemBlocks(text: string): PemBlock[] {
  const blocks: PemBlock[] = [];
  for (const match of text.matchAll(pemBlockPattern)) {
    const [, type, body, endType] = match;
    if (type !== endType) throw new Error(`PEM block BEGIN ${type} is closed by END ${endType}`);
    blocks.push({ type, der: decodeBase64(body, type) });
  }
  return blocks;
}

/** The only PEM block in `text`; `what` names the input in error messages. */
export function decodeSinglePemBlock(text: string, what: string): PemBlock {
  const blocks = decodePemBlocks(text);
  if (blocks.length === 0) throw new Error(`${what}: no PEM block found`);
  if (blocks.length > 1) throw new Error(`${what}: expected one PEM block, found ${blocks.length}`);
  return blocks[0];
}

export function encodePem(type: string, der: Uint8Array): string {
  let binary = "";
  for (const byte of der) binary += String.fromCharCode(byte);
  const lines = btoa(binary).match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${type}-----\n${lines.join("\n")}\n-----END ${type}-----\n`;
}

function decodeBase64(body: string, type: string): Bytes {
  const compact = body.replace(/\s+/g, "");
  let binary: string;
  try {
    binary = atob(compact);
  } catch {
    // Encrypted PEM (Proc-Type headers) lands here too: we never write or accept those.
    throw new Error(`PEM block ${type} does not contain valid base64`);
  }
  if (binary.length === 0) throw new Error(`PEM block ${type} is empty`);
  return Uint8Array.from(binary, (char) => char.charCodeAt(0));
}
