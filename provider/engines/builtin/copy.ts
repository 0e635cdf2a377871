// Initial copy: collections with their options, then documents in `_id` partitions copied in parallel with
// batches bounded by bytes, then views, then indexes.
//
// The pipeline: per partition one reader and a window of writes in flight behind it (the next batch is read
// while earlier ones are written); all partitions share one byte budget (`batchBytes`, process-wide: what has
// been read and not yet acknowledged by the target). How large writes are and how many are in flight follows
// the measured round trip (copy-pace.ts): one write per partition on a fast link, a growing window up to a
// process-wide cap on a slow one, where smaller collections are split too so more readers overlap their round
// trips. Batch sizes come from the port's raw BSON sizes where it has them (no second walk of each document).
//
// The last partition ends at the greatest `_id` read at plan, after T0: an application appending at the end of
// `_id` order does not keep the copy going; what it appends arrives by replay.
//
// Writes: the first pass into a partition's range inserts (nothing of that range is on the target yet); a
// resumed or restarted pass upserts (`replaceOne({_id}, doc, {upsert})`), and an insert that meets an existing
// `_id` falls back to upserts. Either way, copying a range twice leaves exactly one copy of each document.
//
// Resuming: each partition stores the last `_id` of the longest acknowledged prefix of its writes; a restart
// scans from just after it. At most what was in flight (bounded by the budget) is re-copied.
//
// Index policy (why): secondary indexes are built after the data (faster, no per-document index upkeep);
// TTL indexes are built inert (expireAfterSeconds = 2^31-1) so the target does not expire documents the
// source still has, and get their real value at cutover; unique indexes are built at cutover, after the
// drain, because replaying a change stream can pass through states that break uniqueness transiently.
import { BSON, type Document } from "mongodb";
import type { CollectionInfo, IndexSpec, Namespace, ScanBatch, WriteOperation } from "../../cluster/port";
import type { RunEnv } from "./env";
import { unwritableReason } from "../../cluster/raw-bson";
import { bsonEquals, compareBson } from "../../cluster/bson-order";
import { isSystemCollection, nsString } from "./namespaces";
import { backoffMs, DEFAULT_RETRY, isRetryable, withRetry } from "./retry";
import { decodeBson, encodeBson, type PartitionState, type PlannedCollection } from "./state";
import { paceFor, RTT_BOUND_MS, type Pace } from "./copy-pace";

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

/** The collections (not views) and views of a listing that this migration carries. */
function includedOf(env: RunEnv, all: CollectionInfo[]): CollectionInfo[] {
  return all.filter((c) => c.kind !== "timeseries" && env.matcher.includes(c.db, c.name) && !isSystemCollection(c.name));
}

/** The source collections (not views) and views this migration carries, fresh from the source. */
export async function includedSourceCollections(env: RunEnv): Promise<CollectionInfo[]> {
  return includedOf(env, await withRetry("listCollections", env.ctx, () => env.source.listCollections()));
}

export function toNamespace(c: { db: string; name?: string; coll?: string }): Namespace {
  return { db: c.db, coll: (c.name ?? c.coll) as string };
}

/** Metadata round trips (collStats, checkpoints, createCollection, createIndexes) in flight at once. */
const METADATA_WIDTH = 8;

/** `fn` over every item, at most `width` at a time; results in item order; the first error is thrown. */
async function inParallel<T, R>(items: T[], width: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(width, items.length)) }, worker));
  return out;
}

/** An RTT-bound collection is split when each part still gets at least this many writes. */
const WRITES_PER_PART = 4;

/** A plan just made: its partitions, and the state write that records it, still in flight. */
interface CopyPlan {
  /** The shortest collStats round trip seen (ms; Infinity when none was asked). */
  shortestTrip: number;
  collections: PlannedCollection[];
  /** Every partition of the plan as it is being written (the copy need not read them back). */
  partitions: PartitionState[];
  /**
   * The partitions' writes, then the compare-and-set that marks the plan made (planned = true, only once every
   * partition is stored, so a resumed run never finds a plan without its bounds). That write proves the lease:
   * the first copy writes wait for it rather than for a check of their own.
   */
  committed: Promise<void>;
}

/**
 * Plans the copy: per collection its size, its split points and its last `_id`, and the partitions over them.
 * Returns once the partitions are known; their records and the plan's state write go on in the background
 * (`committed`), so the readers can start meanwhile.
 */
