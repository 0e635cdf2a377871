// Shapes of the Atlas Admin API v2 live-migration (push) resources, as documented in the v2 OpenAPI spec
// (see shared reference notes §2). Only the fields we read or send are typed.

/** GET /orgs/{orgId}/liveMigrations/availableProjects: one Cloud Manager project visible through the org link. */
export interface AvailableProject {
  projectId: string;
  name: string;
  migrationHosts: string[];
  deployments: AvailableDeployment[];
}

export interface AvailableDeployment {
  clusterId?: string;
  name: string;
  mongoDBVersion?: string;
  featureCompatibilityVersion?: string;
  managed?: boolean;
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
