// The atlas-push engine through the MigrationEngine interface (as the provider calls it), against the emulator.
import { engineFor } from "../../../provider/engines/registry";
import type { EngineCredentials } from "../../../provider/engines/engine";
import { AtlasApiEmulator } from "../../../testing/atlas-emulator";
import { makeContext } from "../../support/context";
import { API_KEY, ATLAS_PROJECT_ID, CM_PROJECT_ID, ORG_ID, SERVICE_ACCOUNT, pushSpec, startEmulator } from "./fixtures";

const engine = engineFor("atlas-push");

describe("atlas-push engine lifecycle", () => {
  let emulator: AtlasApiEmulator;
  afterEach(async () => { await emulator.stop(); });

  for (const auth of ["api key (digest)", "service account (bearer)"] as const) {
    test(`create → status → cutover → cancel with ${auth}, counting API calls`, async () => {
      emulator = await startEmulator();
      const credentials: EngineCredentials = {
        atlas: auth.startsWith("api") ? { baseUrl: emulator.baseUrl, ...API_KEY } : { baseUrl: emulator.baseUrl, ...SERVICE_ACCOUNT },
      };
      const spec = pushSpec({ migrationId: `lifecycle-${auth}` });
      const counts: Record<string, Record<string, number>> = {};
      let seen = 0;
      const step = (name: string) => {
        counts[name] = emulator.countByOperation((r) => emulator.requests.indexOf(r) >= seen);
        seen = emulator.requests.length;
      };

      const pre = await engine.preflight(spec, makeContext({ credentials }));
      expect(pre.errors).toEqual([]);
      expect(pre.ok).toBe(true);
      expect(pre.facts).toMatchObject({ sourceVersion: "7.0.13", sourceSharded: false, cloudManagerProject: "on-prem", atlasCredentialsOk: true });
      step("preflight");

      const ctx = makeContext({ credentials });
      const handle = await engine.start(spec, ctx);
      step("start");
      expect(handle).toMatchObject({ engine: "atlas-push", data: { projectId: ATLAS_PROJECT_ID, orgId: ORG_ID, linkTokenCreated: false } });
      expect(JSON.stringify(handle)).not.toMatch(/source-Pa55word|privateKey|clientSecret/);
      const sent = emulator.migration(handle.id)!;
      expect(sent.request).toMatchObject({
        source: { groupId: CM_PROJECT_ID, clusterName: "rs0", username: "migrator", password: "****", ssl: true, managedAuthentication: false },
        destination: { groupId: ATLAS_PROJECT_ID, clusterName: "Cluster0", hostnameSchemaType: "PUBLIC" },
        migrationHosts: ["vm001.example.com"],
        dropDestinationData: false,
      });
      // the same process asking again gets the same (still active) migration, not a second one
      expect(await engine.start(spec, ctx)).toBe(handle);
      expect(emulator.listMigrations()).toHaveLength(1);
      seen = emulator.requests.length; // that check's GET is not part of the lifecycle count

      const ready = await engine.advance(spec, handle, ctx);
      step("advance");
      expect(ready).toMatchObject({ phase: "READY_FOR_CUTOVER", readyForCutover: true, details: { atlasStatus: "WORKING" } });
      expect(typeof ready.lagSeconds).toBe("number");
      expect(ctx.lines.some((l) => l.includes("COPYING"))).toBe(true);
      expect(ctx.lines.some((l) => l.includes("SYNCING"))).toBe(true);

      const status = await engine.status(spec, handle, ctx);
      step("status");
      expect(status.phase).toBe("READY_FOR_CUTOVER");

      const report = await engine.cutover(spec, handle, ctx);
      step("cutover");
      expect(report).toMatchObject({ phase: "COMPLETE", verification: { mode: "engine", passed: true }, warnings: [] });
      expect(emulator.migration(handle.id)).toMatchObject({ stage: "COMPLETE", cutoverRequests: 1 });

      const again = await engine.cutover(spec, handle, ctx);
      step("cutover again");
      expect(again.warnings.join()).toMatch(/already COMPLETE/);
      expect(emulator.migration(handle.id)!.cutoverRequests).toBe(1);

      const cancel = await engine.cancel(spec, handle, ctx);
      step("cancel");
      expect(cancel.warnings.join()).toMatch(/is COMPLETE; nothing is running/);

      // Every step's calls, for the report (printed, and pinned so a regression in chattiness shows).
      console.log(`atlas-push API calls with ${auth}: ${JSON.stringify(counts)}`);
      expect(counts.preflight).toEqual(auth.startsWith("api") ? { listAvailableProjects: 2 } : { oauthToken: 1, listAvailableProjects: 1 });
      // After the first challenge (or token) the credentials are reused across engine calls: no 401 round
      // trips and no token requests in later steps. Validation answers PENDING once in this scenario.
      expect(counts.start).toEqual({ validate: 1, getValidation: 2, createMigration: 1 });
      // NEW, COPYING ×2, SYNCING, READY = 5 polls; the reuse check's GET above already took the first one.
      expect(counts.advance).toEqual({ getMigration: 4 });
      expect(counts.status).toEqual({ getMigration: 1 });
      expect(counts.cutover).toEqual({ getMigration: 4, cutover: 1 });
      expect(counts["cutover again"]).toEqual({ getMigration: 1 });
      expect(counts.cancel).toEqual({ getMigration: 1 });
    });
  }
});
