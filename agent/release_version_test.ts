import assert from "node:assert/strict";
import { compareReleaseVersions, parseReleaseVersion } from "./release_version.ts";

Deno.test("release versions parse; anything that is not a plain release does not", () => {
  assert.deepEqual(parseReleaseVersion("1.22.333-rc.1"), {
    major: 1n,
    minor: 22n,
    patch: 333n,
    prerelease: ["rc", "1"],
  });
  assert.deepEqual(parseReleaseVersion("0.1.0")?.prerelease, []);
  assert.equal(parseReleaseVersion("99999999999999999999.0.0")?.major, 99999999999999999999n);
  for (
    const bad of [
      "",
      "devel",
      "latest",
      "1.2",
      "1.2.3.4",
      "v1.2.3",
      "01.2.3",
      "1.2.3-",
      "1.2.3-01",
      "1.2.3+build",
      "1.2.3-rc.1+build",
      "1.2.3+evil",
      "../x",
      "1.2.3/../../x",
      "1.2.3@sha256:abcd",
      "1.2.3 ",
      "1.2.3\n",
      `1.2.3-${"a".repeat(130)}`,
    ]
  ) assert.equal(parseReleaseVersion(bad), undefined, JSON.stringify(bad));
});

Deno.test("precedence follows SemVer 2.0.0, pre-releases included", () => {
  const ordered = [
    "0.9.9",
    "1.0.0-alpha",
    "1.0.0-alpha.1",
    "1.0.0-alpha.beta",
    "1.0.0-beta",
    "1.0.0-beta.2",
    "1.0.0-beta.11",
    "1.0.0-rc.1",
    "1.0.0",
    "1.0.1",
    "1.1.0",
    "1.10.0",
    "2.0.0",
  ].map((v) => parseReleaseVersion(v)!);
  for (let i = 0; i < ordered.length; i++) {
    for (let j = 0; j < ordered.length; j++) {
      assert.equal(compareReleaseVersions(ordered[i], ordered[j]), Math.sign(i - j), `${i} vs ${j}`);
    }
  }
});
