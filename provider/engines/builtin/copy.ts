// Initial copy: collections with their options, then documents in `_id` partitions copied in parallel with
// batches bounded by bytes, then views, then indexes. Every write is `replaceOne({_id}, doc, {upsert})`, so
// copying a range twice (after a crash, or a retry) leaves exactly one copy of each document.
//
// Resuming: each partition stores the last `_id` it wrote; a restart scans from just after it. At most one
// batch per partition is re-copied.
//
// Index policy (why): secondary indexes are built after the data (faster, no per-document index upkeep);
// TTL indexes are built inert (expireAfterSeconds = 2^31-1) so the target does not expire documents the
// source still has, and get their real value at cutover; unique indexes are built at cutover, after the
// drain, because replaying a change stream can pass through states that break uniqueness transiently.
import { BSON, type Document } from "mongodb";
import type { CollectionInfo, IndexSpec, Namespace, WriteOperation } from "../../cluster/port";
import type { RunEnv } from "./env";
import { isSystemCollection, nsString } from "./namespaces";
import { backoffMs, DEFAULT_RETRY, isRetryable, withRetry } from "./retry";
import { decodeBson, encodeBson, type PartitionState, type PlannedCollection } from "./state";

/**
 * Every write to the target skips validators: documents are carried as the source stores them, even ones the
 * collection's validator would reject now (added later, or validationLevel moderate). It needs the
 * bypassDocumentValidation action, which preflight checks (privileges.ts).
 */
export const CARRY_AS_STORED = { bypassDocumentValidation: true } as const;

/** expireAfterSeconds of a TTL index while the sync runs: about 68 years, i.e. never. */
export const INERT_TTL_SECONDS = 2147483647;
/** Upper bound on partitions per collection. */
const MAX_PARTITIONS = 64;

export type CopyOutcome = "done" | "stopped";

/** The source collections (not views) and views this migration carries, fresh from the source. */
export async function includedSourceCollections(env: RunEnv): Promise<CollectionInfo[]> {
  const all = await withRetry("listCollections", env.ctx, () => env.source.listCollections());
  return all.filter((c) => c.kind !== "timeseries" && env.matcher.includes(c.db, c.name) && !isSystemCollection(c.name));
}

export function toNamespace(c: { db: string; name?: string; coll?: string }): Namespace {
  return { db: c.db, coll: (c.name ?? c.coll) as string };
}

async function planCopy(env: RunEnv): Promise<void> {
  const { spec, source } = env;
  const infos = await includedSourceCollections(env);
  const planned: PlannedCollection[] = [];
  for (const info of infos) {
    const ns = toNamespace(info);
    if (info.kind === "view") {
      planned.push({ db: info.db, coll: info.name, kind: "view", partitions: 0, documents: 0, bytes: 0 });
      continue;
    }
    const stats = await withRetry("collStats", env.ctx, () => source.collectionStats(ns));
    const parts =
      stats.count > spec.builtin.partitionDocuments
        ? Math.min(MAX_PARTITIONS, Math.ceil(stats.count / spec.builtin.partitionDocuments))
        : 1;
    const bounds = parts > 1 ? await withRetry("splitPoints", env.ctx, () => source.splitPoints(ns, parts)) : [];
    const name = nsString(ns);
    // bounds.length + 1 partitions: [-inf, b0), [b0, b1), …, [bn-1, +inf)
    for (let i = 0; i <= bounds.length; i++) {
      const p: PartitionState = { ns: name, index: i, done: false, documents: 0, bytes: 0 };
      if (i > 0) p.from = encodeBson(bounds[i - 1]);
      if (i < bounds.length) p.before = encodeBson(bounds[i]);
      await env.session.putPartition(p);
    }
    planned.push({
      db: info.db,
      coll: info.name,
      kind: "collection",
      partitions: bounds.length + 1,
      documents: stats.count,
      bytes: stats.sizeBytes,
    });
  }
  const skipped = (await source.listCollections()).filter(
    (c) => c.kind === "timeseries" && env.matcher.includes(c.db, c.name),
  );
  await env.session.update((s) => {
    s.copy.planned = true;
    s.copy.collections = planned;
    s.copy.totalDocuments = planned.reduce((n, c) => n + c.documents, 0);
    s.copy.totalBytes = planned.reduce((n, c) => n + c.bytes, 0);
    for (const ts of skipped) {
      const w = `time-series collection ${ts.db}.${ts.name} was NOT copied (not supported by the builtin engine); move it with mongodump/mongorestore`;
      if (!s.warnings.includes(w)) s.warnings.push(w);
    }
  });
  env.log(
    `copy planned: ${planned.filter((c) => c.kind === "collection").length} collections, ` +
      `${planned.filter((c) => c.kind === "view").length} views, ${env.session.state.copy.totalDocuments} documents`,
  );
}

