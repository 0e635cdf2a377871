// Helpers of the Automation-API tier that need no CLI, so they are unit-tested offline (harness.test.ts).
import { spawnSync } from "child_process";
import * as path from "path";

export const REPO_ROOT = path.resolve(__dirname, "..", "..", "..");
export const PROGRAM_DIR = path.resolve(__dirname, "..", "program");
export const MIGRATION_TYPE = "pulumi-nodejs:dynamic/atlas-migration:Migration";

/**
 * What `request` resolves to in a plain Node process whose cwd is `dir` (as the dynamic-provider plugin
 * runs); undefined when it does not resolve. A child process, so no test-runner module mapping interferes.
 */
export function resolvesFrom(dir: string, request: string): string | undefined {
  const script = "try { process.stdout.write(require.resolve(process.argv[1], { paths: [process.cwd()] })) } catch { }";
  const run = spawnSync(process.execPath, ["-e", script, request], { cwd: dir, encoding: "utf8" });
  return run.stdout ? run.stdout : undefined;
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
