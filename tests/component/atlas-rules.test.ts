// What the component refuses or does because Atlas would (issue 10), and how its children carry the options a
// user sets on the component (issue 7: B4, deletion guard, stable names, migrationUser messages, credentials).
// Runs under pulumi.runtime.setMocks, like atlasMigration.test.ts.
import * as pulumi from "@pulumi/pulumi";
import type { AtlasMigration as AtlasMigrationClass, AtlasMigrationArgs } from "../../components/atlasMigration";
import { checkNewCluster, type NewClusterArgs } from "../../components/targetCluster";
import { migrationRolePlan } from "../../components/migrationRole";

interface Registered {
  type: string;
  name: string;
  inputs: Record<string, any>;
  /** The provider reference the engine would use ("urn::id"), when not the default provider. */
  provider?: string;
}
const registered: Registered[] = [];
const options = new Map<string, pulumi.CustomResourceOptions>();
let AtlasMigration: typeof AtlasMigrationClass;

beforeAll(async () => {
  pulumi.runtime.setMocks(
    {
      newResource: (args) => {
        registered.push({ type: args.type, name: args.name, inputs: args.inputs, provider: args.provider });
        const state: Record<string, any> = { ...args.inputs };
        if (/AdvancedCluster|FlexCluster/.test(args.type)) state.connectionStrings = { standardSrv: `mongodb+srv://${String(args.inputs.name).toLowerCase()}.x.mongodb.net` };
        if (args.type.endsWith(":Migration")) Object.assign(state, { migrationId: `${args.name}-id`, phase: "READY_FOR_CUTOVER" });
        return { id: `${args.name}-id`, state };
      },
      call: (args) => ({ ...args.inputs, connectionStrings: { standardSrv: `mongodb+srv://${String(args.inputs.name).toLowerCase()}.x.mongodb.net` } }),
    },
    "atlas-migration-test",
    "test",
  );
  ({ AtlasMigration } = await import("../../components/atlasMigration"));
});

const record: pulumi.ResourceTransformation = (args) => {
  options.set(args.name, args.opts as pulumi.CustomResourceOptions);
  return undefined;
};

function value<T>(output: pulumi.Input<T>): Promise<T> {
  return new Promise((resolve) => pulumi.output(output).apply((v) => resolve(v as T)));
}

function unwrap(v: any): any {
  if (pulumi.runtime.isRpcSecret(v)) return unwrap(pulumi.runtime.unwrapRpcSecret(v));
  if (Array.isArray(v)) return v.map(unwrap);
  if (v && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, unwrap(x)]));
  return v;
}

let project = 0;
/** A fresh literal project id per component (the M0-per-project rule is tracked per process). */
const nextProject = () => (0x6a1a2b3c4d5e6f7a8b9c0d00 + ++project).toString(16).padStart(24, "0");

async function build(name: string, args: AtlasMigrationArgs | (Omit<AtlasMigrationArgs, "projectId"> & { projectId?: string }), opts: pulumi.ComponentResourceOptions = {}) {
  const component = new AtlasMigration(name, { projectId: args.project ? undefined : nextProject(), ...args } as AtlasMigrationArgs, { ...opts, transformations: [record] });
  await value(component.migration.urn);
  const mine = registered.filter((r) => r.name === name || r.name.startsWith(`${name}-`));
  return { component, mine, byType: (suffix: string) => mine.filter((r) => r.type.endsWith(suffix)) };
}

const SOURCE = { uri: "mongodb://app:pw@src.example:27017/?replicaSet=rs0" };
const USER = { username: "migrator", password: "mig-pw-123" };
const cluster = (over: Partial<NewClusterArgs>): NewClusterArgs => ({ name: "c", tier: "M10", provider: "AWS", region: "US_EAST_1", ...over });

