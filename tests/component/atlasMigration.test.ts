// AtlasMigration under pulumi.runtime.setMocks: which children it creates for each kind of target, how they
// are wired (parents, dependsOn, scopes), which outputs are secret, and what it refuses.
//
// Pattern from pulumi-eks: setMocks in beforeAll, then import the component so it loads after the mocks.
// The Migration dynamic resource is not executed under mocks: the mock answers with state computed from
// its inputs, as a create would (inputs echoed, phase from `cutover`).
import * as pulumi from "@pulumi/pulumi";
import type { AtlasMigration as AtlasMigrationClass, AtlasMigrationArgs } from "../../components/atlasMigration";

interface Registered {
  type: string;
  name: string;
  inputs: Record<string, any>;
}

/** Every resource the mocks saw, and every child's options as the component passed them. */
const registered: Registered[] = [];
const options = new Map<string, { type: string; opts: pulumi.ResourceOptions }>();

const SRV = (cluster: string) => `mongodb+srv://${cluster.toLowerCase()}.abcde.mongodb.net`;

let AtlasMigration: typeof AtlasMigrationClass;

beforeAll(async () => {
  pulumi.runtime.setMocks(
    {
      newResource: (args) => {
        registered.push({ type: args.type, name: args.name, inputs: args.inputs });
        const inputs = args.inputs;
        switch (args.type) {
          case "mongodbatlas:index/project:Project":
            return { id: `${args.name}-0123456789abcdef01234567`.slice(-24), state: inputs };
          case "mongodbatlas:index/advancedCluster:AdvancedCluster":
          case "mongodbatlas:index/flexCluster:FlexCluster":
            return { id: `${args.name}-id`, state: { ...inputs, connectionStrings: { standardSrv: SRV(inputs.name) } } };
          case "pulumi-nodejs:dynamic/atlas-migration:Migration":
            return {
              id: `${args.name}-0123456789ab`,
              state: { ...inputs, migrationId: `${args.name}-0123456789ab`, phase: inputs.cutover ? "COMPLETE" : "READY_FOR_CUTOVER", lagSeconds: 1 },
            };
          default:
            return { id: `${args.name}-id`, state: inputs };
        }
      },
      call: (args) => {
        if (args.token === "mongodbatlas:index/getAdvancedCluster:getAdvancedCluster") {
          return { ...args.inputs, connectionStrings: { standardSrv: SRV(args.inputs.name) } };
        }
        throw new Error(`unexpected invoke ${args.token}`);
      },
    },
    "atlas-migration-test",
    "test",
  );
  ({ AtlasMigration } = await import("../../components/atlasMigration"));
});

/** Records the options of every child (transformations are inherited by the whole subtree). */
const recordChildren: pulumi.ResourceTransformation = (args) => {
  options.set(args.name, { type: args.type, opts: args.opts });
  return undefined;
};

function value<T>(output: pulumi.Input<T>): Promise<T> {
  return new Promise((resolve) => pulumi.output(output).apply((v) => resolve(v as T)));
}

async function isSecret(output: pulumi.Output<unknown>): Promise<boolean> {
  return (await (output as any).isSecret) === true;
}

function unwrapSecrets(v: any): any {
  if (pulumi.runtime.isRpcSecret(v)) return unwrapSecrets(pulumi.runtime.unwrapRpcSecret(v));
  if (Array.isArray(v)) return v.map(unwrapSecrets);
  if (v && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, unwrapSecrets(x)]));
  return v;
}

/** Builds one component and waits until the Migration (which depends on every other child) is registered. */
async function build(name: string, args: AtlasMigrationArgs) {
  const component = new AtlasMigration(name, args, { transformations: [recordChildren] });
  await value(component.migration.urn);
  await value(component.phase);
  const mine = registered.filter((r) => r.name.startsWith(`${name}-`));
  const byType = (suffix: string) => mine.filter((r) => r.type.endsWith(suffix));
  return { component, mine, byType };
}

const SOURCE = { uri: "mongodb://app:src-pw-1@src.example:27017/?replicaSet=rs0" };
const MIGRATION_USER = { username: "migrator", password: "p@ss/w0rd:mig" };

