// A replace of the Migration under the real CLI, and what a user's `deleteBeforeReplace: false` does to it.
//
// A new target is a new migration (provider/runtime.ts diff: `replaces`), and our diff asks for delete-before-replace
// so that the old sync is stopped (mongosync paused) before the new one starts. The engine lets the resource option
// override the provider either way (pulumi/pulumi pkg/resource/deploy/step_generator.go: "The user can override the
// provider's decision by setting the deleteBeforeReplace field of ResourceOptions to either true or false"). With
// `false`, the replacement is created first: for a while two syncs read the same source. Each mongosync process
// is bound to one destination (--cluster1), so the new target comes with its own mongosync: two emulators here.
import { MongosyncEmulator } from "../../testing/mongosync-emulator";
import { describeTier } from "../support/tiers";
import { OpResult, resourceIn, stepsOf } from "./support/cli";
import { MIGRATION_TYPE } from "./support/harness";
import { config, expectOk, exportState, stackWithMongosync, tier } from "./support/suite";

const READY = { version: "1.19.0", copyTicks: 1, catchUpTicks: 1, verifierTicks: 0, commitTicks: 1 } as const;

/** The Migration's replacement steps, in the order the engine announced them. */
function replaceOrder(result: OpResult): string[] {
  return stepsOf(result)
    .filter((s) => s.type === MIGRATION_TYPE && /replace/.test(s.op))
    .map((s) => s.op);
}

describeTier(tier, "Pulumi CLI: replacing the Migration (a new target), with and without deleteBeforeReplace: false", () => {
  jest.setTimeout(15 * 60 * 1000);
  let second: MongosyncEmulator;
  const env = stackWithMongosync("replace", READY, async () => {
    second = await MongosyncEmulator.start(READY);
  });
  afterAll(async () => second?.stop());

  /** The program's config pointed at the second target, through the second mongosync. */
  const newTarget = (extra: Record<string, unknown> = {}) => {
    const values = config(env.mongosync, extra);
    values.mongosyncUrl = { value: second.url };
    values.targetUri = { value: "mongodb+srv://migrator:E2e-Tgt2-Pa55-0c1d@cluster1.fghij.mongodb.net", secret: true };
    return values;
  };

  test("by default the replace deletes first: preview plans delete-replaced before create-replacement", async () => {
    expectOk(await env.stack.run("up", { config: config(env.mongosync) }));
    const preview = expectOk(await env.stack.run("preview", { config: newTarget() }));
    expect(replaceOrder(preview)).toEqual(["delete-replaced", "replace", "create-replacement"]);
    expect(second.count("start")).toBe(0);
  });

  test("with deleteBeforeReplace: false the engine creates the new sync first, then pauses the old one", async () => {
    const up = expectOk(await env.stack.run("up", { config: newTarget({ deleteBeforeReplace: false }) }));
    console.log(`replace with deleteBeforeReplace: false, steps: ${stepsOf(up).filter((s) => s.type === MIGRATION_TYPE).map((s) => s.op).join(", ")}`);
    expect(replaceOrder(up)).toEqual(["create-replacement", "replace", "delete-replaced"]);
    expect(up.outputs!.phase.value).toBe("READY_FOR_CUTOVER");
    // Both syncs ran: the new one started (and reached READY_FOR_CUTOVER) while the old one was still RUNNING;
    // the old one was paused afterwards, and its destination keeps what it copied.
    expect(second.count("start")).toBe(1);
    expect(env.mongosync.count("pause")).toBe(1);
    expect(env.mongosync.machine.state).toBe("PAUSED");
    const resource = resourceIn(await exportState(env.stack), MIGRATION_TYPE);
    expect(resource.outputs.mongosync.urls).toEqual([second.url]);
  });
});