/** Collection options as the target should get them now (clustered TTL left off; see preflight warning). */
function optionsForCreate(info: CollectionInfo): Document {
  const options = { ...info.options };
  if (options.clusteredIndex && options.expireAfterSeconds !== undefined) delete options.expireAfterSeconds;
  return options;
}

/** Creates collections (with options) and then views on the target. Idempotent. */
export async function createCollectionsAndViews(env: RunEnv, infos: CollectionInfo[]): Promise<void> {
  for (const info of infos.filter((c) => c.kind === "collection")) {
    await withRetry("createCollection", env.ctx, () =>
      env.target.createCollection({ ...info, options: optionsForCreate(info), indexes: [] }),
    );
  }
  for (const info of infos.filter((c) => c.kind === "view")) {
    await withRetry("createView", env.ctx, () => env.target.createCollection({ ...info, indexes: [] }));
  }
}

/** Index specs to build while syncing: no `_id_`/clustered, no unique (built at cutover), TTL made inert. */
export function indexesDuringSync(indexes: IndexSpec[]): IndexSpec[] {
  return indexes
    .filter((ix) => ix.name !== "_id_" && !ix.options.clustered && !ix.options.unique)
    .map((ix) =>
      ix.options.expireAfterSeconds !== undefined
        ? { ...ix, options: { ...ix.options, expireAfterSeconds: INERT_TTL_SECONDS } }
        : ix,
    );
}

export async function buildSyncIndexes(env: RunEnv, infos: CollectionInfo[]): Promise<void> {
  for (const info of infos.filter((c) => c.kind === "collection")) {
    const indexes = indexesDuringSync(info.indexes);
    if (indexes.length === 0) continue;
    await withRetry("createIndexes", env.ctx, () => env.target.createIndexes(toNamespace(info), indexes));
  }
}

/**
 * The write that makes the target's copy of `doc` exactly `doc`, whether or not it exists there. A replacement
 * document may not hold top-level `$`-prefixed fields (MongoDB 5.0+ stores them, but refuses them in a
 * replacement: DollarPrefixedFieldName, docs core/dot-dollar-considerations), so such documents are written
 * with an update pipeline that sets the whole document literally.
 */
export function overwriteOp(doc: Document): WriteOperation {
  if (Object.keys(doc).some((k) => k.startsWith("$"))) {
    return { updateOne: { filter: { _id: doc._id }, update: [{ $replaceWith: { $literal: doc } }], upsert: true } };
  }
  return { replaceOne: { filter: { _id: doc._id }, replacement: doc, upsert: true } };
}

/** True when the document holds the deprecated BSON undefined type anywhere (read by the driver as `undefined`). */
export function holdsUndefined(value: unknown): boolean {
  if (value === undefined) return true;
  if (Array.isArray(value)) return value.some(holdsUndefined);
  if (value !== null && typeof value === "object" && (value as { _bsontype?: unknown })._bsontype === undefined && !(value instanceof Date)) {
    return Object.values(value as Document).some(holdsUndefined);
  }
  return false;
}

/** The warning for documents holding BSON undefined: the Node.js driver can only write it as null. */
export function undefinedWarning(ns: string): string {
  return (
    `${ns} holds documents with the deprecated BSON undefined type; the driver cannot write that type, so they are ` +
    "stored as null on the target (verification compares them as written)"
  );
}

function upsertOps(docs: Document[]): WriteOperation[] {
  return docs.map(overwriteOp);
}

export async function noteUndefined(env: RunEnv, ns: string): Promise<void> {
  const w = undefinedWarning(ns);
  if (!env.session.state.warnings.includes(w)) await env.session.update((s) => void (s.warnings.includes(w) || s.warnings.push(w)));
}

