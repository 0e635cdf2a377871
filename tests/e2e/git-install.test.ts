// The README's `npm install git+https://…/pulumi-atlas-migration.git#<ref>`, as npm runs it: dist/ is not committed,
// so npm clones the commit, installs its dev dependencies from the registry, runs `prepare` (= `npm run build`),
// packs the result by package.json "files" and installs that. Here the repository's committed HEAD is cloned bare
// into a scratch directory and installed from `git+file://` into a project outside the repository, so nothing
// resolves through the repository's own node_modules. No Pulumi CLI needed; the registry is (dev dependencies).
//
// npm 11 lists the package's `prepare` among the install scripts "not covered by allowScripts": that list is about
// scripts of the installed tree, which npm 11 skips; the build already ran when npm prepared the git checkout, as
// this test shows with no allowScripts entry at all.
import { execFileSync, spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { describeTier, type Tier } from "../support/tiers";
import { REPO_ROOT } from "./support/harness";
import { bothTiers, npmInstall, registryTier, scratchDir } from "./support/registry";

function gitTier(): Tier {
  const run = spawnSync("git", ["rev-parse", "HEAD"], { cwd: REPO_ROOT, encoding: "utf8" });
  if (run.status !== 0) return { name: "git", enabled: false, reason: `no git checkout to install from (${(run.stderr || String(run.error)).trim()})` };
  return { name: "git", enabled: true, reason: `HEAD ${run.stdout.trim().slice(0, 12)}` };
}

const TYPESCRIPT: string = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, "node_modules", "typescript", "package.json"), "utf8")).version;

describeTier(bothTiers(gitTier(), registryTier(`typescript@${TYPESCRIPT}`)), "the package installed from a git URL (prepare builds it)", () => {
  jest.setTimeout(20 * 60 * 1000);
  let root = "";
  let project = "";
  let head = "";
  beforeAll(() => {
    root = scratchDir("git-install");
    head = execFileSync("git", ["rev-parse", "HEAD"], { cwd: REPO_ROOT, encoding: "utf8" }).trim();
    const bare = path.join(root, "pulumi-atlas-migration.git");
    execFileSync("git", ["clone", "--quiet", "--bare", "--no-local", REPO_ROOT, bare]);
    project = path.join(root, "project");
    fs.mkdirSync(project);
    fs.writeFileSync(path.join(project, "package.json"), JSON.stringify({ name: "git-install-project", version: "1.0.0", private: true }, null, 2));
    const install = npmInstall(project, [`git+file://${bare}#${head}`]);
    console.log(`git-install: npm install from git (clone, dev dependencies, prepare, pack) took ${install.seconds.toFixed(0)}s`);
  });
  afterAll(() => root && fs.rmSync(root, { recursive: true, force: true }));

  test("dist/ is not committed: what gets installed was built by prepare", () => {
    expect(execFileSync("git", ["ls-tree", "--name-only", head, "dist"], { cwd: REPO_ROOT, encoding: "utf8" }).trim()).toBe("");
    const installed = path.join(project, "node_modules", "pulumi-atlas-migration");
    for (const file of ["dist/index.js", "dist/index.d.ts", "dist/provider/runtime.js", "dist/testing/index.js", "policy-pack/index.js"]) {
      expect(fs.existsSync(path.join(installed, file))).toBe(true);
    }
    // Packed by "files": no sources, tests or source maps.
    expect(fs.existsSync(path.join(installed, "tests"))).toBe(false);
    expect(fs.existsSync(path.join(installed, "provider"))).toBe(false);
    expect(fs.existsSync(path.join(installed, "dist", "index.js.map"))).toBe(false);
  });

  test("a plain Node process in the project loads the package, its provider runtime and its testing entry", () => {
    const script = `
      const pkg = require("pulumi-atlas-migration");
      const runtime = require("pulumi-atlas-migration/provider-runtime");
      const testing = require("pulumi-atlas-migration/testing");
      process.stdout.write(JSON.stringify({
        exports: Object.keys(pkg).sort(),
        runtime: ["check", "diff", "create", "read", "update", "destroy", "configure"].filter((f) => typeof runtime[f] === "function"),
        testing: typeof testing.captureMigrations,
        from: require.resolve("pulumi-atlas-migration"),
      }));
    `;
    const run = spawnSync(process.execPath, ["-e", script], { cwd: project, encoding: "utf8", timeout: 60000 });
    expect(run.stderr).toBe("");
    const loaded = JSON.parse(run.stdout);
    expect(loaded.exports).toEqual(expect.arrayContaining(["AtlasMigration", "Migration"]));
    expect(loaded.runtime).toEqual(["check", "diff", "create", "read", "update", "destroy", "configure"]);
    expect(loaded.testing).toBe("function");
    expect(loaded.from).toBe(fs.realpathSync(path.join(project, "node_modules", "pulumi-atlas-migration", "dist", "index.js")));
  });
});
