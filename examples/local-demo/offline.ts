// Offline mode: the demo's scenario without mongod and without the Pulumi CLI.
//
// - The program (program.ts) runs under Pulumi's mocks, which record the inputs the Migration registers,
//   including `__provider`, the serialized provider Pulumi would store in state.
// - Pulumi's real dynamic-provider host runs as a child process, with seed.ts preloaded so the in-memory source
//   and target live inside it (MemoryCluster is per process) and an "application" keeps writing to the source.
// - This process plays the Pulumi engine: configure → check → create (`pulumi up`), then the cutover flip:
//   check → diff → update (`pulumi up`), then read (`pulumi refresh`) and delete (`pulumi destroy`).
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import type { AppStats, Summaries } from "./data";
import { DynamicProviderHost, HostCallError, migrationUrn, type HostProps } from "../../testing/pulumi-host";
import { changedInputs, countsTable, describeOutputs, detail, providerLine, seconds, step, type MigrationOutputs } from "./narrate";
import type { SeedReply, SeedRequest } from "./seed";

const REPO_ROOT = path.resolve(__dirname, "..", "..", "..");
const PROJECT = "atlas-migration-demo"; // Pulumi.yaml's name: config keys are "atlas-migration-demo:…"
const STACK = "offline";
const MIGRATION_TYPE = "pulumi-nodejs:dynamic/atlas-migration:Migration";
const URN = migrationUrn("demo", STACK, PROJECT);
const SOURCE_URI = "memory://demo-source";
const TARGET_URI = "memory://demo-target";

type DemoOp = SeedRequest["op"];

/** Requests to seed.ts inside the host process, over the IPC channel. */
class SeedChannel {
  private nextId = 1;
  private readonly waiting = new Map<number, (reply: SeedReply) => void>();

  constructor(private readonly host: DynamicProviderHost) {
    host.child.on("message", (reply: SeedReply) => {
      this.waiting.get(reply.id)?.(reply);
      this.waiting.delete(reply.id);
    });
  }

  async ask<T>(op: DemoOp, args: Record<string, unknown> = {}): Promise<T> {
    const id = this.nextId++;
    const reply = await new Promise<SeedReply>((resolve, reject) => {
      this.waiting.set(id, resolve);
      this.host.child.send({ id, op, ...args }, (err) => err && reject(err));
    });
    if (!reply.ok) throw new Error(`seed ${op}: ${reply.error}`);
    return reply.value as T;
  }
}

/**
 * Runs program.js under Pulumi's mocks with this stack config and returns the Migration's registered inputs,
 * as the provider receives them from the engine (undefined values dropped, secrets unwrapped: the
 * dynamic-provider host does not accept secrets, so the engine sends their plain values).
 */
