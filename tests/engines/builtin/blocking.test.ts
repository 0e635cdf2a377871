// Source write blocking across failures: what survives a reset (H1), undoing it (H2), what FAILED says while it
// is on (M1), and a re-drain that cannot wedge on unique indexes while it is on (H3).
import { MemoryCluster } from "../../../testing/memory-cluster";
import { resetMigration } from "../../../provider/engines/builtin/state";
import { compare, expectIdentical, rig, seed, syncUntilReady } from "./helpers";
import type { AnyDoc } from "./helpers";

afterEach(() => MemoryCluster.reset());

const ORDERS = { db: "shop", coll: "orders" };

function crashAt(step: string) {
  return {
    hooks: {
      beforeCutoverStep: (s: string) => {
        if (s === step) throw new Error(`simulated crash at ${s}`);
      },
    },
  };
}

describe("readOnlyUsers: the users' original roles survive every reset until restored (H1)", () => {
  test("a cutover that fails after blocking, then `atlas-migrate reset` and a new run: the original roles are kept", async () => {
    const r = rig({ spec: { writeBlocking: "readOnlyUsers" }, builtin: { readOnlyUsers: ["app@admin"] } });
    r.source.addUser("app", "admin", [{ role: "readWrite", db: "shop" }]);
    await seed(r.source, "shop", "orders", 50);
    const { handle } = await syncUntilReady(r);
    await expect(r.makeEngine(crashAt("DRAINING")).cutover(r.spec, handle, r.ctx)).rejects.toThrow(/simulated crash/);
    expect((await r.source.listUsers()).find((u) => u.user === "app")?.roles).toEqual([{ role: "read", db: "shop" }]);

    // The user restarts as instructed: the checkpoint (and the cutover state in it) is gone.
    expect(await resetMigration(r.target.connect(), r.spec.migrationId, r.ctx.now)).toEqual({ removed: true });
    const again = await syncUntilReady(r, r.makeEngine());
    expect(again.status.phase).toBe("READY_FOR_CUTOVER");
    const report = await r.makeEngine().cutover(r.spec, handle, r.ctx);
    // Before: the second cutover saved the read-only roles as the "original" ones.
    expect(report.warnings[0]).toContain('app@admin → [{"role":"readWrite","db":"shop"}]');
    expectIdentical(await compare(r.source, r.target, ORDERS));

    // And undoing it gives them back.
    const released = await r.engine.releaseSource(r.spec, r.ctx, { afterComplete: true });
    expect(released.released).toBe(true);
    expect((await r.source.listUsers()).find((u) => u.user === "app")?.roles).toEqual([{ role: "readWrite", db: "shop" }]);
    await r.source.as("app").db("shop").collection<AnyDoc>("orders").insertOne({ _id: "writes again" });
  });
});

describe("undoing the blocking of a half-done cutover (H2)", () => {
  test("while blocked every status says so; releaseSource unblocks and the sync continues; a later cutover completes", async () => {
    const r = rig();
    r.source.addUser("app", "admin", [{ role: "readWrite", db: "shop" }]);
    await seed(r.source, "shop", "orders", 40);
    const { handle } = await syncUntilReady(r);
    await expect(r.makeEngine(crashAt("DRAINING")).cutover(r.spec, handle, r.ctx)).rejects.toThrow(/simulated crash.*SOURCE WRITES ARE BLOCKED/s);
    expect(r.source.writesBlocked).toBe(true);
    const status = await r.engine.status(r.spec, handle, r.ctx);
    expect(status.warnings[0]).toMatch(/^SOURCE WRITES ARE BLOCKED .*setUserWriteBlockMode: 1, global: false/);

    const released = await r.engine.releaseSource(r.spec, r.ctx);
    expect(released).toEqual({ released: true, messages: ["source writes unblocked (setUserWriteBlockMode); the cutover was abandoned and the sync continues"] });
    expect(r.source.writesBlocked).toBe(false);
    await r.source.as("app").db("shop").collection<AnyDoc>("orders").insertOne({ _id: "after unblock" });
    const after = await r.engine.status(r.spec, handle, r.ctx);
    expect(after.warnings.join(" ")).not.toMatch(/BLOCKED/);
    expect((await r.engine.advance(r.spec, handle, r.ctx)).phase).toBe("READY_FOR_CUTOVER");

    const report = await r.makeEngine().cutover(r.spec, handle, r.ctx);
    expect(report.verification.passed).toBe(true);
    expectIdentical(await compare(r.source, r.target, ORDERS));
    // After COMPLETE the source stays blocked on purpose unless asked explicitly.
    const kept = await r.engine.releaseSource(r.spec, r.ctx);
    expect(kept.released).toBe(false);
    expect(kept.messages[0]).toMatch(/COMPLETE, so source writes stay blocked on purpose/);
    expect(r.source.writesBlocked).toBe(true);
    expect((await r.engine.releaseSource(r.spec, r.ctx, { afterComplete: true })).released).toBe(true);
    expect(r.source.writesBlocked).toBe(false);
  });
});

