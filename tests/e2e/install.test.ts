// The package as users install it, under the real CLI: the `npm pack` tarball laid out in a project's node_modules
// (tests/e2e/support/package.ts), outside this repository, so nothing resolves through the repository's own
// self-link. Two stories:
//
// - Provider upgrade. Dynamic providers serialize their code into state (`__provider`), and `pulumi refresh` and
//   `pulumi destroy` run the code stored there, not the program's (sdk/nodejs/cmd/dynamic-provider: read/delete use
//   the outputs' `__provider`). Ours is a stub that requires the runtime by name at call time, so the stored stub of
//   an older version runs the newly installed runtime; the `providerVersion` input makes the next `up` store the
//   new stub. The test: state written by version A, version A+1 installed over it, then preview (an update of
//   providerVersion, no replace), refresh before any `up`, up, and destroy.
// - Nested install (B3): the package is a dependency of a wrapper library, installed under the wrapper's own
//   node_modules (npm --install-strategy=nested, pnpm), so the program's directory cannot resolve
//   "pulumi-atlas-migration/provider-runtime". The stub then loads the runtime by the absolute path it was
//   serialized next to (provider/migration.ts runtime()). When the package is gone altogether, the error says
//   what to install.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { describeTier } from "../support/tiers";
import { resourceIn, stepsOf } from "./support/cli";
import { MIGRATION_TYPE, resolvesFrom } from "./support/harness";
import { installTarball, linkDependencies, packTarball } from "./support/package";
import { config, expectOk, exportState, migrationStep, PROGRAM, stackWithMongosync, tier } from "./support/suite";

const VERSION: string = JSON.parse(fs.readFileSync(path.join(__dirname, "..", "..", "package.json"), "utf8")).version;
/** The next patch release. */
const NEXT = VERSION.replace(/(\d+)$/, (patch) => String(Number(patch) + 1));
const READY = { version: "1.19.0", copyTicks: 1, catchUpTicks: 1, verifierTicks: 0, commitTicks: 1 } as const;

/** A scratch project root outside the repository: `<root>/node_modules` holds our dependencies, linked. */
function scratchRoot(label: string): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), `atlas-migration-e2e-${label}-`));
  linkDependencies(path.join(root, "node_modules"));
  return root;
}

function providerText(resource: any): string {
  const p = resource?.outputs?.__provider;
  return typeof p === "string" ? p : JSON.stringify(p);
}

describeTier(tier, "Pulumi CLI: upgrading the package under an existing stack", () => {
  jest.setTimeout(15 * 60 * 1000);
  let root = "";
  let tarball = "";
  const env = stackWithMongosync("upgrade", READY, undefined, () => {
    root = scratchRoot("upgrade");
    tarball = packTarball(path.join(root, "pack"));
    installTarball(tarball, path.join(root, "node_modules"));
    return { root };
  });
  afterAll(() => root && fs.rmSync(root, { recursive: true, force: true }));

  test(`version ${VERSION}, installed from the tarball, creates the Migration`, async () => {
    expect(resolvesFrom(env.stack.projectDir, "pulumi-atlas-migration")).toBe(fs.realpathSync(path.join(root, "node_modules", "pulumi-atlas-migration", "dist", "index.js")));
    const up = expectOk(await env.stack.run("up", { config: config(env.mongosync) }));
    expect(up.outputs!.phase.value).toBe("READY_FOR_CUTOVER");
    const resource = resourceIn(await exportState(env.stack), MIGRATION_TYPE);
    expect(resource.inputs.providerVersion).toBe(VERSION);
    expect(providerText(resource)).toContain(`"${VERSION}"`);
  });

  test(`with ${NEXT} installed over it, preview plans an update of providerVersion only: no replace`, async () => {
    installTarball(tarball, path.join(root, "node_modules"), { version: NEXT });
    const preview = expectOk(await env.stack.run("preview", { config: config(env.mongosync), options: { diff: true } }));
    expect(migrationStep(preview)?.op).toBe("update");
    expect(preview.stdout).toContain(`~ providerVersion: "${VERSION}" => "${NEXT}"`);
    expect(stepsOf(preview).filter((s) => /replace/.test(s.op))).toEqual([]);
    expect(preview.summary.replace ?? 0).toBe(0);
  });

  test("refresh before any up runs the stub stored by the old version against the new runtime, and keeps the state", async () => {
    expectOk(await env.stack.run("refresh", { config: config(env.mongosync) }));
    const resource = resourceIn(await exportState(env.stack), MIGRATION_TYPE);
    expect(resource.outputs.phase).toBe("READY_FOR_CUTOVER");
    expect(providerText(resource)).toContain(`"${VERSION}"`); // refresh does not store new code
  });

  test("up stores the new version's provider; the next preview is a no-op; destroy runs it and stops the sync", async () => {
    const up = expectOk(await env.stack.run("up", { config: config(env.mongosync) }));
    expect(up.outputs!.phase.value).toBe("READY_FOR_CUTOVER");
    expect(env.mongosync.count("start")).toBe(1); // the upgrade did not start a second sync
    const resource = resourceIn(await exportState(env.stack), MIGRATION_TYPE);
    expect(resource.inputs.providerVersion).toBe(NEXT);
    expect(providerText(resource)).toContain(`"${NEXT}"`);
    expect(migrationStep(expectOk(await env.stack.run("preview", { config: config(env.mongosync) })))?.op).toBe("same");

    expectOk(await env.stack.run("destroy"));
    expect(resourceIn(await exportState(env.stack), MIGRATION_TYPE)).toBeUndefined();
    expect(env.mongosync.count("pause")).toBe(1);
  });
});

