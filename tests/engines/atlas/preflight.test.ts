// atlas-push preflight: findings from the spec alone and from what Atlas sees through the org link.
import { engineFor } from "../../../provider/engines/registry";
import { checkSourceVersion } from "../../../provider/engines/atlas/preflight";
import type { MigrationSpec, PreflightReport } from "../../../provider/engines/engine";
import type { AvailableProject } from "../../../provider/engines/atlas/types";
import { AtlasApiEmulator } from "../../../testing/atlas-emulator";
import { makeContext } from "../../support/context";
import { API_KEY, ORG_ID, cloudManagerProject, pushSpec, startEmulator } from "./fixtures";

const engine = engineFor("atlas-push");
let emulator: AtlasApiEmulator;
afterEach(async () => { await emulator?.stop(); });

async function preflight(spec: MigrationSpec, project: AvailableProject | null = cloudManagerProject(), creds = API_KEY): Promise<PreflightReport> {
  emulator = await startEmulator({ orgs: [{ orgId: ORG_ID, availableProjects: project ? [project] : [] }] });
  return engine.preflight(spec, makeContext({ credentials: { atlas: { baseUrl: emulator.baseUrl, ...creds } } }));
}

const codes = (findings: Array<{ code: string }>) => findings.map((f) => f.code);
const deployment = (over: Partial<AvailableProject["deployments"][number]>) => cloudManagerProject({ deployments: [{ ...cloudManagerProject().deployments[0], ...over }] });

describe("source version rule (6.0.13+ / 7.0.8+, no rapid releases)", () => {
  test.each([
    ["6.0.13", true], ["6.0.12", false], ["7.0.8", true], ["7.0.7", false], ["7.0.13-ent", true],
    ["8.0.4", true], ["5.0.30", false], ["4.4.29", false], ["7.1.0", false], ["6.3.2", false],
  ])("%s ⇒ ok=%s", (version, ok) => {
    expect(checkSourceVersion(version).ok).toBe(ok);
  });
  test("an unreadable version passes with a warning code", () => {
    expect(checkSourceVersion(undefined)).toMatchObject({ ok: true, code: "SOURCE_VERSION_UNKNOWN" });
  });
});

