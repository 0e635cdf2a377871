// Verification: per collection, document counts and a SHA-256 over the canonical BSON of every document in
// `_id` order, computed on both sides. BSON bytes include the type of every value, so an Int64 that became a
// Double, a Decimal128 that became a string or a reordered field changes the hash. When hashes differ, a
// second pass lists a few `_id`s that differ (canonical Extended JSON) so the report says where to look.
import { createHash } from "crypto";
import { BSON, type Document } from "mongodb";
import type { ClusterPort, Namespace } from "../../cluster/port";
import type { NamespaceVerification, VerificationMode, VerificationReport } from "../engine";
import { DocumentStream, walkById } from "./merge";
import { nsString } from "./namespaces";

const { EJSON } = BSON;

const SAMPLE_IDS = 5;
const SCAN_BATCH = 1000;

/**
 * The bytes a document is hashed as: what a write of it stores. The driver writes a JS `undefined` (how it
 * reads the deprecated BSON undefined type) as null (ignoreUndefined: false, the driver's default and ours), while
 * BSON.serialize's own default drops the field — hashing with that default made a copied `undefined` (null on
 * the target, dropped from the source's hash) a mismatch no re-drain could fix. Every other type hashes exactly.
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

/** Count and content hash of one collection (an absent collection hashes like an empty one). */
export async function digestCollection(port: ClusterPort, ns: Namespace, skip: (doc: Document) => boolean = () => false): Promise<CollectionDigest> {
  const h = createHash("sha256");
  let count = 0;
  let expiring = 0;
  for await (const batch of port.scan(ns, {}, SCAN_BATCH)) {
    for (const doc of batch) {
      if (skip(doc)) {
        expiring++;
        continue;
      }
      h.update(storedBytes(doc));
      count++;
    }
  }
  return { count, hash: h.digest("hex"), expiring };
}

export function documentHash(doc: Document): string {
  return createHash("sha256").update(storedBytes(doc)).digest("base64");
}

function idText(id: unknown): string {
  return EJSON.stringify(id as Document, { relaxed: false });
}

/** The first few `_id`s (canonical Extended JSON) that are missing on one side or differ in content. */
async function sampleDifferences(source: ClusterPort, target: ClusterPort, ns: Namespace, skip: (doc: Document) => boolean): Promise<string[]> {
  const ids: string[] = [];
  await walkById(new DocumentStream(source.scan(ns, {}, SCAN_BATCH)), new DocumentStream(target.scan(ns, {}, SCAN_BATCH)), ({ source: s, target: t }) => {
    if ((s && skip(s)) || (t && skip(t))) return true;
    if (!s || !t || documentHash(s) !== documentHash(t)) ids.push(idText((s ?? t)!._id));
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
    const skip = rules.length === 0 ? () => false : (doc: Document) => mayExpire(doc, rules, horizon);
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
        ? `${results.length} collections, ${docs} documents: ${mode === "full" ? "counts and content hashes" : "counts"} match` +
          (expiring > 0 ? ` (${expiring} source documents due to expire under TTL indexes within ${EXPIRY_HORIZON_MS / 60_000} minutes left out)` : "")
        : `${bad.length} of ${results.length} collections differ: ${bad.map((r) => r.namespace).join(", ")}`,
    namespaces: results,
  };
}
