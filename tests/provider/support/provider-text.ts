// The serialized Migration provider, obtained the two ways Pulumi produces it.
//
// 1. `serializeDirectly` repeats what @pulumi/pulumi/dynamic/index.js does in serializeFunctionMaybeSecret:
//    `serializeFunction(() => provider, { allowSecrets: true })`; it also gives `containsSecrets`, which
//    decides whether Pulumi stores `__provider` as a secret.
// 2. `captureFromMocks` builds real `Migration` resources under pulumi.runtime.setMocks and records the
//    `__provider` input the resource registers: the exact text that lands in state.
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
