// Suites that install from the npm registry (the SDK floor, the git install): they run only where the registry
// answers, and skip saying so where it does not. ATLAS_MIGRATION_E2E_REGISTRY=0 skips them on purpose.
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import type { Tier } from "../../support/tiers";

const NPM = process.platform === "win32" ? "npm.cmd" : "npm";

/** Whether `npm view <spec> version` answers (the registry is reachable and has the version). */
export function registryTier(spec: string): Tier {
  if (process.env.ATLAS_MIGRATION_E2E_REGISTRY === "0") {
    return { name: "npm-registry", enabled: false, reason: "ATLAS_MIGRATION_E2E_REGISTRY=0" };
  }
  try {
    const version = execFileSync(NPM, ["view", spec, "version"], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], timeout: 60000 }).trim();
    if (!version) return { name: "npm-registry", enabled: false, reason: `the npm registry has no ${spec}` };
    return { name: "npm-registry", enabled: true, reason: `${spec} on the npm registry` };
  } catch (err) {
    const why = String((err as { stderr?: string }).stderr ?? err).trim().split("\n").pop();
    return { name: "npm-registry", enabled: false, reason: `the npm registry did not answer for ${spec} (${why}); it needs network access to registry.npmjs.org` };
  }
}

/** Both tiers: enabled when both are; the reason names what is missing. */
export function bothTiers(a: Tier, b: Tier): Tier {
  if (!a.enabled) return a;
  if (!b.enabled) return b;
  return { name: `${a.name}+${b.name}`, enabled: true, reason: `${a.reason}; ${b.reason}`, binary: a.binary ?? b.binary };
}

/** `npm install` in `dir` with the registry, as a user's first install runs (scripts as npm decides). */
export function npmInstall(dir: string, args: string[] = []): { seconds: number; output: string } {
  const started = process.hrtime.bigint();
  const output = execFileSync(NPM, ["install", "--no-audit", "--no-fund", "--prefer-offline", ...args], {
    cwd: dir,
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
    timeout: 15 * 60 * 1000,
    env: { ...process.env, npm_config_loglevel: "warn" },
  });
  return { seconds: Number(process.hrtime.bigint() - started) / 1e9, output };
}

/** Every installed copy of `name` under `dir` (npm ls --all): "version at path". */
export function installedCopies(dir: string, name: string): Array<{ version: string; path: string }> {
  const out = execFileSync(NPM, ["ls", name, "--all", "--json", "--long"], { cwd: dir, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  const copies = new Map<string, string>();
  const walk = (node: any) => {
    for (const [dep, child] of Object.entries<any>(node?.dependencies ?? {})) {
      if (dep === name && child.path && child.version) copies.set(child.path, child.version);
      walk(child);
    }
  };
  walk(JSON.parse(out));
  return [...copies].map(([p, version]) => ({ version, path: p }));
}

/** A scratch directory outside the repository, so nothing resolves through the repository's node_modules. */
export function scratchDir(label: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `atlas-migration-e2e-${label}-`));
}
