// `npm start`: the local demo. Full mode needs a mongod binary, the mongodb-memory-server-core package and the
// Pulumi CLI; without them the same scenario runs offline, on in-memory clusters inside Pulumi's real
// dynamic-provider host. See examples/local-demo/README.md.
import * as fs from "fs";
import * as path from "path";
import { redact } from "pulumi-atlas-migration";

/** An executable named `name` on PATH, if any. */
function onPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? "").split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, name);
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      if (fs.statSync(candidate).isFile()) return candidate;
    } catch {
      /* not here */
    }
  }
  return undefined;
}

export interface Prerequisites {
  mongod?: string;
  pulumi?: string;
  memoryServer: boolean;
}

function findPrerequisites(): Prerequisites {
  const fromEnv = process.env.MONGOMS_SYSTEM_BINARY;
  const mongod = fromEnv && fs.existsSync(fromEnv) ? fromEnv : onPath("mongod");
  let memoryServer = false;
  try {
    require.resolve("mongodb-memory-server-core");
    memoryServer = true;
  } catch {
    /* not installed */
  }
  return { mongod, pulumi: onPath("pulumi"), memoryServer };
}

function missingText(p: Prerequisites): string[] {
  const missing: string[] = [];
  if (!p.mongod) missing.push("no mongod binary (MONGOMS_SYSTEM_BINARY unset and no mongod on PATH)");
  if (!p.memoryServer) missing.push("mongodb-memory-server-core is not installed");
  if (!p.pulumi) missing.push("no pulumi CLI on PATH");
  return missing;
}

/** The demo takes seconds; past this something is stuck, and waiting longer would not tell the user more. */
const WATCHDOG_MS = 150_000;

async function main(): Promise<void> {
  setTimeout(() => {
    console.error(`\n✗ demo failed: not finished after ${WATCHDOG_MS / 1000} s; the last lines above show where it stopped`);
    process.exit(1);
  }, WATCHDOG_MS).unref();
  console.log("pulumi-atlas-migration — local demo: sync two deployments, then cut over by flipping one input");
  const prerequisites = findPrerequisites();
  const missing = missingText(prerequisites);
  if (missing.length === 0) {
    console.log(`full mode: mongod ${prerequisites.mongod}, pulumi ${prerequisites.pulumi}`);
    const { runFull } = require("./full") as typeof import("./full");
    await runFull(prerequisites.mongod!);
    return;
  }
  const remedies = [
    !prerequisites.mongod && "a MongoDB 7.0+ server (mongod on PATH, or MONGOMS_SYSTEM_BINARY=/path/to/mongod)",
    !prerequisites.memoryServer && "`npm install` (mongodb-memory-server-core is a devDependency)",
    !prerequisites.pulumi && "the Pulumi CLI (https://www.pulumi.com/docs/install/)",
  ].filter(Boolean);
  console.log(
    `offline mode: ${missing.join("; ")}. For the full demo (two local replica sets, a real Pulumi stack) add ` +
      `${remedies.join(", ")} and run \`npm start\` again. Now: the same scenario on in-memory clusters.`,
  );
  const { runOffline } = require("./offline") as typeof import("./offline");
  await runOffline();
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(`\n✗ demo failed: ${redact(err instanceof Error ? err.message : String(err))}`);
    process.exit(1);
  },
);