describeTier(tier, "Pulumi CLI: the package as a nested dependency of a wrapper library (B3)", () => {
  jest.setTimeout(15 * 60 * 1000);
  let root = "";
  let tarball = "";
  let nested = "";
  const env = stackWithMongosync("nested", READY, undefined, () => {
    root = scratchRoot("nested");
    tarball = packTarball(path.join(root, "pack"));
    // node_modules/acme-db-platform: a wrapper library whose own node_modules holds pulumi-atlas-migration.
    const wrapper = path.join(root, "node_modules", "acme-db-platform");
    fs.mkdirSync(wrapper, { recursive: true });
    fs.writeFileSync(
      path.join(wrapper, "package.json"),
      JSON.stringify({ name: "acme-db-platform", version: "1.0.0", main: "index.js", dependencies: { "pulumi-atlas-migration": VERSION } }, null, 2),
    );
    fs.writeFileSync(path.join(wrapper, "index.js"), 'module.exports = require("pulumi-atlas-migration");\n');
    nested = installTarball(tarball, path.join(wrapper, "node_modules"));
    // The same program, importing the wrapper instead of the package.
    const program = path.join(root, "program.js");
    const text = fs.readFileSync(PROGRAM, "utf8");
    if (!text.includes('require("pulumi-atlas-migration")')) throw new Error("the e2e program no longer requires the package by name");
    fs.writeFileSync(program, text.replace('require("pulumi-atlas-migration")', 'require("acme-db-platform")'));
    return { root, programFile: program };
  });
  afterAll(() => root && fs.rmSync(root, { recursive: true, force: true }));

  test("the program's directory cannot resolve the package (the layout is the nested one)", () => {
    expect(resolvesFrom(env.stack.projectDir, "pulumi-atlas-migration/provider-runtime")).toBeUndefined();
    expect(resolvesFrom(env.stack.projectDir, "acme-db-platform")).toBeDefined();
  });

  test("up, preview and refresh work: the stored stub finds the runtime it was serialized next to", async () => {
    const up = expectOk(await env.stack.run("up", { config: config(env.mongosync) }));
    expect(up.outputs!.phase.value).toBe("READY_FOR_CUTOVER");
    expect(providerText(resourceIn(await exportState(env.stack), MIGRATION_TYPE))).toContain(fs.realpathSync(path.join(nested, "dist", "provider", "runtime.js")));
    expect(migrationStep(expectOk(await env.stack.run("preview", { config: config(env.mongosync) })))?.op).toBe("same");
    expectOk(await env.stack.run("refresh", { config: config(env.mongosync) }));
  });

  test("with the package removed, refresh fails saying what to install, and changes nothing", async () => {
    const aside = `${nested}.aside`;
    fs.renameSync(nested, aside);
    try {
      const refresh = await env.stack.run("refresh", { config: config(env.mongosync) });
      expect(refresh.ok).toBe(false);
      expect(refresh.stdout + refresh.error).toContain(`npm install pulumi-atlas-migration@${VERSION}`);
    } finally {
      fs.renameSync(aside, nested);
    }
    expect(resourceIn(await exportState(env.stack), MIGRATION_TYPE).outputs.phase).toBe("READY_FOR_CUTOVER");
  });

  test("destroy works through the nested install", async () => {
    expectOk(await env.stack.run("destroy"));
    expect(resourceIn(await exportState(env.stack), MIGRATION_TYPE)).toBeUndefined();
  });
});
