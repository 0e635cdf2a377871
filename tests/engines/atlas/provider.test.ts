// atlas-push behind the real Migration provider runtime (create → read → cutover update → delete) against the
// AtlasApiEmulator, with credentials from provider configuration as `pulumi up` would pass them. The runtime
// uses the real clock, so polls are 20 ms.
import * as runtime from "../../../provider/runtime";
import { AtlasApiEmulator } from "../../../testing/atlas-emulator";
import { API_KEY, ATLAS_PROJECT_ID, CM_PROJECT_ID, ORG_ID, SERVICE_ACCOUNT, cloudManagerProject, startEmulator } from "./fixtures";

let emulator: AtlasApiEmulator;
let logged: string[] = [];

function inputs(over: Record<string, unknown> = {}) {
  return {
    __provider: "serialized-provider-text",
    resourceName: "orders",
    providerVersion: "0.1.0",
    engine: "atlas-push",
    source: { cloudManager: { groupId: CM_PROJECT_ID, clusterName: "rs0", username: "migrator", password: "cmS3cret!pw", ssl: true } },
    target: { atlas: { projectId: ATLAS_PROJECT_ID, clusterName: "Cluster0", tier: "M40" } },
    atlasPush: { orgId: ORG_ID, migrationHost: "vm001.example.com", dropDestinationData: false },
    verification: "none",
    timeouts: { pollSeconds: 0.02, createMinutes: 1, cutoverMinutes: 1 },
    cutover: false,
    ...over,
  };
}

function configure(creds: Record<string, string>) {
  const keys: Record<string, string> = {};
  for (const [k, v] of Object.entries(creds)) keys[`mongodbatlas:${k}`] = v;
  runtime.configure({ get: (key) => keys[key] });
}

beforeEach(() => {
  logged = [];
  jest.spyOn(console, "log").mockImplementation((...args: unknown[]) => {
    logged.push(args.join(" "));
  });
});
afterEach(async () => {
  jest.restoreAllMocks();
  runtime.configure({ get: () => undefined });
  await emulator.stop();
});

describe("Migration provider with engine atlas-push", () => {
  it.each([
    ["api key", () => ({ baseUrl: emulator.baseUrl, ...API_KEY })],
    ["service account", () => ({ baseUrl: emulator.baseUrl, ...SERVICE_ACCOUNT })],
  ])("create → read → cutover → delete with %s credentials from provider config", async (kind, creds) => {
    emulator = await startEmulator();
    configure(creds());
    const perStep: string[] = [];
    let at = 0;
    const step = (name: string) => {
      perStep.push(`${name}=${JSON.stringify(emulator.countByOperation((r) => emulator.requests.indexOf(r) >= at))}`);
      at = emulator.requests.length;
    };

    const { id, outs } = await runtime.create(inputs());
    step("create");
    expect(outs).toMatchObject({ engine: "atlas-push", phase: "READY_FOR_CUTOVER", linkToken: null });
    expect(typeof outs.lagSeconds).toBe("number");
    expect(outs.handle).toMatchObject({ engine: "atlas-push", data: { projectId: ATLAS_PROJECT_ID } });
    expect(emulator.listMigrations()).toHaveLength(1);

    const refreshed = await runtime.read(id, outs);
    step("read");
    expect(refreshed.props.phase).toBe("READY_FOR_CUTOVER");

    const { outs: done } = await runtime.update(id, outs, inputs({ cutover: true }));
    step("update(cutover)");
    expect(done).toMatchObject({ phase: "COMPLETE", verification: { mode: "engine", passed: true } });
    expect(emulator.listMigrations()[0]).toMatchObject({ stage: "COMPLETE", cutoverRequests: 1 });

    await runtime.destroy(id, done);
    step("delete");
    // (outputs repeat the inputs, source included; the provider marks that output secret)
    const everything = [...logged, JSON.stringify(done.handle), JSON.stringify(done.warnings)].join("\n");
    for (const secret of ["cmS3cret!pw", API_KEY.privateKey, SERVICE_ACCOUNT.clientSecret]) expect(everything).not.toContain(secret);
    process.stdout.write(`atlas-push via provider, ${kind}: ${perStep.join("; ")}\n`);
  });

  it("createLinkToken: the first up stops with the token as a (secret) output; after pasting, the next up proceeds", async () => {
    emulator = await startEmulator({ orgs: [{ orgId: ORG_ID, availableProjects: [cloudManagerProject()], linked: false }] });
    configure({ baseUrl: emulator.baseUrl, ...API_KEY });
    const given = inputs({ atlasPush: { orgId: ORG_ID, migrationHost: "vm001.example.com", createLinkToken: true } });
    const err = (await runtime.create(given).catch((e: unknown) => e)) as any;
    const [token] = emulator.linkTokens(ORG_ID);
    expect(err.id).toEqual(expect.any(String));
    expect(err.properties.linkToken).toBe(token);
    expect(err.message).toMatch(/Connect to Atlas/);
    expect(err.message).not.toContain(token);
    expect(logged.join("\n")).not.toContain(token);
    emulator.pasteLinkToken(ORG_ID);
    const { outs } = await runtime.update(err.id, err.properties, given);
    expect(outs.linkToken).toBe(token);
    expect(outs.phase).toBe("READY_FOR_CUTOVER");
    expect(JSON.stringify(outs.handle)).not.toContain(token);
    expect(emulator.linkTokens(ORG_ID)).toHaveLength(1);
  });

  it("delete before cutover warns that Atlas cannot cancel and leaves the migration running", async () => {
    emulator = await startEmulator();
    configure({ baseUrl: emulator.baseUrl, ...API_KEY });
    const { id, outs } = await runtime.create(inputs());
    await runtime.destroy(id, outs);
    expect(logged.join("\n")).toMatch(/no API to cancel a push live migration/);
    expect(emulator.listMigrations()[0].stage).toBe("READY");
  });

  it("an Atlas validation failure fails create with Atlas's reason and starts nothing", async () => {
    emulator = await startEmulator({ scenario: { validationResult: "FAILED", validationErrorMessage: "Migration host cannot reach Cluster0." } });
    configure({ baseUrl: emulator.baseUrl, ...API_KEY });
    const err = (await runtime.create(inputs()).catch((e: unknown) => e)) as Error;
    expect(err.message).toContain("Atlas validation of the live migration failed: Migration host cannot reach Cluster0.");
    expect(emulator.listMigrations()).toHaveLength(0);
  });

  it("preflight failures name what to fix and make no write calls", async () => {
    emulator = await startEmulator();
    configure({ baseUrl: emulator.baseUrl, ...API_KEY });
    const err = (await runtime.create(inputs({ atlasPush: { orgId: ORG_ID, migrationHost: "vm404" } })).catch((e: unknown) => e)) as Error;
    expect(err.message).toMatch(/MIGRATION_HOST_NOT_FOUND: migration host vm404 .*provisioned: vm001\.example\.com/);
    expect(new Set(emulator.requests.map((r) => r.operation))).toEqual(new Set(["listAvailableProjects"]));
  });
});
