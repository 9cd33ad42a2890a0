// @peculiar/x509 resolves its services through tsyringe, which needs the Reflect metadata
// polyfill loaded before the library itself. Every PKI module imports x509 from here so the
// order cannot be got wrong.
import "reflect-metadata";
export * from "@peculiar/x509";