describe("Atlas's cluster rules, checked offline (each cites its Atlas page in targetCluster.ts)", () => {
  test.each([
    ["shards on M10 (Atlas shards only M30+)", cluster({ tier: "M10", shards: 2 }), /shards only M30 and larger clusters, not M10/],
    ["shards on M20", cluster({ tier: "M20", shards: 2 }), /shards only M30/],
    ["M2 (no longer created since February 2025)", cluster({ tier: "M2" }), /no longer creates M2 clusters .* tier: "FLEX"/],
    ["M5", cluster({ tier: "m5" }), /no longer creates M5/],
    ["shards on FLEX (Flex silently drops them)", cluster({ tier: "FLEX", shards: 2 }), /Flex clusters cannot be sharded/],
    ["a version on FLEX", cluster({ tier: "FLEX", mongoDbMajorVersion: "7.0" }), /Flex clusters run the MongoDB version Atlas chooses/],
    ["a version on M0", cluster({ tier: "M0", mongoDbMajorVersion: "7.0" }), /M0 clusters run the MongoDB version Atlas chooses/],
    ["disk size on M0", cluster({ tier: "M0", diskSizeGb: 10 }), /fixed storage size/],
    ["shards on M0", cluster({ tier: "M0", shards: 2 }), /M0 clusters cannot be sharded/],
    ["an unknown tier", cluster({ tier: "large" }), /not an Atlas tier/],
    ["an unknown provider", cluster({ provider: "DIGITALOCEAN" }), /not one Atlas deploys to/],
    ["51 shards", cluster({ tier: "M30", shards: 51 }), /from 1 to 50/],
  ])("refuses %s", (_title, args, message) => {
    const verdict = checkNewCluster(args, false);
    expect(verdict.errors.join("; ")).toMatch(message);
  });

  test.each([
    ["M30 with 3 shards", cluster({ tier: "M30", shards: 3 })],
    ["M10 replica set with a version", cluster({ tier: "M10", mongoDbMajorVersion: "8.0", diskSizeGb: 20 })],
    ["FLEX", cluster({ tier: "FLEX" })],
    ["M0", cluster({ tier: "M0" })],
  ])("accepts %s", (_title, args) => {
    expect(checkNewCluster(args, false).errors).toEqual([]);
  });

  test("M0: what only Atlas can check is named (region offer, one M0 per existing project)", () => {
    const inExisting = checkNewCluster(cluster({ tier: "M0", region: "EU_WEST_1" }), false);
    expect(inExisting.notes.join("\n")).toMatch(/one M0 cluster per project/);
    expect(inExisting.notes.join("\n")).toMatch(/only some AWS regions offer M0 .* EU_WEST_1/);
    expect(checkNewCluster(cluster({ tier: "M0" }), true).notes.join("\n")).not.toMatch(/one M0 cluster per project/);
  });

  test("a second M0 in the same literal project is refused at construction", async () => {
    const projectId = nextProject();
    await build("m0-first", { projectId, source: SOURCE, target: { cluster: cluster({ name: "a", tier: "M0" }) }, migrationUser: USER });
    expect(() => new AtlasMigration("m0-second", { projectId, source: SOURCE, target: { cluster: cluster({ name: "b", tier: "M0" }) }, migrationUser: USER })).toThrow(
      /already gets an M0 cluster in this program, and Atlas allows one M0 per project/,
    );
  });

  test("the component throws the cluster refusal with its name", () => {
    expect(() => new AtlasMigration("bad-shards", { projectId: nextProject(), source: SOURCE, target: { cluster: cluster({ tier: "M20", shards: 2 }) }, migrationUser: USER })).toThrow(
      /^bad-shards-target: Atlas shards only M30/,
    );
  });
});