async function programInputs(config: Record<string, string>, secretKeys: string[]): Promise<HostProps> {
  let registered: HostProps | undefined;
  await pulumi.runtime.setMocks(
    {
      newResource: (args) => {
        if (args.type === MIGRATION_TYPE) registered = args.inputs;
        return { id: `${args.name}-id`, state: args.inputs };
      },
      call: (args) => args.inputs,
    },
    PROJECT,
    STACK,
    false,
  );
  const namespaced = Object.fromEntries(Object.entries(config).map(([k, v]) => [`${PROJECT}:${k}`, v]));
  pulumi.runtime.setAllConfig(namespaced, secretKeys.map((k) => `${PROJECT}:${k}`));
  const program = require.resolve("./program");
  delete require.cache[program];
  require(program);
  for (let waited = 0; registered === undefined; waited += 10) {
    if (waited > 10_000) throw new Error("program.js did not register its Migration under Pulumi's mocks within 10 s");
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return unwrapSecrets(JSON.parse(JSON.stringify(registered))) as HostProps;
}

/** The engine strips secret markers before calling a provider that does not accept secrets; so does the demo. */
function unwrapSecrets(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(unwrapSecrets);
  if (value && typeof value === "object") {
    const obj = value as Record<string, unknown>;
    if (obj[pulumi.runtime.specialSigKey] === pulumi.runtime.specialSecretSig) return unwrapSecrets(obj.value);
    return Object.fromEntries(Object.entries(obj).map(([k, v]) => [k, unwrapSecrets(v)]));
  }
  return value;
}

function failuresText(failures: Array<{ property: string; reason: string }>): string {
  return failures.map((f) => `${f.property}: ${f.reason}`).join("\n");
}

/** `pulumi up` on a kept (partially initialized) resource calls update again; the demo does the same. */
async function resumeUntilDone(host: DynamicProviderHost, id: string, state: HostProps, inputs: HostProps, attempts: number): Promise<HostProps> {
  for (let attempt = 1; ; attempt++) {
    try {
      return (await host.update(URN, id, state, inputs)).properties;
    } catch (err) {
      if (!(err instanceof HostCallError) || !err.initFailure || attempt >= attempts) throw err;
      detail(`not finished (${err.initFailure.reasons[0] ?? err.message}); running \`pulumi up\` again`);
      state = err.initFailure.properties;
    }
  }
}

export async function runOffline(): Promise<void> {
  step("Starting Pulumi's dynamic-provider host with the demo clusters inside it");
  const host = await DynamicProviderHost.start({
    cwd: REPO_ROOT,
    preload: [path.join(__dirname, "seed.js")],
    ipc: true, // SeedChannel talks to seed.js over it
    onLine: (line) => providerLine(line),
    // A create or cutover runs until READY_FOR_CUTOVER or COMPLETE; a loaded laptop must not cut it short.
    callTimeoutMs: 120_000,
  });
  const seed = new SeedChannel(host);
  try {
    await seed.ask("ready");
    const seeded = await seed.ask<Summaries>("summaries");
    detail(`host pid ${host.child.pid}; ${SOURCE_URI} seeded, ${TARGET_URI} empty:`);
    for (const [ns, s] of Object.entries(seeded)) detail(`  ${ns.padEnd(16)} ${String(s.source.count).padStart(5)} documents`);
    detail("BSON in the documents: ObjectId, Int32, Long, Double, Decimal128, Date, Binary, UUID, Timestamp, regex, null, nested arrays; _ids of three types");
    await seed.ask("startApp", { intervalMs: 5 });
    detail("an application now writes to the source continuously (new orders, customer visits, deleted events)");

    const config = { sourceUri: SOURCE_URI, targetUri: TARGET_URI, cutover: "false" };
    const secretKeys = ["sourceUri", "targetUri"];
    const stackConfig = (c: Record<string, string>) => Object.fromEntries(Object.entries(c).map(([k, v]) => [`${PROJECT}:${k}`, v]));

    step("pulumi up — program.js registers the Migration; the engine calls configure, check, create");
    const inputs = await programInputs(config, secretKeys);
    detail(`inputs: engine ${inputs.engine}, cutover ${inputs.cutover}, namespaces.exclude ${JSON.stringify(inputs.namespaces?.exclude)}, __provider ${Buffer.byteLength(inputs.__provider)} bytes of serialized provider`);
    await host.configure(stackConfig(config));
    const checked = await host.check(URN, {}, inputs);
    if (checked.failures.length) throw new Error(`check rejected the inputs:\n${failuresText(checked.failures)}`);
    detail("check: no failures");
    detail(`+ ${MIGRATION_TYPE}  demo  create`);
    let timer = Date.now();
    let id: string;
    let state: HostProps;
    try {
      ({ id, properties: state } = await host.create(URN, checked.inputs));
    } catch (err) {
      if (!(err instanceof HostCallError) || !err.initFailure) throw err;
      detail(`create kept the resource unfinished (${err.initFailure.reasons[0]}); running \`pulumi up\` again`);
      id = err.initFailure.id;
      state = await resumeUntilDone(host, id, err.initFailure.properties, checked.inputs, 2);
    }
    detail(`created ${id} in ${((Date.now() - timer) / 1000).toFixed(1)} s: ${describeOutputs(state as MigrationOutputs)}`);
    if (state.phase !== "READY_FOR_CUTOVER") throw new Error(`expected READY_FOR_CUTOVER after create, got ${state.phase}: ${state.reason ?? ""}`);

    step("pulumi preview with nothing changed");
    const again = await host.check(URN, checked.inputs, await programInputs(config, secretKeys));
    const unchanged = await host.diff(URN, id, state, again.inputs);
    if (unchanged.changes !== "DIFF_NONE") {
      const drift = changedInputs(checked.inputs, again.inputs);
      throw new Error(`an unchanged program should preview as no change; the provider answered ${unchanged.changes} (inputs that differ: [${drift.join(", ")}])`);
    }
    detail(`provider diff: changes ${unchanged.changes} — \`pulumi up\` would do nothing`);

    step("More traffic on the source while the migration waits for its cutover");
    const afterBurst = await seed.ask<AppStats>("burst", { rounds: 300 });
    detail(`application so far: ${afterBurst.inserted} orders inserted, ${afterBurst.updated} customers updated, ${afterBurst.deleted} events deleted`);

    step("The cutover PR: `pulumi config set cutover true`, then `pulumi preview`");
    const flipped = { ...config, cutover: "true" };
    const newInputs = await programInputs(flipped, secretKeys);
    await host.configure(stackConfig(flipped));
    const oldInputs = checked.inputs;
    const checkedFlip = await host.check(URN, oldInputs, newInputs);
    if (checkedFlip.failures.length) throw new Error(`check rejected the cutover inputs:\n${failuresText(checkedFlip.failures)}`);
    const diff = await host.diff(URN, id, state, checkedFlip.inputs);
    const changed = changedInputs(oldInputs, checkedFlip.inputs);
    detail(`provider diff: changes ${diff.changes}, replaces [${diff.replaces.join(", ")}], deleteBeforeReplace ${diff.deleteBeforeReplace}`);
    const plan = diff.changes === "DIFF_NONE" ? "same" : diff.replaces.length ? "replace" : "update";
    detail(`${plan === "update" ? "~" : plan === "replace" ? "+-" : " "} ${MIGRATION_TYPE}  demo  ${plan}  [diff: ${changed.map((k) => `~${k}`).join(" ")}]`);
    if (plan !== "update" || changed.join() !== "cutover") throw new Error(`the cutover flip should preview as an update of cutover only; got ${plan} of [${changed.join(", ")}]`);

    step("pulumi up — update: block source writes, drain the change stream, verify");
    timer = Date.now();
    const completed = await resumeUntilDone(host, id, state, checkedFlip.inputs, 2);
    const app = await seed.ask<AppStats>("stopApp");
    const outs = completed as MigrationOutputs;
    detail(`${describeOutputs(outs)} · completed at ${outs.cutoverCompletedAt} (${((Date.now() - timer) / 1000).toFixed(1)} s)`);
    if (outs.verification) detail(`verification (${outs.verification.mode}): ${outs.verification.passed ? "passed" : "FAILED"} — ${outs.verification.summary}`);
    detail(
      `application: ${app.inserted} inserts, ${app.updated} updates, ${app.deleted} deletes reached the source; ` +
        `${app.refused} writes refused once the cutover blocked it${app.refusal ? ` ("${app.refusal}")` : ""}`,
    );
    for (const w of outs.warnings ?? []) detail(`warning: ${w}`);

    step("Counts per collection on both sides (read independently of the engine)");
    const problems = countsTable(await seed.ask<Summaries>("summaries"));

    step("pulumi refresh — read");
    const refreshed = (await host.read(URN, id, completed)).properties;
    detail(describeOutputs(refreshed as MigrationOutputs));

    step("pulumi destroy — delete");
    await host.delete(URN, id, refreshed);
    detail("the Migration is gone from the stack; the target keeps its data");

    if (outs.phase !== "COMPLETE") problems.push(`phase is ${outs.phase}, not COMPLETE`);
    if (!outs.verification?.passed) problems.push(`verification did not pass: ${outs.verification?.summary ?? "no report"}`);
    if (problems.length) throw new Error(`the migrated data is not what the source holds:\n  ${problems.join("\n  ")}`);
    step(`Done in ${seconds()}: synced while the application wrote, cut over by flipping one input, verified.`);
  } finally {
    await host.stop();
  }
}