describe("a new project with an M0 cluster", () => {
  let built: Awaited<ReturnType<typeof build>>;
  beforeAll(async () => {
    built = await build("free", {
      project: { orgId: "7a1a2b3c4d5e6f7a8b9c0d1e", name: "shop" },
      source: SOURCE,
      target: { cluster: { name: "Shop0", tier: "M0", provider: "AWS", region: "EU_WEST_1" } },
      migrationUser: MIGRATION_USER,
    });
  });

  test("creates the project and a TENANT AdvancedCluster with the M0 instance size", () => {
    expect(built.byType(":Project").map((r) => r.inputs)).toEqual([{ orgId: "7a1a2b3c4d5e6f7a8b9c0d1e", name: "shop" }]);
    const clusters = built.byType(":AdvancedCluster");
    expect(clusters).toHaveLength(1);
    const region = clusters[0].inputs.replicationSpecs[0].regionConfigs[0];
    expect(region).toMatchObject({ providerName: "TENANT", backingProviderName: "AWS", regionName: "EU_WEST_1", electableSpecs: { instanceSize: "M0" } });
    expect(clusters[0].inputs.mongoDbMajorVersion).toBeUndefined();
    expect(built.byType(":FlexCluster")).toHaveLength(0);
  });

  test("the cluster lives in the created project", async () => {
    const projectId = await value(built.component.projectId);
    expect(built.byType(":AdvancedCluster")[0].inputs.projectId).toBe(projectId);
  });

  test("the Migration targets the M0 by Atlas identifiers, so engine auto picks builtin", () => {
    const [migration] = built.byType(":Migration");
    const target = unwrapSecrets(migration.inputs.target);
    expect(target.atlas).toMatchObject({ clusterName: "Shop0", tier: "M0" });
  });
});

describe("an existing project with a FLEX cluster", () => {
  test("creates a FlexCluster and no project or AdvancedCluster", async () => {
    const built = await build("flex", {
      projectId: "6a1a2b3c4d5e6f7a8b9c0d1e",
      source: SOURCE,
      migrationUser: MIGRATION_USER,
      target: { cluster: { name: "Flexy", tier: "flex", provider: "GCP", region: "CENTRAL_US" } },
    });
    expect(built.byType(":Project")).toHaveLength(0);
    expect(built.byType(":AdvancedCluster")).toHaveLength(0);
    const [flex] = built.byType(":FlexCluster");
    expect(flex.inputs).toMatchObject({
      projectId: "6a1a2b3c4d5e6f7a8b9c0d1e",
      name: "Flexy",
      providerSettings: { backingProviderName: "GCP", regionName: "CENTRAL_US" },
    });
    expect(await value(built.component.clusterName)).toBe("Flexy");
    expect(unwrapSecrets(built.byType(":Migration")[0].inputs.target).atlas.tier).toBe("FLEX");
  });
});

