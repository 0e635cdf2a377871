// Helpers of the Automation-API tier that need no CLI, so they are unit-tested offline (harness.test.ts).
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import type { EngineEvent, StepEventMetadata } from "@pulumi/pulumi/automation";

export const REPO_ROOT = path.resolve(__dirname, "..", "..", "..");
export const PROGRAM_DIR = path.resolve(__dirname, "..", "program");
export const MIGRATION_TYPE = "pulumi-nodejs:dynamic/atlas-migration:Migration";

/**
 * A Pulumi project directory for the e2e program, under the repository (in the git-ignored .pulumi-local/):
 * the dynamic-provider host runs with the program directory as cwd and resolves `@pulumi/pulumi` and
 * `pulumi-atlas-migration/provider-runtime` from there, so it must sit where this repository's node_modules
 * is found by walking up (a directory under /tmp would fail with "Cannot find module").
 */
export function makeProjectDir(root = REPO_ROOT, projectName = "atlas-migration-e2e"): string {
  const base = path.join(root, ".pulumi-local");
  fs.mkdirSync(base, { recursive: true });
  const dir = fs.mkdtempSync(path.join(base, "e2e-"));
  fs.copyFileSync(path.join(PROGRAM_DIR, "index.js"), path.join(dir, "index.js"));
  fs.writeFileSync(
    path.join(dir, "Pulumi.yaml"),
    [`name: ${projectName}`, "runtime:", "  name: nodejs", "  options:", "    typescript: false", "main: index.js", ""].join("\n"),
  );
  fs.writeFileSync(path.join(dir, "package.json"), JSON.stringify({ name: projectName, private: true, main: "index.js" }, null, 2));
  return dir;
}

/**
 * What `request` resolves to in a plain Node process whose cwd is `dir` (as the dynamic-provider plugin
 * runs); undefined when it does not resolve. A child process, so no test-runner module mapping interferes.
 */
export function resolvesFrom(dir: string, request: string): string | undefined {
  const script = "try { process.stdout.write(require.resolve(process.argv[1], { paths: [process.cwd()] })) } catch { }";
  const run = spawnSync(process.execPath, ["-e", script, request], { cwd: dir, encoding: "utf8" });
  return run.stdout ? run.stdout : undefined;
}

/** The step of each resource a preview/up planned, from its resourcePreEvents. */
export function plannedSteps(events: EngineEvent[]): StepEventMetadata[] {
  return events.filter((e) => e.resourcePreEvent).map((e) => e.resourcePreEvent!.metadata);
}

/**
 * The top-level input keys a step changes. The engine reports them in `diffs` when the provider lists them;
 * the dynamic-provider host never does, so otherwise they are computed like `pulumi preview --diff` shows
 * them: the inputs that differ between the old and the new state (secrets appear as the same "[secret]"
 * placeholder on both sides, so a secret that did not change does not count).
 */
export function changedKeys(step: StepEventMetadata): string[] {
  if (step.diffs && step.diffs.length > 0) return [...step.diffs].sort();
  if (step.detailedDiff && Object.keys(step.detailedDiff).length > 0) {
    return [...new Set(Object.keys(step.detailedDiff).map((p) => p.split(/[.[]/)[0]))].sort();
  }
  const before = step.old?.inputs ?? {};
  const after = step.new?.inputs ?? {};
  return [...new Set([...Object.keys(before), ...Object.keys(after)])]
    .filter((k) => JSON.stringify(canonical(before[k])) !== JSON.stringify(canonical(after[k])))
    .sort();
}

function canonical(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(canonical);
  if (v && typeof v === "object") {
    return Object.fromEntries(
      Object.keys(v as object)
        .sort()
        .map((k) => [k, canonical((v as Record<string, unknown>)[k])]),
    );
  }
  return v;
}

/** Stack config for the program (keys without the project prefix; `secret` marks encrypted values). */
export function programConfig(opts: {
  mongosyncUrl: string;
  sourceUri: string;
  targetUri: string;
  cutover: boolean;
  createMinutes?: number;
}): Record<string, { value: string; secret?: boolean }> {
  const config: Record<string, { value: string; secret?: boolean }> = {
    mongosyncUrl: { value: opts.mongosyncUrl },
    sourceUri: { value: opts.sourceUri, secret: true },
    targetUri: { value: opts.targetUri, secret: true },
    cutover: { value: String(opts.cutover) },
  };
  if (opts.createMinutes !== undefined) config.createMinutes = { value: String(opts.createMinutes) };
  return config;
}
