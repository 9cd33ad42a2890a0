import assert from "node:assert/strict";
import { ALL_INTERFACES, formatAddress, parseAddress } from "./address.ts";

Deno.test("parseAddress: host:port, :port and bracketed IPv6", () => {
  assert.deepEqual(parseAddress("127.0.0.1:8300"), { address: { hostname: "127.0.0.1", port: 8300 } });
  assert.deepEqual(parseAddress(":8299"), { address: { hostname: ALL_INTERFACES, port: 8299 } });
  assert.deepEqual(parseAddress("[::1]:80"), { address: { hostname: "::1", port: 80 } });
  assert.deepEqual(parseAddress("[::]:443"), { address: { hostname: "::", port: 443 } });
  assert.deepEqual(parseAddress("hub.example.com:1"), { address: { hostname: "hub.example.com", port: 1 } });
  assert.deepEqual(parseAddress("localhost:65535"), { address: { hostname: "localhost", port: 65535 } });
});

Deno.test("parseAddress: port 0 asks for any free port", () => {
  assert.deepEqual(parseAddress("127.0.0.1:0"), { address: { hostname: "127.0.0.1", port: 0 } });
});

Deno.test("parseAddress: ports outside 0-65535 or not numbers are rejected", () => {
  for (const text of [":65536", ":99999", ":-1", ":http", "host:", ":80a", "[::1]:100000"]) {
    const result = parseAddress(text);
    assert.ok("reason" in result, `"${text}" should be rejected`);
    assert.match(result.reason, /port/);
  }
});

Deno.test("parseAddress: says what is wrong with a malformed address", () => {
  const reasonOf = (text: string) => {
    const result = parseAddress(text);
    assert.ok("reason" in result, `"${text}" should be rejected`);
    return result.reason;
  };
  assert.match(reasonOf("8299"), /missing port/);
  assert.match(reasonOf("::1:80"), /IPv6 addresses need brackets/);
  assert.match(reasonOf("[::1:80"), /missing "\]"/);
  assert.match(reasonOf("[::1]80"), /missing ":port"/);
  assert.match(reasonOf("[host]:80"), /not an IPv6 address/);
  assert.match(reasonOf("bad host:80"), /not a host name/);
});

Deno.test("formatAddress: round-trips, with brackets for IPv6", () => {
  assert.equal(formatAddress({ hostname: "::1", port: 80 }), "[::1]:80");
  assert.equal(formatAddress({ hostname: "127.0.0.1", port: 8300 }), "127.0.0.1:8300");
});
