// The shapes mongosync's HTTP API sends and accepts (/api/v1/*), as documented for mongosync 1.0–1.22.
// Source: /work/shared/reference/atlas-and-mongosync-apis.md §3. Every field we do not rely on is optional:
// older versions omit the newer fields and the engine must work with what is there.

/** States documented in "mongosync states". A terminal failure state name is UNCONFIRMED (see phase.ts). */
export const MONGOSYNC_STATES = ["IDLE", "INITIALIZING", "RUNNING", "PAUSED", "COMMITTING", "COMMITTED", "REVERSING"] as const;
export type MongosyncState = (typeof MONGOSYNC_STATES)[number];

export function isKnownState(state: string): state is MongosyncState {
  return (MONGOSYNC_STATES as readonly string[]).includes(state);
}

/** Values of `verification.{source,destination}.phase`, least to most advanced. */
export const VERIFIER_PHASES = ["not started", "initial hashing", "stream hashing"] as const;

export interface VerifierSideProgress {
  phase?: string | null;
  lagTimeSeconds?: number | null;
  estimatedDocumentCount?: number | null;
  hashedDocumentCount?: number | null;
  scannedCollectionCount?: number | null;
  totalCollectionCount?: number | null;
}

/** The `progress` sub-document of GET /api/v1/progress. When IDLE everything but state/canCommit is null. */
export interface MongosyncProgress {
  state: string;
  canCommit: boolean;
  canWrite?: boolean | null;
  /** "collection copy" | "change event application" | "waiting for commit to complete" | "commit completed". */
  info?: string | null;
  /** 1.22+: "collection copy drain" | "steady state". */
  ceaStage?: string | null;
  /** 1.21+; null when IDLE or PAUSED. */
  lag?: { overallLagSeconds?: number | null; crudLagSeconds?: number | null; ddlLagSeconds?: number | null } | null;
  /** Deprecated in 1.21 but still sent; the only lag figure before 1.21. */
  lagTimeSeconds?: number | null;
  totalEventsApplied?: number | null;
  /** Total is global (same on every instance); copied is per instance (sum them). 1 and 0 before the copy. */
  collectionCopy?: { estimatedTotalBytes?: number | null; estimatedCopiedBytes?: number | null } | null;
  /** e.g. { Source: "cluster0: host:27017", Destination: "cluster1: host:27018" }. */
  directionMapping?: { Source?: string | null; Destination?: string | null } | null;
  mongosyncID?: string | null;
  coordinatorID?: string | null;
  estimatedSecondsToCEACatchup?: number | null;
  /** 1.19+, e.g. "4 hours", "less than 15 minutes", "not checked yet". */
  estimatedOplogTimeRemaining?: string | null;
  /** 1.19+, omitted when there are none. */
  warnings?: string[] | null;
  indexBuilding?: {
    indexesBuilt?: number | null;
    totalIndexesToBuild?: number | null;
    collectionsFinished?: number | null;
    collectionsTotal?: number | null;
  } | null;
  verification?: { source?: VerifierSideProgress | null; destination?: VerifierSideProgress | null } | null;
  // No version field is documented: the engine takes the version from mongosync.version only.
}

/** Every response: `{success: true, …}` or `{success: false, error, errorDescription}`. */
export interface MongosyncEnvelope {
  success: boolean;
  error?: string;
  errorDescription?: string;
  progress?: MongosyncProgress;
  [extra: string]: unknown;
}

/** One namespace-filter item. We only produce the literal forms; regex forms exist but are not used. */
export interface NamespaceFilterItem {
  database: string;
  collections?: string[];
}

export interface ShardingEntryBody {
  database: string;
  collection: string;
  shardCollection: { key: Array<Record<string, 1 | "hashed">> };
}

/** Body of POST /api/v1/start. Only fields the engine ever sends are listed. */
export interface StartRequestBody {
  source: "cluster0" | "cluster1";
  destination: "cluster0" | "cluster1";
  reversible?: boolean;
  /** ≤1.19 only (removed in 1.20). Booleans are the ≤1.10 spelling. */
  enableUserWriteBlocking?: "destinationOnly" | "sourceAndDestination" | "none" | boolean;
  includeNamespaces?: NamespaceFilterItem[];
  excludeNamespaces?: NamespaceFilterItem[];
  sharding?: { createSupportingIndexes: boolean; shardingEntries: ShardingEntryBody[] };
  verification?: { enabled: boolean };
}

export type MongosyncCommand = "start" | "pause" | "resume" | "commit" | "reverse";