describe("atlas-push preflight", () => {
  test("a good spec passes, with facts, and only the standing warning to stop writes", async () => {
    const report = await preflight(pushSpec());
    expect(report.ok).toBe(true);
    expect(codes(report.warnings)).toEqual(["STOP_WRITES_BEFORE_CUTOVER"]);
    expect(report.facts).toMatchObject({ sourceVersion: "7.0.13", sourceFcv: "7.0", sourceOplogMB: 2048, migrationHosts: "vm001.example.com" });
    // preflight only reads
    expect(new Set(emulator.requests.map((r) => r.operation))).toEqual(new Set(["listAvailableProjects"]));
  });

  test("wrong migration host and wrong cluster name are named with what exists", async () => {
    const host = await preflight(pushSpec({ atlasPush: { orgId: ORG_ID, migrationHost: "vm999", dropDestinationData: false, createLinkToken: false } }));
    expect(codes(host.errors)).toEqual(["MIGRATION_HOST_NOT_FOUND"]);
    expect(host.errors[0].message).toMatch(/provisioned: vm001\.example\.com/);
    await emulator.stop();
    const spec = pushSpec();
    spec.source.cloudManager!.clusterName = "rs9";
    const cluster = await preflight(spec);
    expect(codes(cluster.errors)).toEqual(["CLOUD_MANAGER_CLUSTER_NOT_FOUND"]);
    expect(cluster.errors[0].message).toMatch(/clusters: rs0/);
  });

  test("old, rapid-release and low-FCV sources are refused", async () => {
    expect(codes((await preflight(pushSpec(), deployment({ mongoDBVersion: "6.0.5" }))).errors)).toEqual(["SOURCE_VERSION_TOO_OLD"]);
    await emulator.stop();
    expect(codes((await preflight(pushSpec(), deployment({ mongoDBVersion: "7.2.1" }))).errors)).toEqual(["SOURCE_RAPID_RELEASE"]);
    await emulator.stop();
    expect(codes((await preflight(pushSpec(), deployment({ featureCompatibilityVersion: "5.0" }))).errors)).toEqual(["SOURCE_FCV_TOO_LOW"]);
  });

  test("a project Atlas cannot see: an error, or a warning when a link token was asked for", async () => {
    const hidden = await preflight(pushSpec(), null);
    expect(codes(hidden.errors)).toEqual(["CLOUD_MANAGER_PROJECT_NOT_VISIBLE"]);
    expect(hidden.errors[0].action).toMatch(/createLinkToken/);
    await emulator.stop();
    const linking = await preflight(pushSpec({ atlasPush: { orgId: ORG_ID, migrationHost: "vm001.example.com", dropDestinationData: false, createLinkToken: true } }), null);
    expect(linking.ok).toBe(true);
    expect(codes(linking.warnings)).toContain("CLOUD_MANAGER_LINK_PENDING");
  });

  test("spec problems Atlas would reject later are caught up front", async () => {
    const spec = pushSpec({
      namespaces: { include: ["app.*"], exclude: [] },
      verification: "full",
      target: { atlas: { projectId: "6a1b2c3d4e5f6a7b8c9d0e1f", clusterName: "Cluster0", tier: "M0" } },
      atlasPush: {
        orgId: ORG_ID, migrationHost: "vm001.example.com", dropDestinationData: true, createLinkToken: false,
        hostnameSchemaType: "PRIVATE_LINK", sharding: { createSupportingIndexes: true, entries: [] },
      },
    });
    spec.source.cloudManager!.password = undefined;
    spec.source.cloudManager!.caCertificatePath = "certs/ca.pem";
    const report = await preflight(spec);
    expect(codes(report.errors).sort()).toEqual(
      ["NAMESPACE_FILTER_UNSUPPORTED", "PRIVATE_LINK_ID_MISSING", "SHARDING_ENTRIES_MISSING", "SOURCE_PASSWORD_MISSING", "TARGET_TIER_UNSUPPORTED"].sort(),
    );
    expect(codes(report.warnings)).toEqual(expect.arrayContaining(["DROPS_DESTINATION_DATA", "VERIFICATION_BY_ATLAS", "CA_PATH_RELATIVE"]));
    for (const f of [...report.errors, ...report.warnings]) expect(f.action.length).toBeGreaterThan(10);
  });

  test("sharded sources get the role warning; duplicate sharding entries are an error", async () => {
    const spec = pushSpec({
      atlasPush: {
        orgId: ORG_ID, migrationHost: "vm001.example.com", dropDestinationData: false, createLinkToken: false,
        sharding: { createSupportingIndexes: true, entries: [
          { database: "app", collection: "orders", key: [{ userId: 1 }] },
          { database: "app", collection: "orders", key: [{ _id: "hashed" }] },
        ] },
      },
    });
    const report = await preflight(spec, deployment({ sharded: true, shardsSize: 2 }));
    expect(codes(report.errors)).toEqual(["SHARDING_ENTRY_DUPLICATE"]);
    expect(codes(report.warnings)).toEqual(expect.arrayContaining(["SOURCE_SHARDED", "SHARDING_ENTRIES_FOR_SHARDED_SOURCE"]));
    expect(report.facts.sourceSharded).toBe(true);
  });

  test("credential problems are findings, not crashes", async () => {
    const wrong = await preflight(pushSpec(), cloudManagerProject(), { publicKey: API_KEY.publicKey, privateKey: "not-the-right-key" });
    expect(codes(wrong.errors)).toEqual(["ATLAS_CREDENTIALS_REJECTED"]);
    expect(JSON.stringify(wrong)).not.toContain("not-the-right-key");
    const none = await engine.preflight(pushSpec(), makeContext({ credentials: {} }));
    expect(codes(none.errors)).toEqual(["ATLAS_CREDENTIALS_MISSING"]);
    const missing = await engine.preflight(pushSpec({ atlasPush: undefined }), makeContext({ credentials: {} }));
    expect(codes(missing.errors)).toEqual(["ATLAS_PUSH_INPUT_MISSING"]);
  });

  test("an unknown org and a forbidden key are told apart", async () => {
    emulator = await startEmulator();
    const ctx = makeContext({ credentials: { atlas: { baseUrl: emulator.baseUrl, ...API_KEY } } });
    const unknownOrg = await engine.preflight(pushSpec({ atlasPush: { orgId: "aaaaaaaaaaaaaaaaaaaaaaaa", migrationHost: "vm001.example.com", dropDestinationData: false, createLinkToken: false } }), ctx);
    expect(codes(unknownOrg.errors)).toEqual(["ATLAS_ORG_NOT_FOUND"]);
    emulator.injectFault({ operation: "listAvailableProjects", status: 403, detail: "Insufficient permissions." });
    const forbidden = await engine.preflight(pushSpec(), ctx);
    expect(codes(forbidden.errors)).toEqual(["ATLAS_FORBIDDEN"]);
    expect(forbidden.errors[0].message).toMatch(/Organization Owner/);
  });

  test("an Atlas that cannot be reached before the deadline is a finding that says so", async () => {
    emulator = await startEmulator();
    const baseUrl = emulator.baseUrl;
    await emulator.stop();
    const report = await engine.preflight(pushSpec(), makeContext({ deadlineMs: 15_000, credentials: { atlas: { baseUrl, ...API_KEY } } }));
    expect(codes(report.errors)).toEqual(["ATLAS_UNREACHABLE"]);
    expect(report.errors[0].message).toMatch(/could not be reached .*ECONNREFUSED/);
    emulator = await startEmulator(); // afterEach stops it
  });
});
