// Gated: a real mongosync the user runs (MONGOSYNC_URL=http://127.0.0.1:27182). Read-only on purpose: it
// reads /progress and runs preflight/status, and never sends start, pause, resume or commit, so pointing it
// at a mongosync in the middle of a real migration is safe.
import type { MigrationHandle } from "../../../provider/engines/engine";
import { MongosyncClient } from "../../../provider/engines/mongosync/client";
import { MONGOSYNC_STATES } from "../../../provider/engines/mongosync/types";
import { engineFor } from "../../../provider/engines/registry";
import { makeContext } from "../../support/context";
import { describeTier, mongosyncTier } from "../../support/tiers";
import { mongosyncSpec } from "./helpers";

describeTier(mongosyncTier(), "mongosync engine against a real mongosync (read-only)", () => {
  const url = process.env.MONGOSYNC_URL ?? "";
  const version = process.env.MONGOSYNC_VERSION; // optional: what `mongosync --version` prints

  it("GET /progress answers in the documented shape", async () => {
    const ctx = makeContext({ realTime: true, deadlineMs: 60_000 });
    const [instance] = await new MongosyncClient([url], { clock: ctx, deadline: ctx.deadline }).progressEach();
    expect(MONGOSYNC_STATES as readonly string[]).toContain(instance.progress.state);
    expect(typeof instance.progress.canCommit).toBe("boolean");
    console.log(`mongosync at ${url}: ${JSON.stringify(instance.progress)}`);
  });

  it("preflight and status read it without changing anything", async () => {
    const engine = engineFor("mongosync");
    const spec = mongosyncSpec([url], { version }, { writeBlocking: version ? "auto" : "none" });
    const ctx = makeContext({ realTime: true, deadlineMs: 120_000 });
    const report = await engine.preflight(spec, ctx);
    console.log(`preflight: ${JSON.stringify(report)}`);
    expect(report.facts.mongosyncInstances).toBe(1);
    const handle: MigrationHandle = { engine: "mongosync", id: "acceptance", startedAt: new Date().toISOString(), data: { verification: true } };
    const status = await engine.status(spec, handle, ctx);
    console.log(`status: ${JSON.stringify(status)}`);
    expect(["PENDING", "COPYING", "SYNCING", "READY_FOR_CUTOVER", "CUTTING_OVER", "COMPLETE"]).toContain(status.phase);
  });
});
