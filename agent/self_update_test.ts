import assert from "node:assert/strict";
import { join } from "node:path";
import { agentNamespace, decideSelfUpdate } from "./self_update.ts";

Deno.test("self-update only moves forward, to plain releases", () => {
  assert.deepEqual(decideSelfUpdate("0.1.0", "0.2.0"), {
    update: true,
    image: "ghcr.io/otterscale/otterscale-agent:0.2.0",
  });
  assert.deepEqual(decideSelfUpdate("0.1.0", "0.1.1-rc.1"), {
    update: true,
    image: "ghcr.io/otterscale/otterscale-agent:0.1.1-rc.1",
  });
  // Numeric pre-release parts compare as numbers, not text.
  assert.equal(decideSelfUpdate("1.0.0-rc.2", "1.0.0-rc.10").update, true);
  const refused: [string, string, RegExp][] = [
    ["0.1.0", "0.1.0", /match/],
    ["0.1.0", "0.0.9", /never downgrading/],
    ["0.1.0", "0.1.0-rc.1", /never downgrading/],
    ["0.1.0", "1.2.3+evil", /not a release/],
    ["0.1.0", "latest", /not a release/],
    ["0.1.0", "../x", /not a release/],
    ["0.1.0", "devel", /not a release/],
    ["0.1.0", "", /no version/],
    ["devel", "9.9.9", /not a release build/],
  ];
  for (const [agent, server, reason] of refused) {
    const decision = decideSelfUpdate(agent, server);
    assert.equal(decision.update, false, `${agent} → ${server}`);
    if (!decision.update) assert.match(decision.reason, reason);
  }
});

Deno.test("the namespace comes from POD_NAMESPACE, else the ServiceAccount's file, else nowhere", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const env = (values: Record<string, string>) => (name: string) => values[name];
    assert.equal(agentNamespace(env({ POD_NAMESPACE: "ns-from-env" }), dir), "ns-from-env");
    assert.equal(agentNamespace(env({}), dir), undefined);
    await Deno.writeTextFile(join(dir, "namespace"), "ns-from-file\n");
    assert.equal(agentNamespace(env({}), dir), "ns-from-file");
    assert.equal(agentNamespace(env({ POD_NAMESPACE: " " }), dir), "ns-from-file");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
