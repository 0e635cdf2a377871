// The serialized Migration provider, obtained the two ways Pulumi produces it.
//
// 1. `serializeDirectly` repeats what @pulumi/pulumi/dynamic/index.js does in serializeFunctionMaybeSecret:
//    `serializeFunction(() => provider, { allowSecrets: true })`; it also gives `containsSecrets`, which
//    decides whether Pulumi stores `__provider` as a secret.
// 2. `captureFromMocks` builds real `Migration` resources under pulumi.runtime.setMocks and records the
//    `__provider` input the resource registers: the exact text that lands in state.
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";

export const REPO_ROOT = path.resolve(__dirname, "..", "..", "..");

export async function serializeDirectly(): Promise<{ text: string; containsSecrets: boolean }> {
  const { MigrationProvider } = await import("../../../provider/migration");
  const provider = new MigrationProvider();
  const sf = await pulumi.runtime.serializeFunction(() => provider, { allowSecrets: true });
  return { text: sf.text, containsSecrets: sf.containsSecrets };
}

/**
 * The provider exactly as users get it: serialized in a fresh Node process from the compiled package
 * (dist/), so test-runner instrumentation (coverage counters) cannot inflate or change it.
 */
export function serializeShipped(): { text: string; containsSecrets: boolean } {
  assertBuilt();
  const script = `
    const pulumi = require("@pulumi/pulumi");
    // dist/provider/migration.js rather than the package index: same class, without loading @pulumi/mongodbatlas.
    const { MigrationProvider } = require("./dist/provider/migration.js");
    const provider = new MigrationProvider();
    pulumi.runtime.serializeFunction(() => provider, { allowSecrets: true })
      .then((sf) => process.stdout.write(JSON.stringify({ text: sf.text, containsSecrets: sf.containsSecrets })))
      .catch((e) => { console.error(e && e.stack || e); process.exit(2); });
  `;
  const run = spawnSync(process.execPath, ["-e", script], { cwd: REPO_ROOT, encoding: "utf8", timeout: 30000 });
  if (run.status !== 0) throw new Error(`serializing the compiled provider failed:\n${run.stderr}`);
  return JSON.parse(run.stdout);
}

/** The compiled package must exist: a fresh process (the host) resolves the package name to dist/. */
export function assertBuilt(): void {
  const runtime = path.join(REPO_ROOT, "dist", "provider", "runtime.js");
  if (!fs.existsSync(runtime)) {
    throw new Error(`${runtime} is missing: run \`npm run build\` first (\`npm test\` does it in pretest)`);
  }
}

/** Writes the text to a temp file (the caller removes the directory). */
export function writeTemp(text: string, name = "provider.js"): { file: string; dir: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "atlas-migration-provider-"));
  const file = path.join(dir, name);
  fs.writeFileSync(file, text);
  return { file, dir };
}
