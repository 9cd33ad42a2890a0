import assert from "node:assert/strict";
import type { ConfigValues } from "./config_values.ts";
import { type ConfigSources, loadConfig, type LoadResult } from "./load.ts";
import { envName } from "./names.ts";
import { envOf, expectConfigError, filesOf, REQUIRED_SCHEMA, TEST_SCHEMA } from "./test_helpers.ts";

const identity = (values: ConfigValues) => values;

function load(args: string[], sources: ConfigSources = {}): ConfigValues {
  const result = loadConfig(TEST_SCHEMA, "9.9.9", args, identity, {
    env: envOf({}),
    readFile: filesOf({}),
    ...sources,
  });
  return configOf(result);
}

function configOf<T>(result: LoadResult<T>): T {
  assert.equal(result.kind, "config");
  return (result as Extract<LoadResult<T>, { kind: "config" }>).config;
}

/** For each type: how each layer sets the key, and the value that layer must produce. */
interface Layers {
  key: string;
  read: (values: ConfigValues) => unknown;
  flag: string[];
  env: string;
  yaml: string;
  expected: { flag: unknown; env: unknown; file: unknown; default: unknown };
}

const LAYERS: Layers[] = [
  {
    key: "test.name",
    read: (v) => v.string("test.name"),
    flag: ["--name", "from-flag"],
    env: "from-env",
    yaml: "name: from-file",
    expected: { flag: "from-flag", env: "from-env", file: "from-file", default: "from-default" },
  },
  {
    key: "test.items",
    read: (v) => v.list("test.items"),
    flag: ["--items", "f1,f2", "--items", "f3"],
    env: "e1, e2\te3",
    yaml: "items: [y1, y2]",
    expected: {
      flag: ["f1", "f2", "f3"],
      env: ["e1", "e2", "e3"],
      file: ["y1", "y2"],
      default: ["d1", "d2"],
    },
  },
  {
    key: "test.enabled",
    read: (v) => v.boolean("test.enabled"),
    flag: ["--no-enabled"],
    env: "yes",
    yaml: "enabled: false",
    expected: { flag: false, env: true, file: false, default: false },
  },
  {
    key: "test.count",
    read: (v) => v.integer("test.count"),
    flag: ["--count=4"],
    env: "3",
    yaml: "count: 2",
    expected: { flag: 4, env: 3, file: 2, default: 1 },
  },
  {
    key: "test.wait",
    read: (v) => v.durationMs("test.wait"),
    flag: ["--wait", "500ms"],
    env: "2m",
    yaml: "wait: 10",
    expected: { flag: 500, env: 120_000, file: 10_000, default: 1000 },
  },
  {
    key: "test.level",
    read: (v) => v.choice("test.level", ["debug", "info", "warn", "error"]),
    flag: ["--level", "debug"],
    env: "INFO",
    yaml: "level: warn",
    expected: { flag: "debug", env: "info", file: "warn", default: "error" },
  },
  {
    key: "test.endpoint",
    read: (v) => v.url("test.endpoint").href,
    flag: ["--endpoint=https://flag.example/x"],
    env: "https://env.example",
    yaml: "endpoint: http://file.example:8080",
    expected: {
      flag: "https://flag.example/x",
      env: "https://env.example/",
      file: "http://file.example:8080/",
      default: "http://default.example/",
    },
  },
  {
    key: "test.listen",
    read: (v) => v.address("test.listen"),
    flag: ["--listen", "[::1]:4000"],
    env: "127.0.0.1:3000",
    yaml: "listen: 'localhost:2000'",
    expected: {
      flag: { hostname: "::1", port: 4000 },
      env: { hostname: "127.0.0.1", port: 3000 },
      file: { hostname: "localhost", port: 2000 },
      default: { hostname: "0.0.0.0", port: 1000 },
    },
  },
];

for (const layer of LAYERS) {
  Deno.test(`load ${layer.key}: flag beats env beats file beats default`, () => {
    const env = envOf({ [envName(layer.key)]: layer.env });
    const readFile = filesOf({ "./config.yaml": `test:\n  ${layer.yaml}\n` });
    assert.deepEqual(layer.read(load(layer.flag, { env, readFile })), layer.expected.flag, "flag");
    assert.deepEqual(layer.read(load([], { env, readFile })), layer.expected.env, "env");
    assert.deepEqual(layer.read(load([], { readFile })), layer.expected.file, "file");
    assert.deepEqual(layer.read(load([])), layer.expected.default, "default");
  });
}

