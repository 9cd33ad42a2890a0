import assert from "node:assert/strict";
import { CLUSTER_NAMES, clusterPorts, keycloakPort, portOffset } from "./ports.ts";

Deno.test("every cluster gets its own ports, none shared with another cluster or Keycloak", () => {
  const all = CLUSTER_NAMES.flatMap((_, i) => Object.values(clusterPorts(i)));
  assert.equal(new Set(all).size, all.length);
  assert.ok(!all.includes(keycloakPort));
  assert.equal(clusterPorts(0).apiserver, 16443 + portOffset);
  assert.equal(clusterPorts(1).apiserver, 16543 + portOffset);
});

Deno.test("a cluster index past the known names is refused", () => {
  assert.throws(() => clusterPorts(CLUSTER_NAMES.length), /out of range/);
});
