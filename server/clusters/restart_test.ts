import assert from "node:assert/strict";
import { RESTARTED_AT_ANNOTATION, restartPatch } from "./restart.ts";

Deno.test("the restart patch stamps the pod template in UTC, whole seconds, as kubectl does", () => {
  const patch = JSON.parse(restartPatch(new Date("2026-03-04T05:06:07.891Z")));
  assert.deepEqual(patch, {
    spec: { template: { metadata: { annotations: { [RESTARTED_AT_ANNOTATION]: "2026-03-04T05:06:07Z" } } } },
  });
  assert.equal(RESTARTED_AT_ANNOTATION, "kubectl.kubernetes.io/restartedAt");
});
