// check and diff run during `pulumi preview`, when inputs computed from other resources are not known yet:
// Pulumi then sends the magic string pulumi.runtime.unknownValue in their place, whatever the declared type.
// Every leaf and every subtree of several valid inputs is replaced by it (one at a time, then random sets),
// and check must report no failure and diff must not throw.
import * as pulumi from "@pulumi/pulumi";
import * as runtime from "../../provider/runtime";

const UNKNOWN = pulumi.runtime.unknownValue;

const VALID: Record<string, Record<string, any>> = {
  builtin: {
    engine: "builtin",
    resourceName: "orders",
    providerVersion: "0.1.0",
    source: { uri: "mongodb://app:pw-1@src1.example:27017,src2.example:27017/?replicaSet=rs0" },
    target: {
      uri: "mongodb+srv://migrator:pw-2@orders.abcde.mongodb.net",
      atlas: { projectId: "6a1a2b3c4d5e6f7a8b9c0d1e", clusterName: "orders", tier: "M10" },
    },
    namespaces: { include: ["shop.*", "crm.customers"], exclude: ["shop.tmp"] },
    cutover: false,
    verificationMode: "full",
    writeBlocking: { mode: "readOnlyUsers", readOnlyUsers: ["app@admin"], quietSeconds: 20 },
    timeouts: { createMinutes: 5, cutoverMinutes: 10, pollSeconds: 2, readyLagSeconds: 5 },
    builtin: { batchBytes: 1048576, parallelCollections: 2, partitionDocuments: 50000, replayBatchSize: 200, detachedWorker: false },
  },
  mongosync: {
    engine: "mongosync",
    resourceName: "sync",
    source: { uri: "mongodb://app:pw-1@src1.example:27017/?replicaSet=rs0" },
    target: { uri: "mongodb+srv://migrator:pw-2@orders.abcde.mongodb.net" },
    cutover: true,
    mongosync: {
      urls: ["http://10.0.0.5:27182", "http://10.0.0.6:27182"],
      reversible: false,
      enableVerification: true,
      version: "1.19.0",
      sharding: { createSupportingIndexes: true, entries: [{ database: "shop", collection: "orders", key: [{ userId: 1 }] }] },
    },
  },
  atlasPush: {
    engine: "atlas-push",
    resourceName: "push",
    source: {
      cloudManager: {
        groupId: "5f1a2b3c4d5e6f7a8b9c0d1e",
        clusterName: "legacy",
        username: "cm",
        password: "pw-3",
        ssl: true,
        managedAuthentication: false,
      },
    },
    target: { atlas: { projectId: "6a1a2b3c4d5e6f7a8b9c0d1e", clusterName: "orders", tier: "M30" } },
    atlasPush: {
      orgId: "7a1a2b3c4d5e6f7a8b9c0d1e",
      migrationHost: "mh.example",
      dropDestinationData: false,
      createLinkToken: true,
      linkTokenAccessListIps: ["203.0.113.7"],
      hostnameSchemaType: "PUBLIC",
    },
  },
  autoOnM0: {
    source: { uri: "mongodb://app:pw-1@src.example:27017/?replicaSet=rs0" },
    target: { uri: "mongodb+srv://migrator:pw-2@free.abcde.mongodb.net", atlas: { projectId: "6a1a2b3c4d5e6f7a8b9c0d1e", clusterName: "free", tier: "M0" } },
  },
};

type Path = Array<string | number>;

/** Every path to a leaf or a subtree (objects and arrays), depth first. */
function allPaths(value: unknown, prefix: Path = []): Path[] {
  const out: Path[] = [];
  if (Array.isArray(value)) value.forEach((v, i) => out.push([...prefix, i], ...allPaths(v, [...prefix, i])));
  else if (value && typeof value === "object")
    for (const [k, v] of Object.entries(value)) out.push([...prefix, k], ...allPaths(v, [...prefix, k]));
  return out;
}