describe("the target's deletion guard (pulumi destroy never deletes the application's data)", () => {
  test("by default: termination protection on and retainOnDelete on the cluster and the project it made", async () => {
    const built = await build("guarded", { project: { orgId: "7a1a2b3c4d5e6f7a8b9c0d1e", name: "p" }, source: SOURCE, target: { cluster: cluster({ name: "G" }) }, migrationUser: USER });
    const [c] = built.byType(":AdvancedCluster");
    expect(c.inputs.terminationProtectionEnabled).toBe(true);
    expect(options.get("guarded-target-cluster")!.retainOnDelete).toBe(true);
    expect(options.get("guarded-project")!.retainOnDelete).toBe(true);
  });

  test("FLEX: termination protection on too", async () => {
    const built = await build("guarded-flex", { source: SOURCE, target: { cluster: cluster({ name: "F", tier: "FLEX" }) }, migrationUser: USER });
    expect(built.byType(":FlexCluster")[0].inputs.terminationProtectionEnabled).toBe(true);
    expect(options.get("guarded-flex-target-flex")!.retainOnDelete).toBe(true);
  });

  test("deletionProtection: false lets destroy delete a throw-away target", async () => {
    const built = await build("unguarded", { project: { orgId: "7a1a2b3c4d5e6f7a8b9c0d1e", name: "p" }, source: SOURCE, target: { cluster: cluster({ name: "U", deletionProtection: false }) }, migrationUser: USER });
    expect(built.byType(":AdvancedCluster")[0].inputs.terminationProtectionEnabled).toBe(false);
    expect(options.get("unguarded-target-cluster")!.retainOnDelete).toBeUndefined();
    expect(options.get("unguarded-project")!.retainOnDelete).toBeUndefined();
  });
});

describe("protect / retainOnDelete on the component (B4)", () => {
  const args = (cutover: boolean): AtlasMigrationArgs => ({
    projectId: "6b1a2b3c4d5e6f7a8b9c0d1e",
    source: SOURCE,
    target: { existingClusterName: "Existing" },
    accessList: [
      { cidr: "203.0.113.0/24", comment: "app" },
      { cidr: "0.0.0.0/0", comment: "allow-all while migrating", temporary: true },
    ],
    migrationUser: USER,
    migration: { engine: "builtin", cutover },
  });

  test("temporary entries, the migration user and its role are never protected nor retained; the app's entry inherits protect", async () => {
    await build("b4", args(false), { protect: true, retainOnDelete: true } as pulumi.ComponentResourceOptions);
    for (const child of ["b4-access-0.0.0.0/0", "b4-migration-user", "b4-migration-role"]) {
      expect({ child, protect: options.get(child)!.protect, retainOnDelete: options.get(child)!.retainOnDelete }).toEqual({ child, protect: false, retainOnDelete: false });
    }
    expect(options.get("b4-access-203.0.113.0/24")!.protect).toBeUndefined(); // inherited from the component by the SDK
    // The Migration is never retained: destroy before COMPLETE must stop the sync.
    expect(options.get("b4-migration")!.retainOnDelete).toBe(false);
  });

  test("with cutover: true the migration user and its role leave the program with the temporary entry; the Migration still gets the credentials", async () => {
    const built = await build("b4cut", args(true));
    expect(built.byType(":DatabaseUser")).toHaveLength(0);
    expect(built.byType(":CustomDbRole")).toHaveLength(0);
    expect(built.byType(":ProjectIpAccessList").map((r) => r.inputs.cidrBlock)).toEqual(["203.0.113.0/24"]);
    const target = unwrap(built.byType(":Migration")[0].inputs.target);
    expect(target.uri).toMatch(/^mongodb\+srv:\/\/migrator:mig-pw-123@existing\.x\.mongodb\.net\/$/);
    expect(built.byType(":Migration")[0].inputs.dropsAtCutover).toEqual({ temporaryAccessEntries: 1, accessEntries: ["0.0.0.0/0"], migrationUser: true });
  });
});

