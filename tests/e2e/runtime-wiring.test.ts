// The runtime's wiring as the real Pulumi CLI shows it (the pulumi-cli tier; see automation.test.ts for how the
// tier runs): check judges a create with the stored inputs the engine passes (none), and the preview of a cutover
// PR says — from the last stored status — whether the cutover may proceed, failing when it may not, so the PR
// cannot be merged green. mongosync engine against a MongosyncEmulator in this process.
import * as path from "path";
import { MongosyncEmulator } from "../../testing/mongosync-emulator";
import { describeTier, pulumiCliTier } from "../support/tiers";
import { ConfigValues, E2eStack, OpResult, resourceIn, stepsOf } from "./support/cli";
import { MIGRATION_TYPE } from "./support/harness";

const tier = pulumiCliTier();
const PROGRAM = path.join(__dirname, "program", "runtime-wiring.js");
const PASSWORDS = ["Wire-Src-Pa55-0c1d", "Wire-Tgt-Pa55-9e8f"];

function config(mongosync: MongosyncEmulator, over: Record<string, string | number | boolean> = {}): ConfigValues {
  const values: ConfigValues = {
    mongosyncUrl: { value: mongosync.url },
    sourceUri: { value: `mongodb://app:${PASSWORDS[0]}@src1.example:27017/?replicaSet=rs0`, secret: true },
    targetUri: { value: `mongodb+srv://migrator:${PASSWORDS[1]}@cluster0.abcde.mongodb.net`, secret: true },
    cutover: { value: "false" },
    // Stack config persists between operations: every run states each knob.
    maxLagSeconds: { value: "60" },
    temporaryAccessEntries: { value: "0" },
  };
  for (const [k, v] of Object.entries(over)) values[k] = { value: String(v) };
  return values;
}

function expectOk(result: OpResult): OpResult {
  if (!result.ok) throw new Error(`operation failed: ${result.error}\n--- stdout ---\n${result.stdout}\n--- stderr ---\n${result.stderr}`);
  return result;
}

function expectRefused(result: OpResult, message: RegExp): string {
  expect(result.ok).toBe(false);
  const text = `${result.stdout}\n${result.error ?? ""}`;
  expect(text).toMatch(message);
  return text;
}

/** The lines a reviewer reads in the PR's preview comment about the cutover (the provider's own lines). */
function readinessLines(text: string): string {
  return text
    .split("\n")
    .filter((l) => /cutover readiness|cutover not ready/.test(l))
    .map((l) => l.trim())
    .join("\n");
}

describeTier(tier, "Pulumi CLI: the preview of a cutover PR says whether the cutover may proceed", () => {
  jest.setTimeout(10 * 60 * 1000);
  const env = {} as { mongosync: MongosyncEmulator; stack: E2eStack };
  beforeAll(async () => {
    // Progress only when the test says so: what each preview sees does not depend on the machine's speed.
    env.mongosync = await MongosyncEmulator.start({ version: "1.19.0", advanceOnProgress: false, commitTicks: 1 });
    env.stack = new E2eStack({ pulumi: tier.binary!, stackName: "wiring", programFile: PROGRAM });
  });
  afterAll(async () => {
    try {
      await env.stack?.dispose();
    } finally {
      await env.mongosync?.stop();
    }
  });

  test("check: a first `up` that already says cutover: true while access is dropped at cutover is refused at preview", async () => {
    const preview = await env.stack.run("preview", { config: config(env.mongosync, { cutover: true, temporaryAccessEntries: 1 }) });
    const text = expectRefused(preview, /the first `pulumi up` already has cutover: true, but 1 temporary accessList entry exist only while cutover is false/);
    console.log(`first preview with cutover: true:\n${text.split("\n").filter((l) => /cutover/.test(l)).join("\n")}`);
    expect(env.mongosync.count("start")).toBe(0);
  });

  test("a cutover PR while mongosync is still copying fails its preview with the reason and what to do", async () => {
    const up = await env.stack.run("up", { config: config(env.mongosync, { createMinutes: 0.001 }) });
    expect(up.ok).toBe(false); // still copying: kept as partially created, resumed by the next `up`
    const stored = resourceIn(expectOk(await env.stack.run("export")).deployment, MIGRATION_TYPE).outputs;
    expect(stored.statusCheckedAt).toEqual(expect.any(String));
    expect(["PENDING", "COPYING"]).toContain(stored.phase);

    const preview = await env.stack.run("preview", { config: config(env.mongosync, { cutover: true }) });
    const text = expectRefused(preview, /cutover not ready \(NOT_READY\): the migration is (PENDING|COPYING).*— wait for the initial copy.*`pulumi refresh`, then preview again/);
    console.log(`cutover PR preview while copying:\n${readinessLines(text)}`);
    expect(env.mongosync.count("commit")).toBe(0);
  });

  test("after the sync caught up and a refresh, the preview passes and prints the figures it was allowed on", async () => {
    env.mongosync.advance(10);
    expectOk(await env.stack.run("refresh", { config: config(env.mongosync) }));
    const preview = expectOk(await env.stack.run("preview", { config: config(env.mongosync, { cutover: true }) }));
    expect(stepsOf(preview).find((s) => s.type === MIGRATION_TYPE)?.op).toBe("update");
    expect(preview.stdout).toMatch(
      /\[wired\] cutover readiness: the cutover may proceed: READY_FOR_CUTOVER, lag \d+ s \(at most 60\), status read \d+ min ago \(at most 60 min\), verification "full"/,
    );
    console.log(`cutover PR preview when ready:\n${readinessLines(preview.stdout)}`);
  });

  test("a lag above the stack's own threshold fails the preview", async () => {
    const preview = await env.stack.run("preview", { config: config(env.mongosync, { cutover: true, maxLagSeconds: 0 }) });
    const text = expectRefused(preview, /cutover not ready \(LAG_TOO_HIGH\): the lag was \d+ s at the last status read; cutoverReadiness.maxLagSeconds is 0/);
    console.log(`cutover PR preview with maxLagSeconds 0:\n${readinessLines(text)}`);
  });

  test("the merged PR's `up` cuts over; nothing printed carries a password", async () => {
    env.mongosync.machine.options.advanceOnProgress = true;
    const up = expectOk(await env.stack.run("up", { config: config(env.mongosync, { cutover: true }) }));
    expect(up.outputs!.phase.value).toBe("COMPLETE");
    expect(env.mongosync.count("commit")).toBe(1);
    for (const password of PASSWORDS) expect(env.stack.printed.join("\n")).not.toContain(password);
  });
});
