/**
 * A real headless Chromium for browser tests: Debian's `chromium` package,
 * installed with apt-get the first time a test needs it, so a fresh machine
 * runs the browser test with no manual step. OTTERSCALE_CHROMIUM names
 * another Chromium or Chrome binary (CI runners that already have one).
 */
const debianChromium = "/usr/bin/chromium";

/**
 * Flags for a quiet, self-contained headless run. Without the background
 * networking flags Chromium keeps dialling out to Google's services, which a
 * closed network refuses many times a second.
 */
export const chromiumFlags = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

export async function ensureChromium(): Promise<string> {
  const chosen = Deno.env.get("OTTERSCALE_CHROMIUM");
  if (chosen) {
    if (!(await isFile(chosen))) throw new Error(`OTTERSCALE_CHROMIUM=${chosen} is not a file`);
    return chosen;
  }
  if (await isFile(debianChromium)) return debianChromium;
  console.error("installing Debian's chromium for the browser tests (one time)…");
  await aptGet(["update"]);
  await aptGet(["install", "-y", "chromium"]);
  if (!(await isFile(debianChromium))) {
    throw new Error(`apt-get installed chromium but ${debianChromium} does not exist`);
  }
  return debianChromium;
}

async function aptGet(args: string[]): Promise<void> {
  // Root installs directly; anyone else needs password-less sudo (CI runners have it).
  const asRoot = Deno.uid() === 0;
  const argv = asRoot ? ["apt-get", ...args] : ["sudo", "-n", "apt-get", ...args];
  const output = await new Deno.Command(argv[0], {
    args: argv.slice(1),
    env: { DEBIAN_FRONTEND: "noninteractive" },
    stdout: "inherit",
    stderr: "inherit",
  }).output().catch((error) => {
    throw new Error(`cannot run ${argv.join(" ")}: ${error.message}`);
  });
  if (!output.success) {
    throw new Error(
      `${argv.join(" ")} failed with ${output.code}; install Chromium or set OTTERSCALE_CHROMIUM`,
    );
  }
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isFile;
  } catch {
    return false;
  }
}
