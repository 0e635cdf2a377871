// Verification: per collection, document counts and a SHA-256 over every document's stored BSON bytes in `_id`
// order, computed on both sides. The bytes are read raw (ClusterPort.scanStored: find with `raw: true`), never
// decoded and re-encoded, so verification compares what each side actually stores: an Int64 that became a
// Double, a reordered field, a DBPointer that became an embedded {$ref, $id, $db}, duplicate field names that
// collapsed, or a BSON undefined written as null all change the hash. When hashes differ, a second pass lists a
// few `_id`s that differ (canonical Extended JSON), each with what the driver could not write where that is the
// cause (provider/cluster/raw-bson.ts), so the report says where to look.
import { createHash } from "crypto";
import { BSON, type Document } from "mongodb";
import { EXACT_BSON } from "../../cluster/bson-order";
import type { ClusterPort, Namespace } from "../../cluster/port";
import { storedId, unwritableReason } from "../../cluster/raw-bson";
import type { NamespaceVerification, VerificationMode, VerificationReport } from "../engine";
import { DocumentStream, walkById } from "./merge";
import { nsString } from "./namespaces";

const { EJSON } = BSON;

const SAMPLE_IDS = 5;
const SCAN_BATCH = 1000;

/**
 * The bytes a decoded document is written as (the driver writes a JS `undefined` as null: ignoreUndefined false,
 * its default and ours). Used where decoded documents are compared (snapshot reconciliation), not by verification.
 */
export function storedBytes(doc: Document): Uint8Array {
  return BSON.serialize(doc, { ignoreUndefined: false });
}

export interface CollectionDigest {
  count: number;
  hash: string;
  /** Documents left out because a TTL index may delete them while the sides are read (see ExpiryRule). */
  expiring: number;
}

/**
 * A TTL index of the source: `field` a date, deleted `seconds` after it. The TTL monitor deletes on the source
 * while it is write-blocked (it is no user write) and at any moment between the two sides' reads, so a
 * document it may delete soon is left out of both sides' counts and hashes rather than failing verification at
 * random (the target's TTL indexes stay inert until after verification).
 */
export interface ExpiryRule {
  field: string;
  seconds: number;
}

/** How far ahead a document counts as "about to expire": longer than verifying one collection should take. */
export const EXPIRY_HORIZON_MS = 15 * 60 * 1000;

function fieldAt(doc: Document, path: string): unknown {
  let current: unknown = doc;
  for (const part of path.split(".")) {
    if (current === null || typeof current !== "object" || Array.isArray(current)) return undefined;
    current = (current as Document)[part];
  }
  return current;
}

/** A Date from any realm (BSON decodes dates with the host's Date, which a test runner's sandbox does not share). */
function isDate(v: unknown): v is Date {
  return Object.prototype.toString.call(v) === "[object Date]";
}

/** Whether the TTL monitor may delete `doc` before `horizonMs` (the earliest date of an array counts). */
export function mayExpire(doc: Document, rules: ExpiryRule[], horizonMs: number): boolean {
  for (const rule of rules) {
    const value = fieldAt(doc, rule.field);
    const dates = (Array.isArray(value) ? value : [value]).filter(isDate);
    if (dates.some((d) => d.getTime() + rule.seconds * 1000 <= horizonMs)) return true;
  }
  return false;
}

/** Decides from a stored document whether it is left out (TTL); decodes only when there are rules. */
type Skip = ((bytes: Uint8Array) => boolean) | undefined;

/** Count and content hash of one collection's stored bytes (an absent collection hashes like an empty one). */
export async function digestCollection(port: ClusterPort, ns: Namespace, skip?: Skip): Promise<CollectionDigest> {
  const h = createHash("sha256");
  let count = 0;
  let expiring = 0;
  for await (const batch of port.scanStored(ns, {}, SCAN_BATCH)) {
    for (const bytes of batch) {
      if (skip?.(bytes)) {
        expiring++;
        continue;
      }
      h.update(bytes);
      count++;
    }
  }
  return { count, hash: h.digest("hex"), expiring };
}