/**
 * Copies one partition from its checkpoint to its upper bound. Batches hold at most `batchBytes` of documents
 * (a single larger document goes alone). Transient errors restart the scan after the last written `_id`.
 */
async function copyPartition(env: RunEnv, p: PartitionState, scanDocs: number, shouldStop: () => boolean): Promise<CopyOutcome> {
  const [db, ...rest] = p.ns.split(".");
  const ns: Namespace = { db, coll: rest.join(".") };
  const budget = env.spec.builtin.batchBytes;
  const before = decodeBson(p.before);
  let failures = 0;

  let pending: Document[] = [];
  let pendingBytes = 0;
  const flush = async (): Promise<void> => {
    if (pending.length === 0) return;
    const docs = pending;
    const bytes = pendingBytes;
    pending = [];
    pendingBytes = 0;
    await env.session.assertLease();
    await withRetry(`copy ${p.ns}`, env.ctx, () => env.target.bulkWrite(ns, upsertOps(docs), false, CARRY_AS_STORED));
    if (docs.some(holdsUndefined)) await noteUndefined(env, p.ns);
    p.lastId = encodeBson(docs[docs.length - 1]._id);
    p.documents += docs.length;
    p.bytes += bytes;
    await withRetry("checkpoint", env.ctx, () => env.session.putPartition(p));
    env.metrics.copiedDocuments += docs.length;
    env.metrics.copiedBytes += bytes;
    failures = 0;
    await env.hooks.afterCopyBatch?.({ ns: p.ns, partition: p.index, documents: docs.length });
  };

  for (;;) {
    const lastId = decodeBson(p.lastId);
    const range =
      lastId !== undefined ? { after: lastId, before } : { from: decodeBson(p.from), before };
    try {
      for await (const batch of env.source.scan(ns, range, scanDocs)) {
        const sizes = batch.map((d) => BSON.calculateObjectSize(d));
        const batchBytes = sizes.reduce((a, b) => a + b, 0);
        env.metrics.peakBufferedBytes = Math.max(env.metrics.peakBufferedBytes, pendingBytes + batchBytes);
        for (let i = 0; i < batch.length; i++) {
          if (pending.length > 0 && pendingBytes + sizes[i] > budget) await flush();
          pending.push(batch[i]);
          pendingBytes += sizes[i];
        }
        // Write now if the next scan batch (about this one's size) would not fit beside what is pending:
        // what the copier holds at once — pending plus the batch just read — then stays within the budget.
        if (pendingBytes + batchBytes > budget) await flush();
        if (shouldStop()) return "stopped"; // another task failed: keep the checkpoint, drop the rest
        if (env.ctx.now() >= env.stopAt) {
          await flush();
          return "stopped";
        }
      }
      await flush();
      p.done = true;
      await withRetry("checkpoint", env.ctx, () => env.session.putPartition(p));
      return "done";
    } catch (err) {
      pending = [];
      pendingBytes = 0;
      failures++;
      if (!isRetryable(err) || failures >= DEFAULT_RETRY.attempts) throw err;
      env.metrics.retries++;
      const delay = backoffMs(failures);
      env.log(`copy ${p.ns}: transient error (${(err as Error).message}); resuming after the last copied _id in ${delay} ms`);
      await env.ctx.sleep(delay);
    }
  }
}

/**
 * Runs the tasks with at most `width` at a time. When one says "stopped" or throws, no new task starts and
 * running ones stop at their next batch (`shouldStop`); the first error is rethrown only after every task
 * has returned, so nothing keeps writing after the call ends.
 */
async function pool<T>(
  items: T[],
  width: number,
  task: (item: T, shouldStop: () => boolean) => Promise<CopyOutcome>,
): Promise<CopyOutcome> {
  let next = 0;
  let outcome: CopyOutcome = "done";
  let firstError: unknown;
  const shouldStop = () => outcome === "stopped" || firstError !== undefined;
  const worker = async (): Promise<void> => {
    while (!shouldStop() && next < items.length) {
      const item = items[next++];
      try {
        if ((await task(item, shouldStop)) === "stopped") outcome = "stopped";
      } catch (err) {
        firstError ??= err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(width, items.length)) }, worker));
  if (firstError !== undefined) throw firstError;
  return outcome;
}

function percent(done: number, total: number): string {
  return total > 0 ? `${Math.min(100, Math.floor((100 * done) / total))}%` : "100%";
}

