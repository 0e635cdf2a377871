// Full mode: two local single-node replica sets (mongodb-memory-server-core on a mongod binary) and a real
// Pulumi stack driven with the Automation API: a local file backend under .pulumi-local/, passphrase secrets,
// the program in Pulumi.yaml (dist/examples/local-demo/program.js). `pulumi up` syncs; the application keeps
// writing; `cutover: true` and `pulumi up` again cut over; then refresh, destroy, and the stack is removed.
import * as fs from "fs";
import * as path from "path";
import { LocalWorkspace, type Stack } from "@pulumi/pulumi/automation";
import { MongoClient } from "mongodb";
import { DemoApp, seedSource, summarizeBoth, type DemoCluster } from "./data";
import { countsTable, describeOutputs, detail, providerLine, seconds, step, type MigrationOutputs } from "./narrate";

const REPO_ROOT = path.resolve(__dirname, "..", "..", "..");
const STACK_NAME = "local-demo";

/** The part of mongodb-memory-server-core this demo uses (loaded with require: it is optional). */
interface ReplSet {
  getUri(): string;
  stop(options?: { doCleanup?: boolean }): Promise<unknown>;
}
interface MemoryServerModule {
  MongoMemoryReplSet: { create(options: Record<string, unknown>): Promise<ReplSet> };
}

function outputsOf(outputs: Record<string, { value: any }>): MigrationOutputs {
  return Object.fromEntries(Object.entries(outputs).map(([k, v]) => [k, v.value])) as MigrationOutputs;
}

/** `pulumi up`, again while the provider says the sync has not caught up within one run (it keeps the resource). */
async function upUntilDone(stack: Stack, attempts: number): Promise<MigrationOutputs> {
  for (let attempt = 1; ; attempt++) {
    try {
      const result = await stack.up({ onOutput: (text) => text.split("\n").forEach(providerLine) });
      return outputsOf(result.outputs);
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      if (attempt >= attempts || !message.includes("run `pulumi up` again")) throw err;
      detail("not caught up within one run; running `pulumi up` again");
    }
  }
}

export async function runFull(mongod: string): Promise<void> {
  const { MongoMemoryReplSet } = require("mongodb-memory-server-core") as MemoryServerModule;
  step("Starting two local single-node replica sets");
  const replSet = (name: string) =>
    MongoMemoryReplSet.create({ binary: { systemBinary: mongod }, replSet: { name, count: 1, storageEngine: "wiredTiger" } });
  const [sourceSet, targetSet] = await Promise.all([replSet("demo-source"), replSet("demo-target")]);
  const sourceUri = sourceSet.getUri();
  const targetUri = targetSet.getUri();
  const source = await MongoClient.connect(sourceUri);
  const target = await MongoClient.connect(targetUri);
  const stateDir = path.join(REPO_ROOT, ".pulumi-local");
  let stack: Stack | undefined;
  try {
    detail(`source ${sourceUri}\n  target ${targetUri}`);
    await seedSource(source as unknown as DemoCluster);
    const seeded = await summarizeBoth(source as unknown as DemoCluster, target as unknown as DemoCluster);
    for (const [ns, s] of Object.entries(seeded)) detail(`  ${ns.padEnd(16)} ${String(s.source.count).padStart(5)} documents`);
    const app = new DemoApp(source as unknown as DemoCluster);
    app.start(5);
    detail("an application now writes to the source continuously");

    step(`Pulumi stack "${STACK_NAME}" (local backend ${stateDir}, passphrase secrets)`);
    fs.mkdirSync(stateDir, { recursive: true });
    stack = await LocalWorkspace.createOrSelectStack(
      { stackName: STACK_NAME, workDir: REPO_ROOT },
      {
        secretsProvider: "passphrase",
        envVars: {
          PULUMI_BACKEND_URL: `file://${stateDir}`,
          PULUMI_CONFIG_PASSPHRASE: "local-demo",
          PULUMI_SKIP_UPDATE_CHECK: "true",
        },
      },
    );
    await stack.setAllConfig({
      sourceUri: { value: sourceUri, secret: true },
      targetUri: { value: targetUri, secret: true },
      cutover: { value: "false" },
    });

    step("pulumi up — create: preflight, copy, catch up");
    let outs = await upUntilDone(stack, 2);
    detail(describeOutputs(outs));
    if (outs.phase !== "READY_FOR_CUTOVER") throw new Error(`expected READY_FOR_CUTOVER, got ${outs.phase}: ${outs.reason ?? ""}`);

    step("More traffic on the source, then the application stops for the cutover window");
    await app.burst(300);
    const stats = await app.stop();
    detail(`application: ${stats.inserted} inserts, ${stats.updated} updates, ${stats.deleted} deletes, ${stats.refused} refused`);

    step("pulumi config set cutover true; pulumi preview");
    await stack.setConfig("cutover", { value: "true" });
    const preview = await stack.preview({ diff: false });
    for (const line of preview.stdout.split("\n").filter((l) => l.includes("Migration"))) detail(line.trim());
    detail(`change summary: ${JSON.stringify(preview.changeSummary)}`);

    step("pulumi up — update: block writes, drain, verify");
    outs = await upUntilDone(stack, 2);
    detail(`${describeOutputs(outs)} · completed at ${outs.cutoverCompletedAt}`);
    if (outs.verification) detail(`verification (${outs.verification.mode}): ${outs.verification.passed ? "passed" : "FAILED"} — ${outs.verification.summary}`);

    step("Counts per collection on both sides");
    const problems = countsTable(await summarizeBoth(source as unknown as DemoCluster, target as unknown as DemoCluster));

    step("pulumi refresh, pulumi destroy");
    await stack.refresh();
    await stack.destroy();
    detail("destroyed; the target keeps its data");
    if (outs.phase !== "COMPLETE") problems.push(`phase is ${outs.phase}, not COMPLETE`);
    if (!outs.verification?.passed) problems.push(`verification did not pass: ${outs.verification?.summary ?? "no report"}`);
    if (problems.length) throw new Error(`the migrated data is not what the source holds:\n  ${problems.join("\n  ")}`);
    step(`Done in ${seconds()}.`);
  } finally {
    // Removing the stack also removes Pulumi.local-demo.yaml from the repository root.
    if (stack) await stack.workspace.removeStack(STACK_NAME, { force: true }).catch(() => undefined);
    await source.close();
    await target.close();
    await Promise.all([sourceSet.stop(), targetSet.stop()]);
  }
}