describe("children named by stable keys, with aliases to the old positional names", () => {
  test("access entries by address and users by username; each keeps its old positional name as an alias", async () => {
    await build("keys", {
      source: SOURCE,
      target: { existingClusterName: "X" },
      accessList: [{ cidr: "10.1.0.0/16" }, { ip: "2001:db8::1" }],
      databaseUsers: [{ username: "app", password: "app-pw-1", roles: [{ roleName: "readWrite", databaseName: "shop" }] }],
      migrationUser: USER,
    });
    expect(options.get("keys-access-10.1.0.0/16")!.aliases).toEqual([{ name: "keys-access-0" }]);
    // ":" would break the URN: IPv6 addresses are named with "-".
    expect(options.get("keys-access-2001-db8--1")!.aliases).toEqual([{ name: "keys-access-1" }]);
    expect(options.get("keys-user-app")!.aliases).toEqual([{ name: "keys-user-0" }]);
    expect(options.get("keys-migration-user")!.aliases).toEqual([{ name: "keys-migration-user-0" }]);
  });

  test("removing the first entry renames no other child", async () => {
    const list = [{ cidr: "10.1.0.0/16" }, { cidr: "10.2.0.0/16" }, { cidr: "10.3.0.0/16" }];
    const before = await build("rename-a", { source: SOURCE, target: { existingClusterName: "X" }, accessList: list, migrationUser: USER });
    const after = await build("rename-b", { source: SOURCE, target: { existingClusterName: "X" }, accessList: list.slice(1), migrationUser: USER });
    const names = (b: typeof before, prefix: string) => b.byType(":ProjectIpAccessList").map((r) => r.name.slice(prefix.length));
    expect(names(after, "rename-b")).toEqual(names(before, "rename-a").slice(1));
  });

  test("an Output address without a key keeps its positional name (no alias needed)", async () => {
    await build("computed", { source: SOURCE, target: { existingClusterName: "X" }, accessList: [{ cidr: pulumi.output("10.9.0.0/16") }], migrationUser: USER });
    expect(options.get("computed-access-0")).toBeDefined();
  });

  test("duplicates are refused in the user's terms", () => {
    expect(() => new AtlasMigration("dup", { projectId: nextProject(), source: SOURCE, target: { existingClusterName: "X" }, accessList: [{ ip: "1.2.3.4" }, { ip: "1.2.3.4" }], migrationUser: USER })).toThrow(
      /accessList\[0\] and accessList\[1\] are both "1.2.3.4"/,
    );
    const u = { username: "app", password: "p", roles: [] };
    expect(() => new AtlasMigration("dupu", { projectId: nextProject(), source: SOURCE, target: { existingClusterName: "X" }, databaseUsers: [u, u], migrationUser: USER })).toThrow(
      /databaseUsers\[0\] and databaseUsers\[1\] are both "app"/,
    );
  });
});

describe("users wait for the cluster", () => {
  test("an app user scoped to the cluster by a literal name depends on the target", async () => {
    await build("scoped", {
      source: SOURCE,
      target: { cluster: cluster({ name: "Shop" }) },
      databaseUsers: [{ username: "app", password: "app-pw-1", roles: [{ roleName: "readWrite", databaseName: "shop" }], clusters: ["Shop"] }],
      migrationUser: USER,
    });
    const deps = (await value(options.get("scoped-user-app")!.dependsOn as any)) as pulumi.Resource[];
    const urns = await Promise.all(deps.map((d) => value(d.urn)));
    expect(urns.map((u) => u.split("::").pop())).toEqual(["scoped-target"]);
  });
});

describe("the migration user's role, per engine", () => {
  test("builtin: a custom role with bypassDocumentValidation and collMod, no atlasAdmin", () => {
    const plan = migrationRolePlan("builtin");
    expect(plan.builtInRoles).toEqual([]);
    const actions = plan.customRole!.actions.map((a) => a.action);
    expect(actions).toEqual(expect.arrayContaining(["BYPASS_DOCUMENT_VALIDATION", "COLL_MOD", "RENAME_COLLECTION_SAME_DB", "DROP_DATABASE"]));
  });

  test("mongosync: atlasAdmin plus bypassWriteBlockingMode (BYPASS_USER_WRITE_BLOCK on the cluster)", async () => {
    const built = await build("ms", {
      source: SOURCE,
      target: { cluster: cluster({ name: "Big", tier: "M30", shards: 2 }) },
      migrationUser: USER,
      migration: { mongosync: { urls: ["http://10.0.0.5:27182", "http://10.0.0.6:27182"] } },
    });
    const [user] = built.byType(":DatabaseUser").map((r) => unwrap(r.inputs));
    expect(user.roles).toEqual([{ roleName: "atlasAdmin", databaseName: "admin" }, { roleName: built.byType(":CustomDbRole")[0].inputs.roleName, databaseName: "admin" }]);
    expect(built.byType(":CustomDbRole")[0].inputs.actions).toEqual([{ action: "BYPASS_USER_WRITE_BLOCK", resources: [{ cluster: true }] }]);
  });

  test("atlas-push: no migration user at all (Atlas uses its own)", async () => {
    const built = await build("push", {
      source: { cloudManager: { groupId: "5f1a2b3c4d5e6f7a8b9c0d1e", clusterName: "legacy" } },
      target: { existingClusterName: "X" },
      migrationUser: USER,
      migration: { atlasPush: { orgId: "7a1a2b3c4d5e6f7a8b9c0d1e", migrationHost: "mh" } },
    });
    expect(built.byType(":DatabaseUser")).toHaveLength(0);
    expect(built.byType(":CustomDbRole")).toHaveLength(0);
  });
});

