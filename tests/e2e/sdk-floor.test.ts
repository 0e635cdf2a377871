// The lowest @pulumi/pulumi our package.json admits, under the real CLI. Most projects already have an SDK; if our
// range starts above theirs, npm installs a second copy for us, and resources registered through two SDK copies
// do not mix (the dynamic provider, the component's children and the program's own resources would each talk
// through a different runtime). So the range starts at the lowest version we need, and this suite proves it works:
// the packed tarball installed from the registry into a project that pins @pulumi/pulumi at exactly that floor,
// one copy in the whole tree, and a Migration through up, refresh, preview, the cutover and destroy, with that
// project's own dynamic-provider host (pulumi-resource-pulumi-nodejs resolves @pulumi/pulumi from the project).
//
// Why this floor (package.json "dependencies"): @pulumi/mongodbatlas 4.16.0 itself depends on ^3.142.0; and the
// SDK calls a dynamic provider's `configure` with the stack config only from 3.139.0 (pulumi/pulumi#17697).
import * as fs from "fs";
import * as path from "path";
import { describeTier } from "../support/tiers";
import { resourceIn } from "./support/cli";
import { MIGRATION_TYPE, REPO_ROOT, resolvesFrom } from "./support/harness";
import { packTarball } from "./support/package";
import { bothTiers, installedCopies, npmInstall, registryTier, scratchDir } from "./support/registry";
import { config, expectOk, exportState, migrationStep, stackWithMongosync, tier } from "./support/suite";

const pkg = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, "package.json"), "utf8"));
const RANGE: string = pkg.dependencies["@pulumi/pulumi"];
const FLOOR = RANGE.replace(/^[\^~>=]+/, "");
const READY = { version: "1.19.0", copyTicks: 1, catchUpTicks: 1, verifierTicks: 0, commitTicks: 1 } as const;

describeTier(bothTiers(tier, registryTier(`@pulumi/pulumi@${FLOOR}`)), `Pulumi CLI: the package on @pulumi/pulumi ${FLOOR}, the floor of ${RANGE}`, () => {
  jest.setTimeout(20 * 60 * 1000);
  let root = "";
  const env = stackWithMongosync("floor", READY, undefined, () => {
    root = scratchDir("sdk-floor");
    const tarball = packTarball(path.join(root, "pack"));
    fs.writeFileSync(
      path.join(root, "package.json"),
      JSON.stringify(
        { name: "sdk-floor-project", version: "1.0.0", private: true, dependencies: { "@pulumi/pulumi": FLOOR, "pulumi-atlas-migration": `file:${tarball}` } },
        null,
        2,
      ),
    );
    const install = npmInstall(root);
    console.log(`sdk-floor: npm install of the tarball with @pulumi/pulumi@${FLOOR} took ${install.seconds.toFixed(0)}s`);
    const plugins = path.join(root, "node_modules", "@pulumi", "pulumi");
    return { root, env: { PATH: `${plugins}${path.delimiter}${process.env.PATH ?? ""}` } };
  });
  afterAll(() => root && fs.rmSync(root, { recursive: true, force: true }));

  test(`the project holds one @pulumi/pulumi, ${FLOOR}, and its dynamic-provider host is the one that runs`, () => {
    expect(installedCopies(root, "@pulumi/pulumi").map((c) => c.version)).toEqual([FLOOR]);
    const host = resolvesFrom(env.stack.projectDir, "@pulumi/pulumi/cmd/dynamic-provider");
    expect(host).toBe(fs.realpathSync(path.join(root, "node_modules", "@pulumi", "pulumi", "cmd", "dynamic-provider", "index.js")));
    expect(resolvesFrom(env.stack.projectDir, "pulumi-atlas-migration")).toBe(fs.realpathSync(path.join(root, "node_modules", "pulumi-atlas-migration", "dist", "index.js")));
  });

  test("up creates the Migration; refresh reads it; the next preview changes nothing", async () => {
    const up = expectOk(await env.stack.run("up", { config: config(env.mongosync) }));
    expect(up.outputs!.phase.value).toBe("READY_FOR_CUTOVER");
    expectOk(await env.stack.run("refresh", { config: config(env.mongosync) }));
    expect(resourceIn(await exportState(env.stack), MIGRATION_TYPE).outputs.phase).toBe("READY_FOR_CUTOVER");
    expect(migrationStep(expectOk(await env.stack.run("preview", { config: config(env.mongosync) })))?.op).toBe("same");
  });

  test("the cutover flip is an update that completes; destroy removes the Migration", async () => {
    const cut = expectOk(await env.stack.run("up", { config: config(env.mongosync, { cutover: true }) }));
    expect(migrationStep(cut)?.op).toBe("update");
    expect(cut.outputs!.phase.value).toBe("COMPLETE");
    expect(env.mongosync.count("commit")).toBe(1);
    expectOk(await env.stack.run("destroy"));
    expect(resourceIn(await exportState(env.stack), MIGRATION_TYPE)).toBeUndefined();
  });
});
