// Shared set-up for the builtin engine tests: two MemoryClusters on the test's virtual clock, a spec that
// points at them, and an independent comparison of source and target (not the engine's own verifier).
import { createHash } from "crypto";
import { BSON, type Document, type ObjectId } from "mongodb";
import { MemoryCluster } from "../../../testing/memory-cluster";
import type { ClusterPort, Namespace } from "../../../provider/cluster/port";
import { createBuiltinEngine, type BuiltinEngine, type BuiltinEngineOptions } from "../../../provider/engines/builtin";
import type { MigrationSpec } from "../../../provider/engines/engine";
import { makeContext, type TestContext } from "../../support/context";
import { makeSpec } from "../../support/spec";

let counter = 0;

export interface Rig {
  ctx: TestContext;
  source: MemoryCluster;
  target: MemoryCluster;
  spec: MigrationSpec;
  engine: BuiltinEngine;
  makeEngine(options?: BuiltinEngineOptions): BuiltinEngine;
}

export function rig(
  opts: {
    spec?: Partial<MigrationSpec>;
    builtin?: Partial<MigrationSpec["builtin"]>;
    engine?: BuiltinEngineOptions;
    source?: ConstructorParameters<typeof MemoryCluster>[0];
    target?: ConstructorParameters<typeof MemoryCluster>[0];
    deadlineMs?: number;
  } = {},
): Rig {
  const ctx = makeContext({ deadlineMs: opts.deadlineMs });
  const n = ++counter;
  // The clusters live on the test's virtual clock, and a change stream's await passes on it too.
  const source = MemoryCluster.create(`src-${n}`, { now: ctx.now, sleep: ctx.sleep, ...(opts.source ?? {}) });
  const target = MemoryCluster.create(`dst-${n}`, { now: ctx.now, sleep: ctx.sleep, ...(opts.target ?? {}) });
  const base = makeSpec({ source: { uri: `memory://src-${n}` }, target: { uri: `memory://dst-${n}` }, ...(opts.spec ?? {}) });
  const spec: MigrationSpec = { ...base, migrationId: `mig-${n}`, builtin: { ...base.builtin, ...(opts.builtin ?? {}) } };
  const makeEngine = (o: BuiltinEngineOptions = {}) => createBuiltinEngine({ ...opts.engine, ...o });
  return { ctx, source, target, spec, engine: makeEngine(), makeEngine };
}

/** Documents of a collection exactly as stored (no number promotion), in `_id` order. */
export async function exactDocs(cluster: MemoryCluster, ns: Namespace): Promise<Document[]> {
  const port: ClusterPort = cluster.connect();
  const out: Document[] = [];
  for await (const batch of port.scan(ns, {}, 500)) out.push(...batch);
  await port.close();
  return out;
}

export interface Comparison {
  sourceCount: number;
  targetCount: number;
  lost: number;
  duplicated: number;
  differing: number;
  extra: number;
  sourceHash: string;
  targetHash: string;
}

function hashOf(docs: Document[]): string {
  const h = createHash("sha256");
  for (const d of docs) h.update(bytesOf(d));
  return h.digest("hex");
}

function key(id: unknown): string {
  return Buffer.from(BSON.serialize({ id })).toString("hex");
}

/** A collection's documents as stored: decoded (exact types) for their `_id`s, re-encoded from the stored bytes. */
async function storedDocs(cluster: MemoryCluster, ns: Namespace): Promise<Document[]> {
  const port: ClusterPort = cluster.connect();
  const out: Document[] = [];
  for await (const batch of port.scan(ns, {}, 500)) {
    // Compared by the bytes each side stores (ScanBatch.stored), not by what the decoded document re-encodes to:
    // js-bson rewrites DBPointer, duplicate names and DBRef order on the way (provider/cluster/raw-bson.ts).
    batch.forEach((doc, i) => out.push(Object.defineProperty(doc, STORED, { value: batch.stored![i], enumerable: false })));
  }
  await port.close();
  return out;
}

const STORED = Symbol("stored bytes");

function bytesOf(doc: Document): Uint8Array {
  return (doc as { [STORED]?: Uint8Array })[STORED] ?? BSON.serialize(doc);
}

/** Counts lost, duplicated, differing and extra documents between source and target for one collection. */
export async function compare(source: MemoryCluster, target: MemoryCluster, ns: Namespace): Promise<Comparison> {
  const s = await storedDocs(source, ns);
  const t = await storedDocs(target, ns);
  const targetById = new Map<string, Document[]>();
  for (const d of t) targetById.set(key(d._id), [...(targetById.get(key(d._id)) ?? []), d]);
  let lost = 0;
  let differing = 0;
  const sourceIds = new Set<string>();
  for (const d of s) {
    sourceIds.add(key(d._id));
    const match = targetById.get(key(d._id));
    if (!match) lost++;
    else if (!Buffer.from(bytesOf(match[0])).equals(bytesOf(d))) differing++;
  }
  let duplicated = 0;
  let extra = 0;
  for (const [k, docs] of targetById) {
    duplicated += docs.length - 1;
    if (!sourceIds.has(k)) extra++;
  }
  return {
    sourceCount: s.length,
    targetCount: t.length,
    lost,
    duplicated,
    differing,
    extra,
    sourceHash: hashOf(s),
    targetHash: hashOf(t),
  };
}

export function expectIdentical(c: Comparison): void {
  expect({ lost: c.lost, duplicated: c.duplicated, differing: c.differing, extra: c.extra }).toEqual({
    lost: 0,
    duplicated: 0,
    differing: 0,
    extra: 0,
  });
  expect(c.targetCount).toBe(c.sourceCount);
  expect(c.targetHash).toBe(c.sourceHash);
}

export async function seed(cluster: MemoryCluster, db: string, coll: string, count: number, make: (i: number) => Document = (i) => ({ _id: i, n: i, s: `doc-${i}` })): Promise<void> {
  const docs = Array.from({ length: count }, (_, i) => make(i));
  for (let i = 0; i < docs.length; i += 1000) await cluster.db(db).collection(coll).insertMany(docs.slice(i, i + 1000));
}

/** start + advance until READY_FOR_CUTOVER (or a terminal phase); returns the last status. */
export async function syncUntilReady(r: Rig, engine: BuiltinEngine = r.engine) {
  const handle = await engine.start(r.spec, r.ctx);
  let status = await engine.advance(r.spec, handle, r.ctx);
  for (let i = 0; i < 20 && status.phase !== "READY_FOR_CUTOVER" && status.phase !== "FAILED"; i++) {
    status = await engine.advance(r.spec, handle, r.ctx);
  }
  return { handle, status };
}

/** A schema for seeding and checking collections whose `_id`s are numbers, strings, anything. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyDoc = { _id: number | string | ObjectId; [key: string]: any };

/**
 * An engine `open` over the rig's MemoryClusters whose target connections `patch` may change (wrap bulkWrite,
 * checkpoints, …) before the engine gets them; source connections are left as they are.
 */
export function openPatchingTarget(r: Rig, patch: (port: ClusterPort) => void): (uri: string) => Promise<ClusterPort> {
  return async (uri) => {
    const port = MemoryCluster.resolve(uri).connect();
    if (uri === r.spec.target.uri) patch(port);
    return port;
  };
}