function replaceAt(value: any, path: Path, replacement: unknown): any {
  if (path.length === 0) return replacement;
  if (value === null || typeof value !== "object") throw new Error(`no ${String(path[0])} inside ${JSON.stringify(value)}`);
  const copy = Array.isArray(value) ? [...value] : { ...value };
  copy[path[0] as any] = replaceAt(value[path[0] as any], path.slice(1), replacement);
  return copy;
}

/** Outputs as a create would have stored them for these inputs. */
function storedOutputs(inputs: Record<string, any>, phase = "READY_FOR_CUTOVER"): Record<string, any> {
  return {
    ...inputs,
    __provider: "provider-text",
    migrationId: `${inputs.resourceName ?? "migration"}-0123456789ab`,
    engine: inputs.engine ?? "builtin",
    requestedEngine: inputs.engine ?? null,
    phase,
    lagSeconds: 1,
    startedAt: "2026-11-25T12:00:00.000Z",
    cutoverCompletedAt: phase === "COMPLETE" ? "2026-11-25T13:00:00.000Z" : null,
    verification: null,
    warnings: [],
    reason: null,
    progress: null,
    handle: { engine: inputs.engine ?? "builtin", id: "h-1", startedAt: "2026-11-25T12:00:00.000Z", data: {} },
    linkToken: null,
  };
}

/** A small deterministic PRNG (mulberry32), so a failing random case can be reproduced from its seed. */
function prng(seed: number): () => number {
  return () => {
    seed |= 0;
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const label = (p: Path) => p.map((k) => (typeof k === "number" ? `[${k}]` : `.${k}`)).join("").slice(1);

describe.each(Object.entries(VALID))("unknown values in %s inputs", (_name, valid) => {
  const news = (v: Record<string, any>) => ({ ...v, __provider: "provider-text" });

  test("precondition: the inputs are valid", () => {
    expect(runtime.check({}, news(valid)).failures).toEqual([]);
  });

  const paths = allPaths(valid);
  test.each(paths.map((p) => [label(p), p] as const))("%s unknown: check passes, diff answers", (_l, path) => {
    const previewed = replaceAt(valid, path, UNKNOWN);
    expect(runtime.check({}, news(previewed)).failures).toEqual([]);
    expect(runtime.check(valid, news(previewed)).failures).toEqual([]);
    for (const phase of ["READY_FOR_CUTOVER", "COMPLETE", "CUTTING_OVER"]) {
      // Once a cutover started, the program says cutover: true (false would be a real error, tested below).
      const base = phase === "READY_FOR_CUTOVER" ? valid : { ...valid, cutover: true };
      const olds = storedOutputs(base, phase);
      const result = runtime.diff("id", olds, news(replaceAt(base, path, UNKNOWN)));
      expect(typeof result.changes).toBe("boolean");
      expect(Array.isArray(result.replaces)).toBe(true);
    }
  });

  test("random sets of unknown leaves and subtrees (seeded)", () => {
    for (let seed = 1; seed <= 60; seed++) {
      const random = prng(seed);
      let previewed: any = valid;
      const chosen = paths.filter(() => random() < 0.25);
      for (const p of chosen) {
        try {
          previewed = replaceAt(previewed, p, UNKNOWN);
        } catch {
          /* a parent was already replaced by the unknown string */
        }
      }
      const failures = runtime.check({}, news(previewed)).failures;
      if (failures.length) throw new Error(`seed ${seed}, unknown at ${chosen.map(label).join(", ")}: ${JSON.stringify(failures)}`);
      expect(() => runtime.diff("id", storedOutputs(valid), news(previewed))).not.toThrow();
    }
  });
});

test("a cutover that is unknown in preview never trips the 'cannot undo COMPLETE' rule", () => {
  const olds = storedOutputs({ ...VALID.builtin, cutover: true }, "COMPLETE");
  expect(() => runtime.diff("id", olds, { ...VALID.builtin, cutover: UNKNOWN, __provider: "p" })).not.toThrow();
  // …while a known false still does (so the tolerance is not a blanket catch).
  expect(() => runtime.diff("id", olds, { ...VALID.builtin, cutover: false, __provider: "p" })).toThrow(/cannot be undone/);
});