/**
 * The whole initial copy, resumable. Returns "stopped" when env.stopAt came first (checkpoints are written);
 * call again to continue.
 */
export async function runCopy(env: RunEnv): Promise<CopyOutcome> {
  if (!env.session.state.copy.planned) await planCopy(env);
  const plan = env.session.state.copy.collections;
  const plannedNames = new Set(plan.map((c) => `${c.db}.${c.coll}`));
  const infos = (await includedSourceCollections(env)).filter((c) => plannedNames.has(`${c.db}.${c.name}`));
  await createCollectionsAndViews(env, infos);

  // Partitions still to copy, and what earlier runs already copied.
  const todo: Array<{ p: PartitionState; scanDocs: number }> = [];
  let copiedBefore = 0;
  let copiedBytesBefore = 0;
  for (const c of plan.filter((x) => x.kind === "collection")) {
    const avg = c.documents > 0 ? Math.max(1, c.bytes / c.documents) : 1024;
    // A quarter of the budget per scan batch: the copier holds at most the pending batch plus one scan batch.
    const scanDocs = Math.max(1, Math.min(10_000, Math.floor(env.spec.builtin.batchBytes / 4 / avg)));
    for (let i = 0; i < c.partitions; i++) {
      const name = `${c.db}.${c.coll}`;
      const p = (await env.session.getPartition(name, i)) ?? { ns: name, index: i, done: false, documents: 0, bytes: 0 };
      copiedBefore += p.documents;
      copiedBytesBefore += p.bytes;
      if (!p.done) todo.push({ p, scanDocs });
    }
  }
  const total = env.session.state.copy.totalDocuments;
  const startMetric = env.metrics.copiedDocuments;
  const startBytes = env.metrics.copiedBytes;
  let lastLogged = -1;
  const progress = async (final: boolean): Promise<void> => {
    const copied = copiedBefore + env.metrics.copiedDocuments - startMetric;
    const bytes = copiedBytesBefore + env.metrics.copiedBytes - startBytes;
    const tenth = total > 0 ? Math.floor((10 * copied) / total) : 10;
    if (final || tenth !== lastLogged) {
      lastLogged = tenth;
      env.log(`phase COPYING: ${percent(copied, total)} copied (${copied}/${total} documents)`);
      await env.session.update((s) => {
        s.copy.copiedDocuments = copied;
        s.copy.copiedBytes = bytes;
      });
    }
  };
  const hooks = env.hooks;
  const userHook = hooks.afterCopyBatch;
  env.hooks = {
    ...hooks,
    afterCopyBatch: async (info) => {
      await progress(false);
      await userHook?.(info);
    },
  };
  let outcome: CopyOutcome;
  try {
    outcome = await pool(todo, env.spec.builtin.parallelCollections, ({ p, scanDocs }, stop) => copyPartition(env, p, scanDocs, stop));
  } finally {
    env.hooks = hooks;
  }
  await progress(true);
  if (outcome === "stopped") return outcome;

  await buildSyncIndexes(env, infos);
  await env.session.update((s) => {
    s.copy.done = true;
    s.phase = s.captureMode === "snapshot" ? "READY_FOR_CUTOVER" : "SYNCING";
  });
  env.log(`copy done: ${env.session.state.copy.copiedDocuments} documents; indexes built (TTL inert, unique at cutover)`);
  return "done";
}

/** Re-copies one whole collection (used after a rename into the migrated namespaces). */
export async function recopyCollection(env: RunEnv, ns: Namespace): Promise<number> {
  let copied = 0;
  const budget = env.spec.builtin.batchBytes;
  let pending: Document[] = [];
  let bytes = 0;
  const flush = async (): Promise<void> => {
    if (pending.length === 0) return;
    const docs = pending;
    pending = [];
    bytes = 0;
    await withRetry(`recopy ${nsString(ns)}`, env.ctx, () => env.target.bulkWrite(ns, upsertOps(docs), false, CARRY_AS_STORED));
    copied += docs.length;
  };
  for await (const batch of env.source.scan(ns, {}, 1000)) {
    for (const doc of batch) {
      const size = BSON.calculateObjectSize(doc);
      if (pending.length > 0 && bytes + size > budget) await flush();
      pending.push(doc);
      bytes += size;
    }
  }
  await flush();
  return copied;
}
