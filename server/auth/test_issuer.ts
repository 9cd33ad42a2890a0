// Test-only: a minimal OpenID provider on loopback (discovery + JWKS) with jose-generated keys, counting
// the requests it gets.
import type { OidcVerifier, Readiness } from "./oidc_verifier.ts";
import { exportJWK, exportSPKI, generateKeyPair, type JWK, type JWTPayload, SignJWT } from "jose";

/** jose's key type, spelled so it survives @types/node being in the same program (see the Deno lab notes). */
export type SigningKey = Parameters<SignJWT["sign"]>[0];

export type PublicKey = Parameters<typeof exportSPKI>[0];

export type TestKey = {
  kid: string;
  alg: string;
  privateKey: SigningKey;
  publicKey: PublicKey;
  publicJwk: JWK;
};

export const REALM_PATH = "/realms/test";
export const JWKS_PATH = `${REALM_PATH}/protocol/openid-connect/certs`;

export async function generateTestKey(alg: string, kid: string): Promise<TestKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const publicJwk = { ...await exportJWK(publicKey), kid, alg, use: "sig" };
  return { kid, alg, privateKey, publicKey, publicJwk };
}

export class TestIssuer {
  readonly url: string;
  readonly port: number;
  /** Keys currently published in the JWKS. */
  published: TestKey[] = [];
  /** Raw JWKs published after `published` (e.g. a symmetric key). */
  extraJwks: JWK[] = [];
  /** Merged over the generated discovery document. */
  discoveryOverrides: Record<string, unknown> = {};
  /** When set, served verbatim as the JWKS body. */
  jwksBodyOverride: unknown;
  /** Status of JWKS responses; anything but 200 returns an error body. */
  jwksStatus = 200;
  discoveryRequests = 0;
  jwksRequests = 0;
  #server: Deno.HttpServer<Deno.NetAddr>;

  constructor(port = 0) {
    this.#server = Deno.serve(
      { hostname: "127.0.0.1", port, onListen: () => {} },
      (request) => this.#handle(request),
    );
    this.port = this.#server.addr.port;
    this.url = `http://127.0.0.1:${this.port}${REALM_PATH}`;
  }

  get jwksUri(): string {
    return `http://127.0.0.1:${this.port}${JWKS_PATH}`;
  }

  #handle(request: Request): Response {
    const { pathname } = new URL(request.url);
    if (pathname === `${REALM_PATH}/.well-known/openid-configuration`) {
      this.discoveryRequests++;
      return Response.json({
        issuer: this.url,
        jwks_uri: this.jwksUri,
        id_token_signing_alg_values_supported: ["RS256", "ES256"],
        ...this.discoveryOverrides,
      });
    }
    if (pathname === JWKS_PATH) {
      this.jwksRequests++;
      if (this.jwksStatus !== 200) return new Response("unavailable", { status: this.jwksStatus });
      if (this.jwksBodyOverride !== undefined) return Response.json(this.jwksBodyOverride);
      return Response.json({ keys: [...this.published.map((key) => key.publicJwk), ...this.extraJwks] });
    }
    return new Response("not found", { status: 404 });
  }

  /** Signs `claims` with `key`; `iss` defaults to this issuer, the header to `{alg, kid, typ: "JWT"}`. */
  sign(key: TestKey, claims: JWTPayload, header: Record<string, unknown> = {}): Promise<string> {
    return new SignJWT({ iss: this.url, ...claims })
      .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: "JWT", ...header })
      .sign(key.privateKey);
  }

  close(): Promise<void> {
    return this.#server.shutdown();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/** A loopback port that nothing listens on (right now). */
export function unusedPort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr;
  listener.close();
  return port;
}

/** Resolves once the verifier has loaded discovery and keys: it loads them in the background. */
export function waitUntilReady(verifier: OidcVerifier, timeoutMs: number): Promise<Readiness> {
  if (verifier.readiness().ready) return Promise.resolve(verifier.readiness());
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      unsubscribe();
      reject(new Error(`not ready after ${timeoutMs} ms: ${verifier.readiness().detail}`));
    }, timeoutMs);
    const unsubscribe = verifier.onChange((readiness) => {
      if (!readiness.ready) return;
      clearTimeout(timer);
      unsubscribe();
      resolve(readiness);
    });
  });
}
