// Real Atlas, read-only (like terraform-provider-mongodbatlas' TF_ACC): runs with ATLAS_ACC=1, API keys or a
// service account in MONGODB_ATLAS_*, and ATLAS_ACC_ORG_ID (an org the credentials are Organization Owner of).
// Optional: ATLAS_ACC_PROJECT_ID (an Atlas project) to check the error mapping of a missing migration.
// Nothing here creates, changes or deletes anything.
import { AtlasClient } from "../../../provider/engines/atlas/client";
import { AtlasApiError } from "../../../provider/engines/atlas/errors";
import { describeTier, atlasTier } from "../../support/tiers";

const env = process.env;
const tier = atlasTier();
const orgId = env.ATLAS_ACC_ORG_ID ?? "";
const realClock = {
  now: () => Date.now(),
  sleep: (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)),
  log: (line: string) => console.log(line),
};

function client(): AtlasClient {
  return new AtlasClient({
    credentials: {
      baseUrl: env.MONGODB_ATLAS_BASE_URL,
      publicKey: env.MONGODB_ATLAS_PUBLIC_KEY,
      privateKey: env.MONGODB_ATLAS_PRIVATE_KEY,
      clientId: env.MONGODB_ATLAS_CLIENT_ID,
      clientSecret: env.MONGODB_ATLAS_CLIENT_SECRET,
    },
  });
}

describeTier(tier, "atlas-push client against real Atlas (read-only)", () => {
  jest.setTimeout(120_000);

  test("ATLAS_ACC_ORG_ID is set", () => {
    expect(orgId).toMatch(/^[a-f0-9]{24}$/);
  });

  test("lists the Cloud Manager projects available for live migration, in the documented shape", async () => {
    const projects = await client().listAvailableProjects({ ...realClock, deadline: Date.now() + 60_000 }, orgId);
    expect(Array.isArray(projects)).toBe(true);
    for (const p of projects) {
      expect(p.projectId).toMatch(/^[a-f0-9]{24}$/);
      expect(typeof p.name).toBe("string");
      expect(Array.isArray(p.migrationHosts)).toBe(true);
      expect(Array.isArray(p.deployments)).toBe(true);
    }
    console.log(`real Atlas: ${projects.length} Cloud Manager project(s) available to org ${orgId}`);
  });

  test("a migration id that does not exist is a typed 4xx, not a crash", async () => {
    const projectId = env.ATLAS_ACC_PROJECT_ID;
    if (!projectId) {
      console.log("ATLAS_ACC_PROJECT_ID not set: skipping the missing-migration check");
      return;
    }
    const err = await client()
      .getMigration({ ...realClock, deadline: Date.now() + 60_000 }, projectId, "000000000000000000000000")
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AtlasApiError);
    expect((err as AtlasApiError).status).toBeGreaterThanOrEqual(400);
    expect((err as AtlasApiError).status).toBeLessThan(500);
    console.log(`real Atlas: missing migration ⇒ ${(err as AtlasApiError).status} ${(err as AtlasApiError).errorCode}`);
  });
});
