// The AtlasApiEmulator's checks of a LiveMigrationRequest body, answered as Atlas does: 400 VALIDATION_ERROR
// with one `badRequestDetail.fields` entry per violation. Rules from the v2 OpenAPI spec (required fields,
// enums, `migrationHosts` with exactly one item); the 2023-01-01 body names the drop flag `dropEnabled`.

export interface FieldViolation {
  field: string;
  description: string;
}

const HEX24 = /^[a-f0-9]{24}$/;
const HOSTNAME_SCHEMA_TYPES = ["PUBLIC", "PRIVATE_LINK", "VPC_PEERING"];

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

export function validateMigrationRequest(body: unknown, apiVersion: string, pathGroupId: string): FieldViolation[] {
  const out: FieldViolation[] = [];
  const bad = (field: string, description: string) => out.push({ field, description });
  if (!isObject(body)) {
    bad("body", "The request body must be a JSON object.");
    return out;
  }
  const source = body.source;
  if (!isObject(source)) bad("source", "This field is required.");
  else {
    if (typeof source.clusterName !== "string" || !source.clusterName) bad("source.clusterName", "This field is required.");
    if (typeof source.groupId !== "string" || !HEX24.test(source.groupId))
      bad("source.groupId", "Must be a 24-character hexadecimal Cloud Manager project id.");
    if (typeof source.managedAuthentication !== "boolean") bad("source.managedAuthentication", "This field is required.");
    if (typeof source.ssl !== "boolean") bad("source.ssl", "This field is required.");
    if (source.managedAuthentication === true && source.username !== undefined)
      bad("source.username", "Must be omitted when managedAuthentication is true.");
    if (source.username !== undefined && typeof source.password !== "string")
      bad("source.password", "Required together with source.username.");
  }
  const destination = body.destination;
  if (!isObject(destination)) bad("destination", "This field is required.");
  else {
    if (typeof destination.clusterName !== "string" || !destination.clusterName) bad("destination.clusterName", "This field is required.");
    if (typeof destination.groupId !== "string" || !HEX24.test(destination.groupId)) bad("destination.groupId", "Must be a 24-character hexadecimal Atlas project id.");
    else if (destination.groupId !== pathGroupId) bad("destination.groupId", "Must be the project in the request path.");
    if (!HOSTNAME_SCHEMA_TYPES.includes(destination.hostnameSchemaType as string))
      bad("destination.hostnameSchemaType", `Must be one of ${HOSTNAME_SCHEMA_TYPES.join(", ")}.`);
    if (destination.privateLinkId !== undefined && destination.hostnameSchemaType !== "PRIVATE_LINK")
      bad("destination.privateLinkId", "Only allowed with hostnameSchemaType PRIVATE_LINK.");
    if (destination.hostnameSchemaType === "PRIVATE_LINK" && typeof destination.privateLinkId !== "string")
      bad("destination.privateLinkId", "Required with hostnameSchemaType PRIVATE_LINK.");
  }
  const hosts = body.migrationHosts;
  if (!Array.isArray(hosts) || hosts.length !== 1 || typeof hosts[0] !== "string")
    bad("migrationHosts", "Must list exactly one migration host.");
  if (apiVersion >= "2024-05-30") {
    if (body.dropDestinationData !== undefined && typeof body.dropDestinationData !== "boolean")
      bad("dropDestinationData", "Must be a boolean.");
    if (body.dropEnabled !== undefined) bad("dropEnabled", "Unknown field in this API version; use dropDestinationData.");
  } else if (typeof body.dropEnabled !== "boolean") {
    bad("dropEnabled", "This field is required.");
  }
  if (body.sharding !== undefined) {
    const sharding = body.sharding;
    if (!isObject(sharding)) bad("sharding", "Must be an object.");
    else {
      if (typeof sharding.createSupportingIndexes !== "boolean") bad("sharding.createSupportingIndexes", "This field is required.");
      const entries = sharding.shardingEntries;
      if (!Array.isArray(entries)) bad("sharding.shardingEntries", "This field is required.");
      else {
        const seen = new Set<string>();
        entries.forEach((entry, i) => {
          const at = `sharding.shardingEntries[${i}]`;
          if (!isObject(entry) || typeof entry.database !== "string" || typeof entry.collection !== "string") {
            bad(at, "database and collection are required.");
            return;
          }
          const key = isObject(entry.shardCollection) ? entry.shardCollection.key : undefined;
          if (!Array.isArray(key) || key.length === 0) bad(`${at}.shardCollection.key`, "This field is required.");
          const ns = `${entry.database}.${entry.collection}`;
          if (seen.has(ns)) bad(at, `Duplicate entry for ${ns}.`);
          seen.add(ns);
        });
      }
    }
  }
  return out;
}