Deno.test("load: a nested key is set by its flag, env name and nested YAML", () => {
  const key = "test.nested.dir_path";
  assert.equal(envName(key), "OTTERSCALE_TEST_NESTED_DIR_PATH");
  assert.equal(load(["--nested-dir-path=/f"]).string(key), "/f");
  assert.equal(load([], { env: envOf({ OTTERSCALE_TEST_NESTED_DIR_PATH: "/e" }) }).string(key), "/e");
  assert.equal(
    load([], { readFile: filesOf({ "./config.yaml": "test:\n  nested:\n    dir_path: /y\n" }) }).string(key),
    "/y",
  );
});

Deno.test("load: an empty higher layer still wins for optional text (it means 'set to empty')", () => {
  const readFile = filesOf({ "./config.yaml": "test:\n  name: from-file\n  items: [a]\n" });
  const values = load([], { env: envOf({ OTTERSCALE_TEST_NAME: "", OTTERSCALE_TEST_ITEMS: "" }), readFile });
  assert.equal(values.string("test.name"), "");
  assert.deepEqual(values.list("test.items"), []);
});

Deno.test("load: the fallback variable comes after the config file and before the default", () => {
  const env = envOf({ TEST_HOME: "/from-fallback" });
  assert.equal(load([], { env }).string("test.home"), "/from-fallback");
  const readFile = filesOf({ "./config.yaml": "test:\n  home: /from-file\n" });
  assert.equal(load([], { env, readFile }).string("test.home"), "/from-file");
  assert.equal(
    load([], { env: envOf({ TEST_HOME: "/f", OTTERSCALE_TEST_HOME: "/own" }) }).string("test.home"),
    "/own",
  );
  assert.equal(load([]).string("test.home"), "");
});

Deno.test("load: a fallback variable we may not read counts as unset", () => {
  const env = (name: string) => {
    if (name === "TEST_HOME") throw new Deno.errors.NotCapable('Requires env access to "TEST_HOME"');
    return undefined;
  };
  assert.equal(load([], { env }).string("test.home"), "");
});

Deno.test("load: an OTTERSCALE_ variable we may not read is a clear error", () => {
  const env = (name: string): string => {
    throw new Deno.errors.NotCapable(`Requires env access to "${name}"`);
  };
  const error = expectConfigError(() => load([], { env }));
  assert.match(error.message, /env OTTERSCALE_TEST_NAME: not permitted .* --allow-env=OTTERSCALE_\*/);
});

Deno.test("load: every bad value is reported at once, naming key, source and reason", () => {
  const env = envOf({ OTTERSCALE_TEST_COUNT: "many", OTTERSCALE_TEST_LEVEL: "loud" });
  const readFile = filesOf({ "./config.yaml": "test:\n  name: ok\n  wait: soon\n" });
  const error = expectConfigError(() => load(["--listen", ":65536", "--enabled=perhaps"], { env, readFile }));
  assert.deepEqual(error.problems.map((p) => [p.key, p.source]), [
    ["test.enabled", "flag --enabled"],
    ["test.count", "env OTTERSCALE_TEST_COUNT"],
    ["test.wait", "file ./config.yaml:3"],
    ["test.level", "env OTTERSCALE_TEST_LEVEL"],
    ["test.listen", "flag --listen"],
  ]);
  assert.match(error.message, /^invalid configuration \(5 problems\):\n/);
  assert.match(
    error.message,
    / {2}- test\.wait \(from file \.\/config\.yaml:3\): "soon": expected a duration/,
  );
  assert.match(
    error.message,
    / {2}- test\.listen \(from flag --listen\): ":65536": port "65536" must be a number from 0/,
  );
  assert.match(
    error.message,
    / {2}- test\.count \(from env OTTERSCALE_TEST_COUNT\): "many": expected a whole number/,
  );
});

Deno.test("load: only the winning layer is checked, so a flag can override a bad env value", () => {
  const env = envOf({ OTTERSCALE_TEST_COUNT: "many" });
  assert.equal(load(["--count", "5"], { env }).integer("test.count"), 5);
});

Deno.test("load: a secret value is never echoed in errors", () => {
  const schema = {
    ...TEST_SCHEMA,
    keys: [{
      key: "test.token",
      type: "url" as const,
      default: "",
      secret: true,
      description: "A secret URL.",
    }],
  };
  const error = expectConfigError(() =>
    loadConfig(schema, "1", ["--token", "s3cr3t"], identity, { env: envOf({}), readFile: filesOf({}) })
  );
  assert.doesNotMatch(error.message, /s3cr3t/);
  assert.match(error.message, /test\.token \(from flag --token\): \(hidden value\)/);
});

