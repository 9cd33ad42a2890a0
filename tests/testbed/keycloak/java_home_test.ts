import assert from "node:assert/strict";
import { findJavaHome, MIN_JAVA_MAJOR, parseReleaseMajor } from "./java_home.ts";

Deno.test("parseReleaseMajor reads both version schemes of a JDK release file", () => {
  assert.equal(parseReleaseMajor('IMPLEMENTOR="Eclipse Adoptium"\nJAVA_VERSION="25.0.3"\n'), 25);
  assert.equal(parseReleaseMajor('JAVA_VERSION="21"\n'), 21);
  assert.equal(parseReleaseMajor('JAVA_VERSION="1.8.0_402"\n'), 8);
  assert.equal(parseReleaseMajor("OS_NAME=Linux\n"), undefined);
});

Deno.test("findJavaHome finds a JDK new enough for Keycloak, whose java reports that version", async () => {
  const java = await findJavaHome();
  assert.ok(java.major >= MIN_JAVA_MAJOR, `major ${java.major}`);
  const output = await new Deno.Command(`${java.home}/bin/java`, { args: ["-version"], stderr: "piped" })
    .output();
  assert.ok(output.success);
  const banner = new TextDecoder().decode(output.stderr);
  assert.match(banner, new RegExp(`version "${java.major}[."]`), banner);
});

Deno.test("findJavaHome fails with a clear message when no JDK is new enough", async () => {
  await assert.rejects(() => findJavaHome(1000), /no JDK 1000\+ found/);
});