describe("messages in the component user's terms", () => {
  test("builtin without migrationUser names migrationUser, never target.uri", () => {
    let message = "";
    try {
      new AtlasMigration("nouser", { projectId: nextProject(), source: SOURCE, target: { existingClusterName: "X" } });
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toMatch(/^nouser: the builtin engine writes into the Atlas cluster as a database user, and migrationUser is not set/);
    expect(message).not.toMatch(/target\.uri/);
  });

  test("after the cutover, migrationUser may be removed: the component builds, the Migration is told who declared it", async () => {
    const built = await build("removed", { source: SOURCE, target: { existingClusterName: "X" }, migration: { cutover: true } });
    const [m] = built.byType(":Migration");
    expect(unwrap(m.inputs.target).uri).toBeUndefined();
    expect(m.inputs.declaredBy).toBe("AtlasMigration removed");
    // No databaseUsers: the Migration is told the program declares none, so preflight names every source user.
    expect(m.inputs.declaredUsers).toEqual([]);
  });

  test("the Migration learns which database users the program declares (user@authDb), for preflight's undeclared-user warnings", async () => {
    const built = await build("declared", {
      source: SOURCE,
      target: { existingClusterName: "X" },
      migrationUser: USER,
      databaseUsers: [
        { username: "app", password: "app-pw-1", roles: [{ roleName: "readWrite", databaseName: "shop" }] },
        { username: "etl", password: "etl-pw-1", authDatabaseName: "admin", roles: [{ roleName: "read", databaseName: "shop" }] },
      ],
    });
    expect(built.byType(":Migration")[0].inputs.declaredUsers).toEqual(["app@admin", "etl@admin"]);
  });
});

describe("credentials for an explicit provider reach the Migration", () => {
  test("atlasCredentials configure a provider for the Atlas children and reach the Migration as a secret", async () => {
    const built = await build("creds", {
      source: SOURCE,
      target: { cluster: cluster({ name: "C" }) },
      migrationUser: USER,
      atlasCredentials: { publicKey: "pub-key", privateKey: "priv-key-secret", baseUrl: "http://127.0.0.1:1" },
    });
    const provider = registered.find((r) => r.name === "creds-atlas")!;
    expect(provider.type).toBe("pulumi:providers:mongodbatlas");
    for (const child of ["creds-target-cluster", "creds-migration-user", "creds-migration-role"]) {
      expect(registered.find((r) => r.name === child)!.provider).toMatch(/pulumi:providers:mongodbatlas::creds-atlas::/);
    }
    const [m] = built.byType(":Migration");
    expect(pulumi.runtime.isRpcSecret(m.inputs.atlasCredentials)).toBe(true);
    expect(unwrap(m.inputs.atlasCredentials)).toEqual({ publicKey: "pub-key", privateKey: "priv-key-secret", baseUrl: "http://127.0.0.1:1" });
  });

  test("with a provider passed in the options, the component uses it and creates none", async () => {
    const mine = new (await import("@pulumi/mongodbatlas")).Provider("explicit", { publicKey: "k", privateKey: "s" });
    await build("passed", { source: SOURCE, target: { existingClusterName: "X" }, migrationUser: USER, atlasCredentials: { publicKey: "k", privateKey: "s" } }, { providers: [mine] });
    expect(registered.find((r) => r.name === "passed-atlas")).toBeUndefined();
  });
});
