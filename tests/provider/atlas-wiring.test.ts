// atlas-push behind the runtime, against the AtlasApiEmulator: what the runtime must hand the engine so that
// Atlas live migration's own rules hold across `pulumi up` runs — one link token per org reused while the link
// is pending (ctx.stored.linkToken), the link token deleted by `pulumi destroy` of a COMPLETE migration
// (cleanupAfterComplete; target data untouched), and an OAuth access token from `mongodbatlas:accessToken`.
import * as runtime from "../../provider/runtime";
import { AtlasApiEmulator } from "../../testing/atlas-emulator";
import { API_KEY, ATLAS_PROJECT_ID, CM_PROJECT_ID, ORG_ID, SERVICE_ACCOUNT, cloudManagerProject, startEmulator } from "../engines/atlas/fixtures";
import { rejectionOf } from "./support/expect-rejection";

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
    atlasPush: { orgId: ORG_ID, migrationHost: "vm001.example.com", createLinkToken: true },
    verificationMode: "none",
    timeouts: { pollSeconds: 0.02, createMinutes: 1, cutoverMinutes: 1 },
    cutover: false,
    ...over,
  };
}

function configure(values: Record<string, string>) {
  runtime.configure({ get: (key) => values[key] });
}


beforeEach(() => {
  logged = [];
  jest.spyOn(console, "log").mockImplementation((...args: unknown[]) => void logged.push(args.join(" ")));
});
afterEach(async () => {
  jest.restoreAllMocks();
  runtime.configure({ get: () => undefined });
  await emulator?.stop();
});

test("a pending link reuses the token of the first `up`, and destroy of the COMPLETE migration deletes it", async () => {
  emulator = await startEmulator({ orgs: [{ orgId: ORG_ID, availableProjects: [cloudManagerProject()], linked: false }] });
  configure({ "mongodbatlas:baseUrl": emulator.baseUrl, "mongodbatlas:publicKey": API_KEY.publicKey, "mongodbatlas:privateKey": API_KEY.privateKey });

  const first = await rejectionOf(runtime.create(inputs()));
  const [token] = emulator.linkTokens(ORG_ID);
  expect(first.properties.linkToken).toBe(token);

  // The user has not pasted it yet: the next `up` must not mint a second token (it would supersede the first).
  const second = await rejectionOf(runtime.update(first.id, first.properties, inputs()));
  expect(second.properties.linkToken).toBe(token);
  expect(second.message).toMatch(/Connect to Atlas/);
  expect(emulator.linkTokens(ORG_ID)).toEqual([token]);
  expect(emulator.countByOperation().createLinkToken).toBe(1);

  emulator.pasteLinkToken(ORG_ID);
  const { outs } = await runtime.update(first.id, second.properties, inputs());
  expect(outs.phase).toBe("READY_FOR_CUTOVER");
  // Atlas's 120-hour window, as an output the cutover PR's preview reads.
  expect(outs.cutoverDeadline).toBe(new Date(Date.parse(outs.startedAt) + 120 * 3600_000).toISOString());

  // Cut over in the Atlas UI; `pulumi refresh` shows it COMPLETE; then `pulumi destroy`.
  const [migration] = emulator.listMigrations();
  emulator.setStage(migration.id, "COMPLETE");
  const refreshed = (await runtime.read(first.id, outs)).props;
  expect(refreshed.phase).toBe("COMPLETE");
  expect(emulator.linkTokens(ORG_ID)).toHaveLength(1);
  await runtime.destroy(first.id, refreshed);
  expect(emulator.countByOperation().deleteLinkTokens).toBe(1);
  expect(emulator.linkTokens(ORG_ID)).toEqual([]);
  expect(logged.join("\n")).toMatch(/\[orders\] deleted the live-migration link token of Atlas org/);
  expect(logged.join("\n")).toMatch(/target data is kept/);
  expect(emulator.listMigrations()[0].stage).toBe("COMPLETE"); // nothing else touched
  expect(logged.join("\n")).not.toContain(token);
});

test("Atlas refusing the deletion (another migration of the org active) keeps destroy working and says how to finish", async () => {
  emulator = await startEmulator({ orgs: [{ orgId: ORG_ID, availableProjects: [cloudManagerProject()], linked: false }] });
  configure({ "mongodbatlas:baseUrl": emulator.baseUrl, "mongodbatlas:publicKey": API_KEY.publicKey, "mongodbatlas:privateKey": API_KEY.privateKey });
  const first = await rejectionOf(runtime.create(inputs()));
  emulator.pasteLinkToken(ORG_ID);
  const { outs } = await runtime.update(first.id, first.properties, inputs());
  emulator.setStage(emulator.listMigrations()[0].id, "COMPLETE");
  const refreshed = (await runtime.read(first.id, outs)).props;
  emulator.injectFault({ operation: "deleteLinkTokens", status: 409 });
  await expect(runtime.destroy(first.id, refreshed)).resolves.toBeUndefined();
  expect(logged.join("\n")).toMatch(/kept the live-migration link token .*atlas liveMigrations link delete/);
});

test("an OAuth access token in `mongodbatlas:accessToken` is what the engine authenticates with", async () => {
  emulator = await startEmulator();
  const answer = await fetch(`${emulator.baseUrl}/api/oauth/token`, {
    method: "POST",
    headers: {
      authorization: `Basic ${Buffer.from(`${SERVICE_ACCOUNT.clientId}:${SERVICE_ACCOUNT.clientSecret}`).toString("base64")}`,
      "content-type": "application/x-www-form-urlencoded",
    },
    body: "grant_type=client_credentials",
  });
  const { access_token: accessToken } = (await answer.json()) as { access_token: string };
  const before = emulator.requests.length;
  configure({ "mongodbatlas:baseUrl": emulator.baseUrl, "mongodbatlas:accessToken": accessToken });
  const { outs } = await runtime.create(inputs({ atlasPush: { orgId: ORG_ID, migrationHost: "vm001.example.com" } }));
  expect(outs.phase).toBe("READY_FOR_CUTOVER");
  const used = emulator.requests.slice(before);
  expect(used.length).toBeGreaterThan(0);
  expect(new Set(used.map((r) => r.auth))).toEqual(new Set(["bearer"]));
  expect(used.some((r) => r.operation === "oauthToken")).toBe(false); // used as is, never exchanged
  expect(logged.join("\n")).not.toContain(accessToken);
});