async function planCopy(env: RunEnv, all: CollectionInfo[]): Promise<CopyPlan> {
  const { spec, source } = env;
  const infos = includedOf(env, all);
  const writeBytes = paceFor(spec.builtin.batchBytes, spec.builtin.parallelCollections, true).writeBytes;
  let shortestTrip = Infinity;
  const partitions: PartitionState[] = [];
  const stored: Array<Promise<void>> = [];
  const planned = await inParallel(infos, METADATA_WIDTH, async (info): Promise<PlannedCollection> => {
    const ns = toNamespace(info);
    if (info.kind === "view") return { db: info.db, coll: info.name, kind: "view", partitions: 0, documents: 0, bytes: 0 };
    const asked = env.ctx.now();
    // The last `_id` is read after T0 (start took it): every document inserted before T0 is at or below it. What
    // an application appends past it arrives by replay, so the last partition does not chase the tail forever.
    // Asked alongside the size; split points the size asks for are clamped to it below.
    const lastRead = withRetry("lastId", env.ctx, () => source.lastId(ns));
    lastRead.catch(() => undefined); // awaited below
    const stats = await withRetry("collStats", env.ctx, () => source.collectionStats(ns));
    const roundTripMs = env.ctx.now() - asked;
    let parts =
      stats.count > spec.builtin.partitionDocuments
        ? Math.min(MAX_PARTITIONS, Math.ceil(stats.count / spec.builtin.partitionDocuments))
        : 1;
    // Over a slow link one reader cannot keep the writers busy: split smaller collections too, as far as the
    // parallelism allows and each part still gets a few writes (tests run on a virtual clock: never split).
    shortestTrip = Math.min(shortestTrip, roundTripMs);
    if (roundTripMs >= RTT_BOUND_MS && stats.count > 1) {
      const byBytes = Math.floor(stats.sizeBytes / (WRITES_PER_PART * writeBytes));
      parts = Math.max(parts, Math.min(spec.builtin.parallelCollections, byBytes, stats.count));
    }
    const splits = parts > 1 ? await withRetry("splitPoints", env.ctx, () => source.splitPoints(ns, parts)) : [];
    const last = await lastRead;
    // A split point past the last `_id` (documents appended between the two reads) would make the last
    // partition's range empty and put its bound inside another partition: such points are dropped.
    const bounds = last === undefined ? [] : splits.filter((b) => compareBson(b, last) <= 0);
    const name = nsString(ns);
    // bounds.length + 1 partitions: [-inf, b0), [b0, b1), …, [bn-1, last]; nothing to copy when empty at plan.
    for (let i = 0; i <= bounds.length; i++) {
      const p: PartitionState = { ns: name, index: i, done: last === undefined, documents: 0, bytes: 0 };
      if (i > 0) p.from = encodeBson(bounds[i - 1]);
      if (i < bounds.length) p.before = encodeBson(bounds[i]);
      else if (last !== undefined) p.through = encodeBson(last);
      partitions.push(p);
      // A copy of the record as planned: the copy goes on changing `p` while this write is in flight.
      const record = { ...p };
      stored.push(withRetry("checkpoint", env.ctx, () => env.session.putPartition(record)));
    }
    return {
      db: info.db,
      coll: info.name,
      kind: "collection",
      partitions: bounds.length + 1,
      documents: stats.count,
      bytes: stats.sizeBytes,
    };
  }).catch(async (err) => {
    await Promise.allSettled(stored); // nothing of this plan goes on being written once planning has failed
    throw err;
  });
  const skipped = all.filter((c) => c.kind === "timeseries" && env.matcher.includes(c.db, c.name));
  const committed = Promise.all(stored).then(async () => {
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
  });
  committed.catch(() => undefined); // awaited by the copy's first writes and at its end
  return { shortestTrip, collections: planned, partitions, committed };
}

/** Collection options as the target should get them now (clustered TTL left off; see preflight warning). */
function optionsForCreate(info: CollectionInfo): Document {
  const options = { ...info.options };
  if (options.clusteredIndex && options.expireAfterSeconds !== undefined) delete options.expireAfterSeconds;
  return options;
}

/** Creates the collections (with their options) on the target, in parallel. Idempotent. */
async function createCollections(env: RunEnv, infos: CollectionInfo[]): Promise<void> {
  await inParallel(infos.filter((c) => c.kind === "collection"), METADATA_WIDTH, (info) =>
    withRetry("createCollection", env.ctx, () => env.target.createCollection({ ...info, options: optionsForCreate(info), indexes: [] })),
  );
}

/** Creates the views on the target, in parallel (after the collections: a view may be defined on one). Idempotent. */
async function createViews(env: RunEnv, infos: CollectionInfo[]): Promise<void> {
  await inParallel(infos.filter((c) => c.kind === "view"), METADATA_WIDTH, (info) =>
    withRetry("createView", env.ctx, () => env.target.createCollection({ ...info, indexes: [] })),
  );
}

/** Creates collections (with options) and then views on the target. Idempotent. */
export async function createCollectionsAndViews(env: RunEnv, infos: CollectionInfo[]): Promise<void> {
  await createCollections(env, infos);
  await createViews(env, infos);
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

/** Builds one collection's sync-time indexes (indexesDuringSync) on the target, if it has any. Idempotent. */
async function buildCollectionIndexes(env: RunEnv, info: CollectionInfo): Promise<void> {
  const indexes = indexesDuringSync(info.indexes);
  if (info.kind !== "collection" || indexes.length === 0) return;
  await withRetry("createIndexes", env.ctx, () => env.target.createIndexes(toNamespace(info), indexes));
}

export async function buildSyncIndexes(env: RunEnv, infos: CollectionInfo[]): Promise<void> {
  await inParallel(infos, METADATA_WIDTH, (info) => buildCollectionIndexes(env, info));
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
  // On every copied document: plain loops, no intermediate arrays.
  if (value === undefined) return true;
  if (value === null || typeof value !== "object") return false;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) if (holdsUndefined(value[i])) return true;
    return false;
  }
  if ((value as { _bsontype?: unknown })._bsontype !== undefined || value instanceof Date) return false;
  for (const k in value as Document) if (holdsUndefined((value as Document)[k])) return true;
  return false;
}