describe("an existing project with a dedicated M10 cluster, users, access list and a migration user", () => {
  let built: Awaited<ReturnType<typeof build>>;
  const args = (cutover: boolean): AtlasMigrationArgs => ({
    projectId: "6a1a2b3c4d5e6f7a8b9c0d1e",
    source: SOURCE,
    target: { cluster: { name: "Orders", tier: "M10", provider: "AWS", region: "US_EAST_1", mongoDbMajorVersion: "8.0", diskSizeGb: 20 } },
    accessList: [
      { cidr: "203.0.113.0/24", comment: "app servers" },
      { ip: "198.51.100.7", comment: "migration host", temporary: true },
    ],
    databaseUsers: [{ username: "app", password: "app-pw-42", roles: [{ roleName: "readWrite", databaseName: "orders" }] }],
    migrationUser: MIGRATION_USER,
    migration: { engine: "builtin", namespaces: { include: ["orders.*"] }, cutover },
  });

  beforeAll(async () => {
    built = await build("dedicated", args(false));
  });

  test("a dedicated AdvancedCluster: provider, 3 electable nodes, version and disk", () => {
    const [cluster] = built.byType(":AdvancedCluster");
    expect(cluster.inputs).toMatchObject({ name: "Orders", clusterType: "REPLICASET", mongoDbMajorVersion: "8.0" });
    expect(cluster.inputs.replicationSpecs[0].regionConfigs[0]).toMatchObject({
      providerName: "AWS",
      regionName: "US_EAST_1",
      electableSpecs: { instanceSize: "M10", nodeCount: 3, diskSizeGb: 20 },
    });
  });

  test("one access-list entry per item while migrating, the temporary one included", () => {
    const entries = built.byType(":ProjectIpAccessList").map((r) => r.inputs);
    expect(entries).toEqual([
      expect.objectContaining({ cidrBlock: "203.0.113.0/24", comment: "app servers", projectId: "6a1a2b3c4d5e6f7a8b9c0d1e" }),
      expect.objectContaining({ ipAddress: "198.51.100.7", comment: "migration host" }),
    ]);
  });

  test("the application's users and the migration user (the builtin custom role, scoped to the cluster)", () => {
    const users = built.byType(":DatabaseUser").map((r) => unwrapSecrets(r.inputs));
    const app = users.find((u) => u.username === "app")!;
    expect(app).toMatchObject({ authDatabaseName: "admin", roles: [{ roleName: "readWrite", databaseName: "orders" }] });
    const migrator = users.find((u) => u.username === "migrator")!;
    const [role] = built.byType(":CustomDbRole");
    expect(migrator.roles).toEqual([{ roleName: role.inputs.roleName, databaseName: "admin" }]);
    // readWriteAnyDatabase has neither of these; the builtin engine needs both.
    const actions = role.inputs.actions.map((a: any) => a.action);
    expect(actions).toEqual(expect.arrayContaining(["BYPASS_DOCUMENT_VALIDATION", "COLL_MOD", "INSERT", "CREATE_INDEX"]));
    expect(migrator.scopes).toEqual([{ name: "Orders", type: "CLUSTER" }]);
    // Passwords are registered as secrets.
    for (const r of built.byType(":DatabaseUser")) expect(pulumi.runtime.isRpcSecret(r.inputs.password)).toBe(true);
  });

  test("the Migration's target uri is secret and holds the percent-encoded migration user", () => {
    const [migration] = built.byType(":Migration");
    expect(pulumi.runtime.isRpcSecret(migration.inputs.target)).toBe(true);
    const target = unwrapSecrets(migration.inputs.target);
    expect(target.uri).toBe(
      `mongodb+srv://migrator:${encodeURIComponent("p@ss/w0rd:mig")}@orders.abcde.mongodb.net/`,
    );
    expect(target.atlas).toEqual({ projectId: "6a1a2b3c4d5e6f7a8b9c0d1e", clusterName: "Orders", tier: "M10" });
    expect(migration.inputs).toMatchObject({ engine: "builtin", cutover: false, namespaces: { include: ["orders.*"] } });
  });

  test("the Migration waits for the cluster, the access list and every user (dependsOn)", async () => {
    const opts = options.get("dedicated-migration")!.opts as pulumi.CustomResourceOptions;
    const deps = (await value(opts.dependsOn as any)) as pulumi.Resource[];
    const names = await Promise.all(deps.map((d) => value(d.urn)));
    const shortNames = names.map((urn) => urn.split("::").pop()).sort();
    expect(shortNames).toEqual(
      [
        "dedicated-access-203.0.113.0/24",
        "dedicated-access-198.51.100.7",
        "dedicated-migration-role",
        "dedicated-migration-user",
        "dedicated-target",
        "dedicated-user-app",
      ].sort(),
    );
  });

  test("every child is parented inside the component", async () => {
    const children = built.mine.filter((r) => !r.name.startsWith("dedicated-cut"));
    expect(children.map((r) => r.type.split(":").pop()).sort()).toEqual(
      ["AdvancedCluster", "CustomDbRole", "DatabaseUser", "DatabaseUser", "Migration", "ProjectIpAccessList", "ProjectIpAccessList", "TargetCluster"],
    );
    for (const { name } of children) {
      const { opts } = options.get(name)!;
      // Walk up the parent chain: it must reach the AtlasMigration named "dedicated".
      let parent = opts.parent;
      const chain: string[] = [];
      while (parent) {
        const urn = await value(parent.urn);
        chain.push(urn.split("::")[2]);
        if (urn.endsWith("::dedicated")) break;
        parent = (parent as any).__parentResource;
      }
      expect(chain[chain.length - 1]).toBe("atlas-migration:index:AtlasMigration");
    }
  });

  test("connectionString is a secret output; phase is readable", async () => {
    expect(await isSecret(built.component.connectionString)).toBe(true);
    expect(await value(built.component.connectionString)).toBe("mongodb+srv://orders.abcde.mongodb.net");
    expect(await isSecret(built.component.phase)).toBe(false);
    expect(await value(built.component.phase)).toBe("READY_FOR_CUTOVER");
  });

  test("with cutover: true the temporary access-list entry is gone and the Migration is asked to cut over", async () => {
    const after = await build("dedicated-cut", args(true));
    const entries = after.byType(":ProjectIpAccessList").map((r) => r.inputs);
    expect(entries).toEqual([expect.objectContaining({ cidrBlock: "203.0.113.0/24" })]);
    expect(after.byType(":Migration")[0].inputs.cutover).toBe(true);
    expect(await value(after.component.phase)).toBe("COMPLETE");
  });
});

