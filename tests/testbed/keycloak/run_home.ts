// Keycloak derives its data folder (database, transaction logs, realms to import) from its home folder, and
// its launcher derives the home folder from where the launcher itself lies. So each run folder gets a home of
// its own: a copied launcher, links to the cached distribution's read-only parts, and a real data folder.
// The distribution in the cache stays free of run state and can serve any number of run folders.

const OWN_ENTRIES = new Set(["bin", "data"]);

export const REALM_IMPORT_NAME = "otterscale-realm.json";

/** Builds `<runDir>/home` afresh and returns its path. */
export async function prepareRunHome(
  distHome: string,
  runDir: string,
  realmFile: string | URL,
): Promise<string> {
  const home = `${runDir}/home`;
  await Deno.remove(home, { recursive: true }).catch((err) => {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  });
  await Deno.mkdir(`${home}/bin`, { recursive: true });
  await Deno.mkdir(`${home}/data/import`, { recursive: true });
  for await (const entry of Deno.readDir(distHome)) {
    if (!OWN_ENTRIES.has(entry.name)) {
      await Deno.symlink(`${distHome}/${entry.name}`, `${home}/${entry.name}`);
    }
  }
  // A copy, not a link: the launcher resolves links to itself and would find the cached home again.
  await Deno.copyFile(`${distHome}/bin/kc.sh`, `${home}/bin/kc.sh`);
  await Deno.chmod(`${home}/bin/kc.sh`, 0o755);
  await Deno.copyFile(realmFile, `${home}/data/import/${REALM_IMPORT_NAME}`);
  return home;
}