/** Whether a scanned batch holds BSON undefined: only the port's suspects are looked at, when it names them. */
function batchHoldsUndefined(batch: ScanBatch): boolean {
  const suspects = batch.undefinedSuspects;
  if (suspects === undefined) return batch.some(holdsUndefined);
  for (let k = 0; k < suspects.length; k++) if (holdsUndefined(batch[suspects[k]])) return true;
  return false;
}

/** The warning for documents holding BSON undefined: the Node.js driver can only write it as null. */
export function undefinedWarning(ns: string): string {
  return (
    `${ns} holds documents with the deprecated BSON undefined type; the driver cannot write that type, so they are ` +
    "stored as null on the target and full verification (which compares the stored bytes) fails for them until the " +
    "source holds null there too"
  );
}

/** How many documents per namespace the warnings name one by one. */
const UNWRITABLE_LISTED = 5;

/** The warning for one source document the driver cannot write exactly (raw-bson.ts says what and why). */
export function unwritableWarning(ns: string, id: unknown, reason: string): string {
  return (
    `${ns} _id ${BSON.EJSON.stringify(id as Document, { relaxed: false })}: the source stores ${reason}, which the ` +
    "Node.js driver cannot write as it is; the target's copy differs and full verification fails for this document " +
    'until it is rewritten on the source (as an application would write it today), or verify with "counts"'
  );
}

/**
 * Warns, by namespace and `_id`, about documents whose stored bytes (ScanBatch.stored, when the port read them
 * raw) hold what the driver cannot write back exactly: nothing is changed silently and then reported as verified.
 */
export async function noteUnwritable(env: RunEnv, ns: string, docs: Document[], stored: Uint8Array[]): Promise<void> {
  const found: string[] = [];
  for (let i = 0; i < stored.length; i++) {
    const reason = unwritableReason(stored[i]);
    if (reason) found.push(unwritableWarning(ns, docs[i]._id, reason));
  }
  if (found.length === 0) return;
  const prefix = `${ns} _id `;
  const more = `${ns}: more documents than the ${UNWRITABLE_LISTED} named hold what the Node.js driver cannot write as it is (see above)`;
  await env.session.update((s) => {
    let listed = s.warnings.filter((w) => w.startsWith(prefix)).length;
    for (const w of found) {
      if (s.warnings.includes(w)) continue;
      if (listed >= UNWRITABLE_LISTED) {
        if (!s.warnings.includes(more)) s.warnings.push(more);
        break;
      }
      s.warnings.push(w);
      listed++;
    }
  });
}

/**
 * The last partition's inclusive bound, read as a one-document scan (not findById) so it comes with its stored
 * bytes and size like every other copied document. `held`: the bytes of the budget it holds from now on (its
 * size; 0 when it was deleted since). What it reserved is given back if the read fails.
 */
async function readTail(env: RunEnv, ns: Namespace, through: unknown, budget: ByteBudget, estimate: number): Promise<{ batch?: ScanBatch; held: number }> {
  await budget.reserve(estimate);
  try {
    const batch = await withRetry(`copy ${nsString(ns)}`, env.ctx, () => firstFrom(env, ns, through));
    if (!batch) {
      budget.adjust(-estimate);
      return { held: 0 };
    }
    const size = batch.bsonSizes?.[0] ?? BSON.calculateObjectSize(batch[0]);
    budget.adjust(size - estimate);
    return { batch, held: size };
  } catch (err) {
    budget.adjust(-estimate);
    throw err;
  }
}

/** The document whose `_id` is `id`, as a one-document scan batch (sizes and stored bytes attached), or undefined. */
async function firstFrom(env: RunEnv, ns: Namespace, id: unknown): Promise<ScanBatch | undefined> {
  const it = env.source.scan(ns, { from: id }, 1)[Symbol.asyncIterator]();
  try {
    const first = await it.next();
    if (first.done || first.value.length === 0 || !bsonEquals(first.value[0]._id, id)) return undefined; // deleted since
    const batch: ScanBatch = [first.value[0]];
    if (first.value.bsonSizes) batch.bsonSizes = [first.value.bsonSizes[0]];
    if (first.value.stored) batch.stored = [first.value.stored[0]];
    return batch;
  } finally {
    await it.return?.().catch(() => undefined);
  }
}

function upsertOps(docs: Document[]): WriteOperation[] {
  return docs.map(overwriteOp);
}

/** True when a top-level field name starts with `$` (such a document cannot be a replacement; see overwriteOp). */
function hasDollarField(doc: Document): boolean {
  for (const k in doc) if (k.charCodeAt(0) === 36) return true;
  return false;
}

