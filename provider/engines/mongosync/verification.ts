// What the cutover report says about verification, from what actually happened — never a fixed `passed: true`.
//
// mongosync's embedded verifier (1.9+) hashes both clusters while syncing and fails the migration on a mismatch
// instead of committing it (v1.9 reference/verification/embedded.txt, "If the verifier encounters errors, it fails
// the migration"). So COMMITTED is a pass — but only for what the verifier checks, and only when it ran:
//   - none before 1.9; 1.9 disables it when a sharded cluster takes part (v1.9 fact-verifier-limitations.rst);
//   - it never checks capped collections, collections with TTL indexes or a non-default collation
//     (v1.9–v1.14 fact-verifier-unsupported.rst), and before 1.15 not views, collection metadata or indexes
//     either (1.15 release notes, "Verify Metadata");
//   - /reverse disables it (v1.9–v1.13 fact-verifier-limitations.rst).
// Where mongosync did not verify and both connection strings are known, the engine verifies itself with the
// builtin engine's counts and content hashes (read-only import); otherwise the report says "not verified".
import { openCluster } from "../../cluster/open";
import type { ClusterPort, Namespace } from "../../cluster/port";
import { describeError, redact } from "../../errors";
import { namespaceMatcher } from "../builtin/namespaces";
import { verifyNamespaces } from "../builtin/verify";
import type { MigrationSpec, VerificationReport } from "../engine";
import type { CombinedProgress } from "./progress";
import { atLeast, type MongosyncVersion } from "./start-body";

/** What the engine saw of the embedded verifier before /commit was sent (undefined when it did not see it). */
export interface VerificationFacts {
  /** Verifier phase and lag right before /commit, on the slowest side. */
  phaseAtCommit: string | null;
  lagAtCommit: number | null;
}

/** What mongosync's embedded verifier does not check, for this version. */
export function notCheckedByVerifier(version: MongosyncVersion | undefined): string {
  const always = "capped collections, collections with TTL indexes, collections with a non-default collation";
  if (version && atLeast(version, 1, 15)) return always;
  return `${always}, views, collection metadata and indexes${version ? "" : " (1.15 and later check views, metadata and indexes)"}`;
}

/** The report when mongosync's verifier ran and mongosync reached COMMITTED. */
export function embeddedReport(c: CombinedProgress, version: MongosyncVersion | undefined, facts: VerificationFacts | undefined): VerificationReport {
  const seen = facts
    ? `it was in "${facts.phaseAtCommit}" with ${facts.lagAtCommit ?? "unknown"} s lag when /commit was sent`
    : `its last reported phase is "${c.verifier.phase}"`;
  return {
    mode: "engine",
    passed: true,
    summary:
      `mongosync's embedded verifier ran (${seen}) and mongosync reached COMMITTED on ${c.states.length} instance(s); ` +
      `a verifier mismatch fails the migration instead of committing it. Not checked by that verifier: ${notCheckedByVerifier(version)} — ` +
      "check those yourself",
    namespaces: [],
  };
}

/** Nobody verified: says why, and `passed` is true only when the user chose verificationMode "none". */
export function notVerifiedReport(spec: MigrationSpec, why: string): VerificationReport {
  const chosen = spec.verification === "none";
  return {
    mode: "none",
    passed: chosen,
    summary: redact(`not verified: ${why}${chosen ? " (verificationMode \"none\": verify the data yourself before moving the application)" : ""}`),
    namespaces: [],
  };
}

/** mongosync's own databases on either side: never compared. */
function isMongosyncMetadata(db: string): boolean {
  return db.startsWith("mongosync_reserved_for") || db.startsWith("mongosync_internal_") || db.startsWith("__mdb_internal_mongosync");
}

async function collectionsToCompare(spec: MigrationSpec, source: ClusterPort, target: ClusterPort): Promise<Namespace[]> {
  const matcher = namespaceMatcher(spec.namespaces);
  const names = new Map<string, Namespace>();
  for (const port of [source, target]) {
    for (const c of await port.listCollections()) {
      if (c.kind !== "collection" || isMongosyncMetadata(c.db) || !matcher.includes(c.db, c.name)) continue;
      names.set(`${c.db}.${c.name}`, { db: c.db, coll: c.name });
    }
  }
  return [...names.values()].sort((a, b) => `${a.db}.${a.coll}`.localeCompare(`${b.db}.${b.coll}`));
}

/**
 * Compares the two clusters with the builtin engine's verification (counts, and content hashes in "full"):
 * `from` is the cluster that was synced from. Connection failures become an error that says so.
 */
export async function verifyOurselves(spec: MigrationSpec, why: string, from: "source" | "target" = "source"): Promise<VerificationReport> {
  if (spec.verification === "none") return notVerifiedReport(spec, why);
  if (!spec.source.uri || !spec.target.uri) return notVerifiedReport(spec, `${why}, and source.uri / target.uri are not both given`);
  let source: ClusterPort | undefined;
  let target: ClusterPort | undefined;
  try {
    source = await openCluster(from === "source" ? spec.source.uri : spec.target.uri, { appName: "pulumi-atlas-migration" });
    target = await openCluster(from === "source" ? spec.target.uri : spec.source.uri, { appName: "pulumi-atlas-migration" });
    const namespaces = await collectionsToCompare(spec, source, target);
    const report = await verifyNamespaces(source, target, namespaces, spec.verification);
    return { ...report, summary: redact(`${why}, so the engine compared the clusters itself: ${report.summary}`) };
  } catch (err) {
    return {
      mode: spec.verification,
      passed: false,
      summary: redact(`${why}, and the engine's own comparison could not run: ${describeError(err)}`),
      namespaces: [],
    };
  } finally {
    await source?.close().catch(() => undefined);
    await target?.close().catch(() => undefined);
  }
}