Deno.test("load: a bad default is reported with source default", () => {
  const schema = {
    ...TEST_SCHEMA,
    keys: [{
      key: "test.listen",
      type: "address" as const,
      default: "nowhere",
      description: "Broken default.",
    }],
  };
  const error = expectConfigError(() =>
    loadConfig(schema, "1", [], identity, { env: envOf({}), readFile: filesOf({}) })
  );
  assert.deepEqual([error.problems[0].key, error.problems[0].source], ["test.listen", "default"]);
});

Deno.test("load: all missing required keys are listed together with their flag and env names", () => {
  const error = expectConfigError(() =>
    loadConfig(REQUIRED_SCHEMA, "1", ["--port", ":65536"], identity, {
      env: envOf({}),
      readFile: filesOf({}),
    })
  );
  assert.deepEqual(error.problems.map((p) => p.key), ["req.port", "req.origins", "req.issuer"]);
  assert.match(
    error.message,
    /req\.origins: required; set flag --origins, env OTTERSCALE_REQ_ORIGINS, or req\.origins in the config file/,
  );
  assert.match(
    error.message,
    /req\.issuer: required; set flag --issuer, env OTTERSCALE_REQ_ISSUER, or req\.issuer/,
  );
});

Deno.test("load: a required key blanked by a higher layer is missing, naming that layer", () => {
  const env = envOf({ OTTERSCALE_REQ_HUB: " ", OTTERSCALE_REQ_ISSUER: "https://issuer.example" });
  const error = expectConfigError(() =>
    loadConfig(REQUIRED_SCHEMA, "1", ["--origins", ", ,"], identity, { env, readFile: filesOf({}) })
  );
  assert.deepEqual(error.problems.map((p) => p.key), ["req.origins", "req.hub"]);
  assert.match(error.message, /req\.origins: required but flag --origins is empty/);
  assert.match(error.message, /req\.hub: required but env OTTERSCALE_REQ_HUB is empty/);
});

Deno.test("load: required keys set anywhere are satisfied; a required key with a default needs nothing", () => {
  const env = envOf({ OTTERSCALE_REQ_ISSUER: "https://issuer.example" });
  const readFile = filesOf({ "./config.yaml": "req:\n  origins:\n    - https://a.example\n" });
  const values = configOf(loadConfig(REQUIRED_SCHEMA, "1", [], identity, { env, readFile }));
  assert.deepEqual(values.list("req.origins"), ["https://a.example"]);
  assert.equal(values.url("req.hub").href, "http://hub.example/");
});

Deno.test("load: warnings report unknown YAML keys and the file that was read", () => {
  const readFile = filesOf({ "/etc/otterscale/config.yaml": "test:\n  name: a\n  colour: red\n" });
  const result = loadConfig(TEST_SCHEMA, "1", [], identity, { env: envOf({}), readFile });
  assert.equal(result.kind, "config");
  if (result.kind !== "config") return;
  assert.deepEqual(result.warnings, ["unknown config key test.colour at /etc/otterscale/config.yaml:3"]);
  assert.equal(result.configFile, "/etc/otterscale/config.yaml");
});

Deno.test("load: --help and --version return text without reading env or files", () => {
  const untouchable = () => {
    throw new Error("must not be read");
  };
  const sources = { env: untouchable, readFile: untouchable };
  const help = loadConfig(TEST_SCHEMA, "9.9.9", ["--help"], identity, sources);
  assert.equal(help.kind, "help");
  const version = loadConfig(TEST_SCHEMA, "9.9.9", ["--version"], identity, sources);
  assert.deepEqual(version, { kind: "version", text: "otterscale-test 9.9.9" });
});

Deno.test("load: a really existing config.yaml is found through cwd", async () => {
  const dir = await Deno.makeTempDir({ prefix: "otterscale-config-" });
  try {
    await Deno.writeTextFile(`${dir}/config.yaml`, "test:\n  name: on-disk\n  wait: 3s\n");
    await Deno.mkdir(`${dir}/alt`);
    await Deno.writeTextFile(`${dir}/alt/other.yaml`, "test:\n  name: explicit\n");

    const found = loadConfig(TEST_SCHEMA, "1", [], identity, { env: envOf({}), cwd: dir });
    assert.equal(found.kind === "config" && found.configFile, `${dir}/config.yaml`);
    assert.equal(configOf(found).string("test.name"), "on-disk");
    assert.equal(configOf(found).durationMs("test.wait"), 3000);

    const explicit = loadConfig(TEST_SCHEMA, "1", ["--config", "alt/other.yaml"], identity, {
      env: envOf({}),
      cwd: dir,
    });
    assert.equal(configOf(explicit).string("test.name"), "explicit");

    const error = expectConfigError(() =>
      loadConfig(TEST_SCHEMA, "1", ["--config=absent.yaml"], identity, { env: envOf({}), cwd: dir })
    );
    assert.match(error.message, /absent\.yaml does not exist/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