/**
 * First-pass writes into an `_id` range the target does not hold yet: plain inserts (no query per document on
 * the target). A `$`-prefixed top-level field still goes through overwriteOp, as a replacement would.
 */
function insertOps(docs: Document[]): WriteOperation[] {
  return docs.map((document) => (hasDollarField(document) ? overwriteOp(document) : { insertOne: { document } }));
}

/** DuplicateKey (11000) anywhere in a bulk write's errors. */
function isDuplicateKey(err: unknown): boolean {
  const e = err as { code?: unknown; writeErrors?: unknown };
  if (Number(e?.code) === 11000) return true;
  const list = Array.isArray(e?.writeErrors) ? e.writeErrors : e?.writeErrors ? [e.writeErrors] : [];
  return list.some((w: { code?: unknown }) => Number(w?.code) === 11000);
}

export async function noteUndefined(env: RunEnv, ns: string): Promise<void> {
  const w = undefinedWarning(ns);
  if (!env.session.state.warnings.includes(w)) await env.session.update((s) => void (s.warnings.includes(w) || s.warnings.push(w)));
}

/**
 * The one process-wide budget of document bytes the copier holds: read from the source and not yet
 * acknowledged by the target. A read reserves its estimated size before it is issued and settles to the real
 * size after; a write gives its bytes back when the target acknowledges it. When nothing is held a read always
 * proceeds, so a single document larger than the budget still moves (alone).
 */
export class ByteBudget {
  private held = 0;
  peak = 0;
  private waiters: Array<() => void> = [];

  constructor(readonly capacity: number) {}

  async reserve(bytes: number): Promise<void> {
    while (this.held > 0 && this.held + bytes > this.capacity) await new Promise<void>((r) => this.waiters.push(r));
    this.adjust(bytes);
  }

  adjust(delta: number): void {
    this.held += delta;
    if (this.held > this.peak) this.peak = this.held;
    if (delta < 0) for (const wake of this.waiters.splice(0)) wake();
  }
}

/**
 * One lease check shared by every writer of the process: a write waits for a check that is in flight, or
 * starts one, or goes on a check that passed and was issued less than one round trip (`roundTripMs`, the
 * shortest the copy measured) ago. Either way every batch is preceded by a check at most one round trip old
 * (a check joined in flight may have been issued up to a round trip earlier too), without a serial round trip
 * per batch per partition. `first`, when given, is the check already in flight when the copy starts: the
 * compare-and-set that records a new plan, which fails unless this process holds the lease.
 */
function leaseGate(env: RunEnv, roundTripMs: number, first?: Promise<void>): () => Promise<void> {
  let inFlight: Promise<void> | undefined = first?.finally(() => (inFlight = undefined));
  inFlight?.catch(() => undefined); // a failure reaches the writes that wait for it
  /** When the last check that passed was issued (engine clock); -Infinity before any. */
  let passedIssuedAt = -Infinity;
  return () => {
    if (inFlight) return inFlight;
    const now = env.ctx.now();
    if (now - passedIssuedAt < roundTripMs) return Promise.resolve();
    inFlight = env.session
      .assertLease()
      .then(() => void (passedIssuedAt = Math.max(passedIssuedAt, now)))
      .finally(() => (inFlight = undefined));
    return inFlight;
  };
}

/** Per-copy settings shared by the partitions. */
interface CopyShared {
  budget: ByteBudget;
  lease: () => Promise<void>;
  /**
   * What the first writes and checkpoints wait for besides the lease: the target's collections created (with
   * their options: an insert into a missing collection would create it with none) and the plan's records stored.
   */
  ready: Promise<void>;
  /** Write sizes, windows and the process-wide writer cap (copy-pace.ts). */
  pace: Pace;
}

interface WindowEntry {
  lastId: unknown;
  documents: number;
  bytes: number;
  done: boolean;
  undefinedSeen: boolean;
}

/**
 * Copies one partition from its checkpoint to its upper bound: one reader, a window of writes in flight behind
 * it (copy-pace.ts: it grows over a slow link while the writes are what is behind). The checkpoint advances over the longest prefix of acknowledged writes (in `_id` order), so a
 * crash re-copies at most what was in flight (bounded by the byte budget). Transient errors let the writes in
 * flight settle, then restart the scan after the last checkpointed `_id`.
 *
 * Writes are inserts on the first pass into the partition's range; a resumed or restarted pass (the target may
 * hold documents past the checkpoint) upserts. An insert that meets an existing `_id` (a leftover of an earlier
 * attempt) turns the rest of the partition to upserts and rewrites that batch as upserts: the end state is the
 * same as upserting everything.
 */
