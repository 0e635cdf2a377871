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
}

/** Count and content hash of one collection (an absent collection hashes like an empty one). */
export async function digestCollection(port: ClusterPort, ns: Namespace): Promise<CollectionDigest> {
  const h = createHash("sha256");
  let count = 0;
  for await (const batch of port.scan(ns, {}, SCAN_BATCH)) {
    for (const doc of batch) {
      h.update(storedBytes(doc));
      count++;
    }
  }
  return { count, hash: h.digest("hex") };
}

export function documentHash(doc: Document): string {
  return createHash("sha256").update(storedBytes(doc)).digest("base64");
}

function idText(id: unknown): string {
  return EJSON.stringify(id as Document, { relaxed: false });
}

/** The first few `_id`s (canonical Extended JSON) that are missing on one side or differ in content. */
async function sampleDifferences(source: ClusterPort, target: ClusterPort, ns: Namespace): Promise<string[]> {
  const ids: string[] = [];
  await walkById(new DocumentStream(source.scan(ns, {}, SCAN_BATCH)), new DocumentStream(target.scan(ns, {}, SCAN_BATCH)), ({ source: s, target: t }) => {
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
): Promise<VerificationReport> {
  const results: NamespaceVerification[] = [];
  for (const ns of namespaces) {
    if (mode === "counts") {
      const [sourceCount, targetCount] = await Promise.all([source.countDocuments(ns), target.countDocuments(ns)]);
      results.push({ namespace: nsString(ns), sourceCount, targetCount, match: sourceCount === targetCount });
      continue;
    }
    const [s, t] = await Promise.all([digestCollection(source, ns), digestCollection(target, ns)]);
    const match = s.count === t.count && s.hash === t.hash;
    const entry: NamespaceVerification = {
      namespace: nsString(ns),
      sourceCount: s.count,
      targetCount: t.count,
      sourceHash: s.hash,
      targetHash: t.hash,
      match,
    };
    if (!match) entry.sampleMismatchedIds = await sampleDifferences(source, target, ns);
    results.push(entry);
  }
  const bad = results.filter((r) => !r.match);
  const docs = results.reduce((n, r) => n + r.sourceCount, 0);
  return {
    mode,
    passed: bad.length === 0,
    summary:
      bad.length === 0
        ? `${results.length} collections, ${docs} documents: ${mode === "full" ? "counts and content hashes" : "counts"} match`
        : `${bad.length} of ${results.length} collections differ: ${bad.map((r) => r.namespace).join(", ")}`,
    namespaces: results,
  };
}
