// Ctrl-C during a long `pulumi up`, under the real CLI.
//
// A terminal's Ctrl-C reaches the foreground process group: the CLI (which starts a graceful cancel and waits for
// the steps in flight) and the program's side (driver.js keeps running and lets the CLI decide). It does not reach
// the dynamic-provider host: the CLI starts plugins in their own process group and sends them only the Cancel RPC
// (provider/runtime.ts hearEngineCancel: the running create then stops at its next safe point and rejects as a
// partial initialization). The test sends SIGINT to the driver's group exactly that way once the sync has started.
//
// "Promptly" is not a timing assertion: the create's own deadline is an hour, and the operation is bounded by the
// harness's OP_TIMEOUT_MS (minutes). Had the provider ignored the signal, the CLI would wait for the create and the
// harness would kill it and fail the test saying so.
import { describeTier } from "../support/tiers";
import { OP_TIMEOUT_MS, resourceIn } from "./support/cli";
import { MIGRATION_TYPE } from "./support/harness";
import { config, expectOk, exportState, stackWithMongosync, tier } from "./support/suite";

describeTier(tier, "Pulumi CLI: Ctrl-C during a long create", () => {
  jest.setTimeout(3 * OP_TIMEOUT_MS);
  // The sync never progresses on its own: the create cannot finish before the signal, whatever the machine's speed.
  const env = stackWithMongosync("interrupt", { version: "1.19.0", advanceOnProgress: false });

  test("SIGINT to `pulumi up` once the sync started: the CLI exits, the state keeps a partial create", async () => {
    const up = await env.stack.run("up", {
      config: config(env.mongosync, { createMinutes: 60 }),
      // Once mongosync was told to start and polled at least once, the create is inside its wait loop.
      signalAfter: () => env.mongosync.count("start") >= 1 && env.mongosync.count("progress") >= 2,
    });
    expect(up.error ?? "").not.toMatch(/e2e harness: .* did not finish/);
    expect(up.ok).toBe(false);
    // The provider host said what it does with the signal, and the create stopped as a partial initialization.
    expect(up.stdout).toMatch(/Ctrl-C received: stopping each migration at its next safe point/);
    expect(up.stdout + up.error).toMatch(/interrupted \(Ctrl-C\)/);

    const resource = resourceIn(await exportState(env.stack), MIGRATION_TYPE);
    expect(resource).toBeDefined();
    expect(resource.initErrors?.length).toBeGreaterThan(0);
    expect(resource.outputs.handle.engine).toBe("mongosync");
    expect(["PENDING", "COPYING", "SYNCING"]).toContain(resource.outputs.phase);
    expect(env.mongosync.count("start")).toBe(1);
  });

  test("the next `pulumi up` resumes the same sync (no second /start) and reaches READY_FOR_CUTOVER", async () => {
    env.mongosync.advance(10);
    const up = expectOk(await env.stack.run("up", { config: config(env.mongosync) }));
    expect(up.outputs!.phase.value).toBe("READY_FOR_CUTOVER");
    expect(env.mongosync.count("start")).toBe(1);
  });
});