async function copyPartition(
  env: RunEnv,
  p: PartitionState,
  sizes: { scanDocs: number; writeBytes: number; scanBytes: number },
  shared: CopyShared,
  shouldStop: () => boolean,
): Promise<CopyOutcome> {
  const { scanDocs, writeBytes } = sizes;
  const [db, ...rest] = p.ns.split(".");
  const ns: Namespace = { db, coll: rest.join(".") };
  const before = decodeBson(p.before);
  /** The last partition's inclusive bound (T0's greatest `_id`): scanned up to, then read by `_id` itself. */
  const through = p.through !== undefined ? decodeBson(p.through) : undefined;
  const { budget, pace } = shared;
  let window = pace.window;
  let failures = 0;
  let inserting = p.documents === 0 && p.lastId === undefined ? true : p.clean === true;
  let estimate = Math.max(1, Math.min(sizes.scanBytes, budget.capacity));

  for (;;) {
    // ---- the window of writes behind the reader --------------------------------------------------------
    const entries: WindowEntry[] = [];
    const running = new Set<Promise<void>>();
    let writeError: unknown;
    let checkpointing: Promise<void> = Promise.resolve();
    let checkpointError: unknown;
    /**
     * Set once the reader has dispatched its last write: from then on one checkpoint covers the rest, once it
     * has all landed (the bound's write included, `tailPending` until it has), and it says done too.
     */
    let finishing = false;
    let tailPending = false;

    /**
     * Moves the checkpoint over the acknowledged prefix; one checkpoint write at a time, in order. The one that
     * covers the reader's last write marks the partition done as well (one write, not two, at the end).
     */
    const advanceCheckpoint = (): void => {
      checkpointing = checkpointing.then(async () => {
        if (checkpointError !== undefined) return;
        // Past the reader's last write, one checkpoint covers the rest, once it has all landed.
        if (finishing && (tailPending || entries.some((e) => !e.done))) return;
        const prefix: WindowEntry[] = [];
        while (entries.length > 0 && entries[0].done) prefix.push(entries.shift() as WindowEntry);
        const finished = finishing && !tailPending && entries.length === 0 && !p.done;
        if (prefix.length === 0 && !finished) return;
        const docs = prefix.reduce((n, e) => n + e.documents, 0);
        const bytes = prefix.reduce((n, e) => n + e.bytes, 0);
        try {
          if (prefix.length > 0) {
            if (prefix.some((e) => e.undefinedSeen)) await noteUndefined(env, p.ns);
            p.lastId = encodeBson(prefix[prefix.length - 1].lastId);
            p.documents += docs;
            p.bytes += bytes;
            p.clean = false;
          }
          if (finished) p.done = true;
          await withRetry("checkpoint", env.ctx, () => env.session.putPartition(p));
          env.metrics.copiedDocuments += docs;
          env.metrics.copiedBytes += bytes;
          for (const e of prefix) await env.hooks.afterCopyBatch?.({ ns: p.ns, partition: p.index, documents: e.documents });
        } catch (err) {
          if (finished) p.done = false; // not stored: the end of the pass writes it again
          checkpointError = err;
        }
      });
    };

    const write = async (docs: Document[], bytes: number, entry: WindowEntry): Promise<void> => {
      try {
        await Promise.all([shared.ready, shared.lease()]);
        if (inserting) {
          try {
            await withRetry(`copy ${p.ns}`, env.ctx, () => env.target.bulkWrite(ns, insertOps(docs), false, CARRY_AS_STORED));
          } catch (err) {
            if (!isDuplicateKey(err)) throw err;
            inserting = false;
            env.log(`copy ${p.ns}: the target already holds some of these _ids (an earlier attempt); writing this partition with upserts`);
            await withRetry(`copy ${p.ns}`, env.ctx, () => env.target.bulkWrite(ns, upsertOps(docs), false, CARRY_AS_STORED));
          }
        } else {
          await withRetry(`copy ${p.ns}`, env.ctx, () => env.target.bulkWrite(ns, upsertOps(docs), false, CARRY_AS_STORED));
        }
        entry.done = true;
        advanceCheckpoint();
      } catch (err) {
        writeError ??= err;
      } finally {
        budget.adjust(-bytes);
      }
    };

    /**
     * The last partition's bound, read and written as the pass starts, alongside its range (not two more round
     * trips in series at its end). It takes a place in the window and its bytes of the budget only while it is
     * read and written, and its entry joins the window after the range's last write, so the checkpoint still
     * reaches it last, in `_id` order. An insert on a first pass, unless an earlier pass already wrote it (it is
     * outside the range `clean` speaks for): then it alone is upserted.
     */
    const copyTail = async (id: unknown): Promise<WindowEntry | undefined> => {
      const read = await readTail(env, ns, id, budget, estimate);
      if (!read.batch) return undefined; // deleted since the plan
      try {
        const docs = [read.batch[0]];
        if (read.batch.stored) await noteUnwritable(env, p.ns, read.batch, read.batch.stored);
        while (running.size >= window && writeError === undefined) await Promise.race(running);
        await pace.writers.acquire();
        let failure: unknown;
        const task = (async () => {
          try {
            await Promise.all([shared.ready, shared.lease()]);
            const upsert = () => withRetry(`copy ${p.ns}`, env.ctx, () => env.target.bulkWrite(ns, upsertOps(docs), false, CARRY_AS_STORED));
            if (!inserting) await upsert();
            else {
              try {
                await withRetry(`copy ${p.ns}`, env.ctx, () => env.target.bulkWrite(ns, insertOps(docs), false, CARRY_AS_STORED));
              } catch (err) {
                if (!isDuplicateKey(err)) throw err;
                await upsert();
              }
            }
          } catch (err) {
            failure = err;
          }
        })().finally(() => {
          running.delete(task);
          pace.writers.release();
        });
        running.add(task);
        await task;
        if (failure !== undefined) throw failure;
        return { lastId: id, documents: 1, bytes: read.held, done: true, undefinedSeen: holdsUndefined(docs[0]) };
      } finally {
        budget.adjust(-read.held);
      }
    };

    const dispatch = async (docs: Document[], bytes: number, undefinedSeen: boolean): Promise<void> => {
      while (running.size >= window && writeError === undefined) {
        // Every write of the window still in flight: the writes are behind. One more, if the pace allows.
        if (window < pace.windowMax && pace.writers.available()) {
          window++;
          break;
        }
        await Promise.race(running);
      }
      if (writeError === undefined) {
        await pace.writers.acquire();
        if (writeError !== undefined) pace.writers.release();
      }
      if (writeError !== undefined) {
        budget.adjust(-bytes);
        return;
      }
      const entry: WindowEntry = { lastId: docs[docs.length - 1]._id, documents: docs.length, bytes, done: false, undefinedSeen };
      entries.push(entry);
      const task = write(docs, bytes, entry).finally(() => {
        running.delete(task);
        pace.writers.release();
      });
      running.add(task);
    };

    /** Lets every write in flight settle and its checkpoint land; the first failure, if any, is thrown. */
    const drain = async (): Promise<void> => {
      while (running.size > 0) await Promise.race(running);
      await checkpointing;
      if (writeError !== undefined) throw writeError;
      if (checkpointError !== undefined) throw checkpointError;
    };

    // ---- the reader --------------------------------------------------------------------------------------
    const lastId = decodeBson(p.lastId);
    const upper = before ?? through;
    const range = lastId !== undefined ? { after: lastId, before: upper } : { from: decodeBson(p.from), before: upper };
    const it = env.source.scan(ns, range, scanDocs)[Symbol.asyncIterator]();
    const tail = through !== undefined && !p.throughCopied ? copyTail(through) : undefined;
    tail?.catch(() => undefined); // awaited below on every way out of the pass
    tailPending = tail !== undefined;
    /** Lets the bound's copy settle when the pass ends without checkpointing it (a resumed pass writes it again). */
    const settleTail = async (): Promise<void> => void (await tail?.catch(() => undefined));
    try {
      try {
        for (;;) {
          await budget.reserve(estimate);
          let next: IteratorResult<ScanBatch>;
          try {
            next = await it.next();
          } catch (err) {
            budget.adjust(-estimate);
            throw err;
          }
          if (next.done) {
            budget.adjust(-estimate);
            break;
          }
          const batch = next.value;
          if (batch.stored) {
            await noteUnwritable(env, p.ns, batch, batch.stored);
            batch.stored = undefined; // the bytes are not needed past here: the budget counts each document once
          }
          // Sizes from the port when it read raw BSON; measured here only when it could not say.
          const docSizes = batch.bsonSizes ?? batch.map((d) => BSON.calculateObjectSize(d));
          let batchBytes = 0;
          for (const n of docSizes) batchBytes += n;
          budget.adjust(batchBytes - estimate);
          estimate = Math.max(1, Math.min(budget.capacity, batchBytes));
          // Once the namespace carries the warning, its documents need not be looked at again.
          const undefinedSeen = !env.session.state.warnings.includes(undefinedWarning(p.ns)) && batchHoldsUndefined(batch);
          // Writes of at most writeBytes each (a larger single document alone).
          let from = 0;
          let bytes = 0;
          for (let i = 0; i < batch.length; i++) {
            if (i > from && bytes + docSizes[i] > writeBytes) {
              await dispatch(batch.slice(from, i), bytes, undefinedSeen);
              from = i;
              bytes = 0;
            }
            bytes += docSizes[i];
          }
          await dispatch(from === 0 ? batch : batch.slice(from), bytes, undefinedSeen);
          if (writeError !== undefined || checkpointError !== undefined) break;
          if (shouldStop() || env.ctx.now() >= env.stopAt) {
            // Another task failed, or the deadline is near: what is in flight lands and is checkpointed.
            await drain();
            const written = await tail?.catch(() => undefined);
            if (written) {
              // The bound is on the target already: counted now, and not written again by the next pass.
              if (written.undefinedSeen) await noteUndefined(env, p.ns);
              p.throughCopied = true;
              p.documents += written.documents;
              p.bytes += written.bytes;
              env.metrics.copiedDocuments += written.documents;
              env.metrics.copiedBytes += written.bytes;
            }
            p.clean = inserting;
            await shared.ready;
            await withRetry("checkpoint", env.ctx, () => env.session.putPartition(p));
            return "stopped";
          }
        }
      } finally {
        await it.return?.().catch(() => undefined);
      }
      if (writeError === undefined && checkpointError === undefined) {
        // Every write of the range is dispatched: the checkpoint over the last of them marks the partition done.
        finishing = true;
        if (tail !== undefined) {
          // The bound itself (scan's upper bound is exclusive), unless deleted since: written already, it joins
          // the window behind the range's last write.
          const written = await tail;
          if (written) entries.push(written);
          tailPending = false;
        }
        advanceCheckpoint();
      }
      await drain();
      if (!p.done) {
        p.done = true;
        await shared.ready;
        await withRetry("checkpoint", env.ctx, () => env.session.putPartition(p));
      }
      return "done";
    } catch (err) {
      // Nothing of this pass may keep writing once we leave: let the window settle (its errors are this one's).
      await drain().catch(() => undefined);
      await settleTail();
      failures++;
      if (!isRetryable(err) || failures >= DEFAULT_RETRY.attempts) throw err;
      // The target may now hold documents past the checkpoint: upsert from here on.
      inserting = false;
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
 *
 * What overlaps, so a slow link costs few round trips in series: the target's collections are created while the
 * copy is planned; the readers start once the partitions' bounds are known, while the plan is being stored (the
 * first writes wait for that write, which also proves the lease); a collection's sync-time indexes are built as
 * soon as its own partitions are done, while the others are still copying; progress is written alongside.
 */
export async function runCopy(env: RunEnv): Promise<CopyOutcome> {
  // The link's round trip: the shortest of the calls timed here (one slow call on a busy machine is not a slow link).
  const asked = env.ctx.now();
  const all = await withRetry("listCollections", env.ctx, () => env.source.listCollections());
  let roundTripMs = env.ctx.now() - asked;
  let plan: PlannedCollection[];
  let infos: CollectionInfo[];
  /** The partitions of a plan made just now, by `ns#index` (nothing to read back). */
  let planned: Map<string, PartitionState> | undefined;
  let committed: Promise<void> = Promise.resolve();
  let creating: Promise<void>;
  if (!env.session.state.copy.planned) {
    infos = includedOf(env, all); // what planCopy plans
    creating = createCollections(env, infos);
    creating.catch(() => undefined); // awaited below
    let made: CopyPlan;
    try {
      made = await planCopy(env, all);
    } catch (err) {
      await creating.catch(() => undefined);
      throw err;
    }
    roundTripMs = Math.min(roundTripMs, made.shortestTrip);
    plan = made.collections;
    committed = made.committed;
    planned = new Map(made.partitions.map((p) => [`${p.ns}#${p.index}`, p]));
  } else {
    plan = env.session.state.copy.collections;
    const plannedNames = new Set(plan.map((c) => `${c.db}.${c.coll}`));
    infos = includedOf(env, all).filter((c) => plannedNames.has(`${c.db}.${c.name}`));
    creating = createCollections(env, infos);
    creating.catch(() => undefined); // awaited below
  }
  const rttBound = roundTripMs >= RTT_BOUND_MS;
  const ready = Promise.all([creating, committed]).then(() => undefined);
  ready.catch(() => undefined); // awaited by the writes and below
  const viewsMade = creating.then(() => createViews(env, infos));
  viewsMade.catch(() => undefined); // awaited below

  const { batchBytes, parallelCollections } = env.spec.builtin;
  const shared: CopyShared = {
    budget: new ByteBudget(batchBytes),
    lease: leaseGate(env, roundTripMs, planned ? committed : undefined),
    ready,
    pace: paceFor(batchBytes, parallelCollections, rttBound),
  };
  // Partitions still to copy, and what earlier runs already copied.
  const wanted = plan
    .filter((x) => x.kind === "collection")
    .flatMap((c) => {
      const avg = c.documents > 0 ? Math.max(1, c.bytes / c.documents) : 1024;
      // One scan batch is the pace's read-ahead (the reader reads the next while the writes are in flight).
      const { writeBytes, scanBytes } = shared.pace.sized(avg);
      const scanDocs = Math.max(1, Math.min(10_000, Math.floor(scanBytes / avg)));
      return Array.from({ length: c.partitions }, (_, i) => ({ name: `${c.db}.${c.coll}`, index: i, sizes: { scanDocs, writeBytes, scanBytes } }));
    });
  let stored: Array<PartitionState | null>;
  try {
    stored = planned
      ? wanted.map((w) => planned.get(`${w.name}#${w.index}`) ?? null)
      : await inParallel(wanted, METADATA_WIDTH, (w) => env.session.getPartition(w.name, w.index));
  } catch (err) {
    await Promise.allSettled([ready, viewsMade]);
    throw err;
  }
  const todo: Array<{ p: PartitionState; sizes: { scanDocs: number; writeBytes: number; scanBytes: number } }> = [];
  let copiedBefore = 0;
  let copiedBytesBefore = 0;
  for (const [k, w] of wanted.entries()) {
    const p = stored[k] ?? { ns: w.name, index: w.index, done: false, documents: 0, bytes: 0 };
    copiedBefore += p.documents;
    copiedBytesBefore += p.bytes;
    if (!p.done) todo.push({ p, sizes: w.sizes });
  }

  // A collection's sync-time indexes are built once its partitions are all done (at once when none is left).
  const partitionsLeft = new Map<string, number>();
  for (const { p } of todo) partitionsLeft.set(p.ns, (partitionsLeft.get(p.ns) ?? 0) + 1);
  const indexBuilds: Array<Promise<void>> = [];
  const buildIndexesOf = (name: string): void => {
    const info = infos.find((c) => c.kind === "collection" && `${c.db}.${c.name}` === name);
    if (!info) return;
    const build = creating.then(() => buildCollectionIndexes(env, info));
    build.catch(() => undefined); // awaited below
    indexBuilds.push(build);
  };
  for (const c of plan) if (c.kind === "collection" && !partitionsLeft.has(`${c.db}.${c.coll}`)) buildIndexesOf(`${c.db}.${c.coll}`);

  const total = plan.reduce((n, c) => n + c.documents, 0);
  const startMetric = env.metrics.copiedDocuments;
  const startBytes = env.metrics.copiedBytes;
  const counts = () => ({ documents: copiedBefore + env.metrics.copiedDocuments - startMetric, bytes: copiedBytesBefore + env.metrics.copiedBytes - startBytes });
  let lastLogged = -1;
  // Progress goes to the state alongside the copy (its own compare-and-set, never in a checkpoint's way); a
  // failure to write it (a lost lease) ends the copy below, as the writes' own lease checks would.
  // One progress write at a time: one asked for meanwhile is folded into a write after it, and none is
  // written once the copy has ended (its last state write carries the final counts).
  let progressing: Promise<void> = Promise.resolve();
  let progressWriting = false;
  let progressAgain = false;
  let copyEnded = false;
  let progressError: unknown;
  const writeProgress = async (): Promise<void> => {
    progressWriting = true;
    try {
      do {
        progressAgain = false;
        await env.session.update((s) => {
          const now = counts();
          s.copy.copiedDocuments = now.documents;
          s.copy.copiedBytes = now.bytes;
        });
      } while (progressAgain && !copyEnded);
    } catch (err) {
      progressError ??= err;
    } finally {
      progressWriting = false;
    }
  };
  const progress = (): void => {
    const { documents } = counts();
    const tenth = total > 0 ? Math.floor((10 * documents) / total) : 10;
    // All of it copied: the copy's last state write (below) carries these counts.
    if (tenth === lastLogged || documents >= total) return;
    lastLogged = tenth;
    env.log(`phase COPYING: ${percent(documents, total)} copied (${documents}/${total} documents)`);
    if (progressWriting) progressAgain = true;
    else progressing = writeProgress();
  };
  const hooks = env.hooks;
  const userHook = hooks.afterCopyBatch;
  env.hooks = {
    ...hooks,
    afterCopyBatch: async (info) => {
      progress();
      await userHook?.(info);
    },
  };
  const pace = shared.pace;
  env.log(
    `copy pace: ${pace.rttBound ? "RTT-bound link" : "fast link"} (shortest round trip ${Math.round(roundTripMs)} ms); ` +
      `${pace.readers} partitions at once, ${pace.window}${pace.windowMax > pace.window ? `–${pace.windowMax}` : ""} writes in flight per partition, at most ${pace.writers.cap} in the process`,
  );
  let outcome: CopyOutcome;
  try {
    outcome = await pool(todo, pace.readers, async ({ p, sizes }, stop) => {
      const result = await copyPartition(env, p, sizes, shared, stop);
      if (result === "done") {
        const left = (partitionsLeft.get(p.ns) ?? 1) - 1;
        partitionsLeft.set(p.ns, left);
        if (left === 0) buildIndexesOf(p.ns);
      }
      return result;
    });
    // Nothing of this run is left going when it returns: the plan's write, views, index builds, progress.
    copyEnded = true;
    await ready;
    await viewsMade;
    await Promise.all(indexBuilds);
    await progressing;
    if (progressError !== undefined) throw progressError;
  } catch (err) {
    copyEnded = true;
    await Promise.allSettled([ready, viewsMade, ...indexBuilds, progressing]);
    throw err;
  } finally {
    env.hooks = hooks;
    env.metrics.peakBufferedBytes = Math.max(env.metrics.peakBufferedBytes, shared.budget.peak);
  }
  const final = counts();
  env.log(`phase COPYING: ${percent(final.documents, total)} copied (${final.documents}/${total} documents)`);
  // One state write at the end: the counts, and (when the copy is done) the phase after it.
  await env.session.update((s) => {
    s.copy.copiedDocuments = final.documents;
    s.copy.copiedBytes = final.bytes;
    if (outcome === "stopped") return;
    s.copy.done = true;
    s.phase = s.captureMode === "snapshot" ? "READY_FOR_CUTOVER" : "SYNCING";
  });
  if (outcome === "stopped") return outcome;
  env.log(`copy done: ${final.documents} documents; indexes built (TTL inert, unique at cutover)`);
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
    if (batch.stored) await noteUnwritable(env, nsString(ns), batch, batch.stored);
    for (const [i, doc] of batch.entries()) {
      const size = batch.bsonSizes?.[i] ?? BSON.calculateObjectSize(doc);
      if (pending.length > 0 && bytes + size > budget) await flush();
      pending.push(doc);
      bytes += size;
    }
  }
  await flush();
  return copied;
}