describe("an existing cluster", () => {
  test("is looked up, not created, and its tier is passed on", async () => {
    const built = await build("existing", {
      projectId: "6a1a2b3c4d5e6f7a8b9c0d1e",
      source: SOURCE,
      target: { existingClusterName: "Legacy", tier: "m30" },
      migrationUser: MIGRATION_USER,
    });
    expect(built.byType(":AdvancedCluster")).toHaveLength(0);
    expect(built.byType(":FlexCluster")).toHaveLength(0);
    const target = unwrapSecrets(built.byType(":Migration")[0].inputs.target);
    expect(target.atlas).toEqual({ projectId: "6a1a2b3c4d5e6f7a8b9c0d1e", clusterName: "Legacy", tier: "M30" });
    expect(target.uri).toMatch(/^mongodb\+srv:\/\/migrator:.*@legacy\.abcde\.mongodb\.net\/$/);
  });

  test("without a migration user the Migration gets no target uri (atlas-push writes through Atlas)", async () => {
    const built = await build("no-user", {
      projectId: "6a1a2b3c4d5e6f7a8b9c0d1e",
      source: { cloudManager: { groupId: "5f1a2b3c4d5e6f7a8b9c0d1e", clusterName: "legacy" } },
      target: { existingClusterName: "Legacy" },
      migration: { engine: "atlas-push", atlasPush: { orgId: "7a1a2b3c4d5e6f7a8b9c0d1e", migrationHost: "mh" } },
    });
    const target = unwrapSecrets(built.byType(":Migration")[0].inputs.target);
    expect(target.uri).toBeUndefined();
    expect(built.byType(":DatabaseUser")).toHaveLength(0);
  });
});

describe("a sharded target", () => {
  test("one replication spec per shard and clusterType SHARDED", async () => {
    const built = await build("sharded", {
      projectId: "6a1a2b3c4d5e6f7a8b9c0d1e",
      source: SOURCE,
      target: { cluster: { name: "Big", tier: "M30", provider: "AWS", region: "EU_WEST_1", shards: 3 } },
      migrationUser: MIGRATION_USER,
      migration: { engine: "mongosync", mongosync: { urls: ["http://10.0.0.5:27182", "http://10.0.0.6:27182", "http://10.0.0.7:27182"] } },
    });
    const [cluster] = built.byType(":AdvancedCluster");
    expect(cluster.inputs.clusterType).toBe("SHARDED");
    expect(cluster.inputs.replicationSpecs).toHaveLength(3);
    expect(cluster.inputs.replicationSpecs[2].regionConfigs[0].electableSpecs.instanceSize).toBe("M30");
  });

  test("outputs the component passes through: warnings, progress, and a secret linkToken", async () => {
    const built = await build("passthrough", { projectId: "6a1a2b3c4d5e6f7a8b9c0d1e", source: SOURCE, target: { existingClusterName: "X" }, migrationUser: MIGRATION_USER });
    expect(pulumi.Output.isInstance(built.component.warnings)).toBe(true);
    expect(pulumi.Output.isInstance(built.component.progress)).toBe(true);
    expect(await isSecret(built.component.linkToken)).toBe(true);
  });
});

describe("bad arguments fail at construction with a message that says what to do", () => {
  const base = { source: SOURCE, target: { existingClusterName: "X" }, migrationUser: MIGRATION_USER };
  test.each([
    ["both projectId and project", { ...base, projectId: "6a1a2b3c4d5e6f7a8b9c0d1e", project: { orgId: "o", name: "n" } }, /exactly one of projectId .* or project/],
    ["neither projectId nor project", { ...base }, /exactly one of projectId .* or project/],
    ["an access-list entry with cidr and ip", { ...base, projectId: "p", accessList: [{ cidr: "10.0.0.0/8", ip: "10.0.0.1" }] }, /accessList\[0\] needs exactly one of cidr or ip/],
    ["an access-list entry with neither", { ...base, projectId: "p", accessList: [{ comment: "x" }] }, /accessList\[0\] needs exactly one of cidr or ip/],
    ["a sharded M0", { ...base, projectId: "p", target: { cluster: { name: "x", tier: "M0", provider: "AWS", region: "US_EAST_1", shards: 2 } } }, /cannot be sharded/],
  ])("%s", (_title, args, message) => {
    expect(() => new AtlasMigration(`bad-${Math.random().toString(16).slice(2, 8)}`, args as AtlasMigrationArgs)).toThrow(message);
  });
});
