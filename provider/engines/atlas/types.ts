// Shapes of the Atlas Admin API v2 live-migration (push) resources, as documented in the v2 OpenAPI spec
// (see shared reference notes §2). Only the fields we read or send are typed.

/** GET /orgs/{orgId}/liveMigrations/availableProjects: one Cloud Manager project visible through the org link. */
export interface AvailableProject {
  projectId: string;
  name: string;
  migrationHosts: string[];
  deployments: AvailableDeployment[];
}

/**
 * AvailableClustersDeployment (atlas-sdk-go admin/model_available_clusters_deployment.go, generated from the v2
 * spec): name, mongoDBVersion, featureCompatibilityVersion, managed, sharded and tlsEnabled are required there;
 * typed optional here so that an older answer without them still reads.
 */
export interface AvailableDeployment {
  clusterId?: string;
  name: string;
  mongoDBVersion?: string;
  featureCompatibilityVersion?: string;
  /** "Flag that indicates whether Automation manages this cluster." */
  managed?: boolean;
  /** "Flag that indicates whether someone enabled TLS for this cluster." */
  tlsEnabled?: boolean;
  sharded?: boolean;
  shardsSize?: number;
  dbSizeBytes?: number;
  oplogSizeMB?: number;
  agentVersion?: string;
}

export type HostnameSchemaType = "PUBLIC" | "PRIVATE_LINK" | "VPC_PEERING";

/** LiveMigrationRequest20240530: the body of both validate and create. */
export interface LiveMigrationRequest {
  source: {
    clusterName: string;
    groupId: string;
    managedAuthentication: boolean;
    ssl: boolean;
    caCertificatePath?: string;
    username?: string;
    password?: string;
  };
  destination: {
    clusterName: string;
    groupId: string;
    hostnameSchemaType: HostnameSchemaType;
    privateLinkId?: string;
  };
  migrationHosts: string[];
  dropDestinationData: boolean;
  sharding?: {
    createSupportingIndexes: boolean;
    shardingEntries: Array<{
      database: string;
      collection: string;
      shardCollection: { key: Array<Record<string, 1 | -1 | "hashed">> };
    }>;
  };
}

export type ValidationStatus = "PENDING" | "SUCCESS" | "FAILED";

/** LiveImportValidation. */
export interface LiveImportValidation {
  _id: string;
  groupId?: string;
  sourceGroupId?: string;
  status: ValidationStatus | null;
  errorMessage?: string | null;
}

export type LiveMigrationState = "NEW" | "WORKING" | "FAILED" | "COMPLETE" | "EXPIRED";

/** LiveMigrationResponse. */
export interface LiveMigration {
  _id: string;
  status: LiveMigrationState | null;
  readyForCutover?: boolean;
  lagTimeSeconds?: number | null;
  migrationHosts?: string[];
}

/** TargetOrg. */
export interface LinkToken {
  linkToken: string;
}

/** ApiError: the error envelope every Admin API endpoint uses. */
export interface AtlasErrorBody {
  error?: number;
  errorCode?: string;
  reason?: string;
  detail?: string;
  parameters?: unknown[];
  badRequestDetail?: { fields?: Array<{ field: string; description: string }> };
}