describe("FAILED while the source is blocked says so (M1)", () => {
  test("history lost during the cutover drain: the reason says writes are still blocked and how to undo it", async () => {
    const r = rig();
    await seed(r.source, "shop", "orders", 30);
    const { handle } = await syncUntilReady(r);
    const engine = r.makeEngine({
      hooks: {
        beforeCutoverStep: async (s) => {
          if (s !== "DRAINING") return;
          // Writes the stream has not applied yet (the default connection is root: not blocked), then the oplog
          // rolls over past the resume point.
          for (let i = 0; i < 5; i++) await r.source.db("shop").collection<AnyDoc>("orders").updateOne({ _id: i }, { $set: { n: -i } });
          r.source.truncateChangeLog({ keepLast: 1 });
        },
      },
    });
    const err = await engine.cutover(r.spec, handle, r.ctx).catch((e: Error) => e);
    expect((err as Error).message).toMatch(/failed during cutover: the source's oplog no longer holds/);
    expect((err as Error).message).toMatch(/SOURCE WRITES ARE BLOCKED .*atlas-migrate unblock mig-\d+/s);
    const status = await r.engine.status(r.spec, handle, r.ctx);
    expect(status.phase).toBe("FAILED");
    expect(status.reason).toMatch(/SOURCE WRITES ARE BLOCKED/);
    expect(r.source.writesBlocked).toBe(true);
  });
});

describe("unique indexes are built after verification passes (H3)", () => {
  test("a swap of unique values seen only by the re-drain does not wedge the cutover on E11000", async () => {
    const r = rig();
    const users = r.source.db("shop").collection<AnyDoc>("users");
    await users.insertMany([{ _id: 1, email: "a" }, { _id: 2, email: "b" }]);
    await users.createIndex({ email: 1 }, { unique: true });
    const { handle } = await syncUntilReady(r);
    let verifications = 0;
    const engine = r.makeEngine({
      hooks: {
        beforeCutoverStep: async (step) => {
          if (step !== "VERIFYING" || ++verifications > 1) return;
          // A write visible to the stream only after the first drain (root is not blocked): swap the emails.
          await users.updateOne({ _id: 1 }, { $set: { email: "tmp" } });
          await users.updateOne({ _id: 2 }, { $set: { email: "a" } });
          await users.updateOne({ _id: 1 }, { $set: { email: "b" } });
        },
      },
    });
    const report = await engine.cutover(r.spec, handle, r.ctx);
    expect(verifications).toBe(2);
    expect(report.verification.passed).toBe(true);
    expectIdentical(await compare(r.source, r.target, { db: "shop", coll: "users" }));
    const targetIndexes = (await r.target.listCollections()).find((c) => c.name === "users")!.indexes;
    expect(targetIndexes.find((i) => i.name === "email_1")?.options.unique).toBe(true);
  });
});