/** Hash of a decoded document as the driver would write it (snapshot reconciliation compares these). */
export function documentHash(doc: Document): string {
  return createHash("sha256").update(storedBytes(doc)).digest("base64");
}

function idText(id: unknown): string {
  return EJSON.stringify(id as Document, { relaxed: false });
}

/** A stored document as the `_id` merge join walks it: its `_id` read from the bytes, and the bytes. */
function storedStream(port: ClusterPort, ns: Namespace): DocumentStream {
  const batches = async function* (): AsyncGenerator<Document[]> {
    for await (const batch of port.scanStored(ns, {}, SCAN_BATCH)) yield batch.map((bytes) => ({ _id: storedId(bytes), bytes }));
  };
  return new DocumentStream(batches());
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.byteLength), Buffer.from(b.buffer, b.byteOffset, b.byteLength)) === 0;
}

/**
 * The first few `_id`s (canonical Extended JSON) missing on one side or stored differently; where the source's
 * document holds what the driver cannot write exactly, that is said next to its `_id`.
 */
async function sampleDifferences(source: ClusterPort, target: ClusterPort, ns: Namespace, skip: Skip): Promise<string[]> {
  const ids: string[] = [];
  await walkById(storedStream(source, ns), storedStream(target, ns), ({ source: s, target: t }) => {
    if ((s && skip?.(s.bytes)) || (t && skip?.(t.bytes))) return true;
    if (!s || !t || !sameBytes(s.bytes, t.bytes)) {
      const reason = s ? unwritableReason(s.bytes) : undefined;
      const id = idText((s ?? t)!._id);
      ids.push(reason ? `${id} (the source stores ${reason}, which the Node.js driver cannot write as it is)` : id);
    }
    return ids.length < SAMPLE_IDS;
  });
  return ids;
}

export async function verifyNamespaces(
  source: ClusterPort,
  target: ClusterPort,
  namespaces: Namespace[],
  mode: Exclude<VerificationMode, "none">,
  ttl: { rules: Map<string, ExpiryRule[]>; now: () => number } = { rules: new Map(), now: Date.now },
): Promise<VerificationReport> {
  const results: NamespaceVerification[] = [];
  let expiring = 0;
  for (const ns of namespaces) {
    if (mode === "counts") {
      const [sourceCount, targetCount] = await Promise.all([source.countDocuments(ns), target.countDocuments(ns)]);
      results.push({ namespace: nsString(ns), sourceCount, targetCount, match: sourceCount === targetCount });
      continue;
    }
    const rules = ttl.rules.get(nsString(ns)) ?? [];
    // One horizon for both sides, so a document is left out of both or of neither.
    const horizon = ttl.now() + EXPIRY_HORIZON_MS;
    const skip: Skip = rules.length === 0 ? undefined : (bytes) => mayExpire(BSON.deserialize(bytes, EXACT_BSON), rules, horizon);
    const [s, t] = await Promise.all([digestCollection(source, ns, skip), digestCollection(target, ns, skip)]);
    expiring += s.expiring;
    const match = s.count === t.count && s.hash === t.hash;
    const entry: NamespaceVerification = {
      namespace: nsString(ns),
      sourceCount: s.count,
      targetCount: t.count,
      sourceHash: s.hash,
      targetHash: t.hash,
      match,
    };
    if (!match) entry.sampleMismatchedIds = await sampleDifferences(source, target, ns, skip);
    results.push(entry);
  }
  const bad = results.filter((r) => !r.match);
  const docs = results.reduce((n, r) => n + r.sourceCount, 0);
  return {
    mode,
    passed: bad.length === 0,
    summary:
      bad.length === 0
        ? `${results.length} collections, ${docs} documents: ${mode === "full" ? "counts and hashes of the stored BSON" : "counts"} match` +
          (expiring > 0 ? ` (${expiring} source documents due to expire under TTL indexes within ${EXPIRY_HORIZON_MS / 60_000} minutes left out)` : "")
        : `${bad.length} of ${results.length} collections differ: ${bad.map((r) => r.namespace).join(", ")}`,
    namespaces: results,
  };
}
