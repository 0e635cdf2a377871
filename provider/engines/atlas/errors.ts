// The typed error for a request Atlas refused, with a message a user can act on (never a stack or a body dump).

import { MigrationError, redact } from "../../errors";
import type { AtlasErrorBody } from "./types";

export interface FieldViolation {
  /** Atlas's name of the request field, e.g. "source.groupId". */
  field: string;
  description: string;
}

export interface AtlasErrorInfo {
  /** Operation id, e.g. "validate". */
  operation: string;
  /** HTTP status; 0 when no response came back at all. */
  status: number;
  errorCode: string;
  detail: string;
  parameters: unknown[];
  fieldViolations: FieldViolation[];
  /** The API version the call asked for (for VERSION_GONE). */
  apiVersion?: string;
  /** Set when we stopped retrying a retryable answer. */
  gaveUp?: { attempts: number; reason: "deadline" | "attempts" };
}

const OPERATION_LABELS: Record<string, string> = {
  createLinkToken: "creating the live-migration link token",
  deleteLinkTokens: "deleting the live-migration link token",
  listAvailableProjects: "listing the Cloud Manager projects available for live migration",
  validate: "validating the live migration",
  getValidation: "reading the live-migration validation",
  createMigration: "creating the live migration",
  getMigration: "reading the live migration",
  cutover: "starting the live-migration cutover",
  oauthToken: "getting a service-account access token",
};

export function operationLabel(operation: string): string {
  return OPERATION_LABELS[operation] ?? operation;
}

/** Atlas refused a request, or kept failing it until we stopped retrying. */
export class AtlasApiError extends MigrationError {
  readonly operation: string;
  readonly status: number;
  readonly errorCode: string;
  readonly detail: string;
  readonly parameters: unknown[];
  readonly fieldViolations: FieldViolation[];
  readonly gaveUp?: { attempts: number; reason: "deadline" | "attempts" };

  constructor(info: AtlasErrorInfo) {
    super("ATLAS_API_ERROR", describeAtlasError(info));
    this.name = "AtlasApiError";
    this.operation = info.operation;
    this.status = info.status;
    this.errorCode = info.errorCode;
    this.detail = redact(info.detail);
    this.parameters = info.parameters;
    this.fieldViolations = info.fieldViolations.map((f) => ({ field: f.field, description: redact(f.description) }));
    this.gaveUp = info.gaveUp;
  }

  /** 429 or 5xx: Atlas may serve the same request later. */
  get retryable(): boolean {
    return this.status === 429 || this.status >= 500 || this.status === 0;
  }
}

/** Reads an error envelope; tolerates bodies that are not JSON (proxies, load balancers). */
export function parseErrorBody(text: string): AtlasErrorBody {
  try {
    const parsed: unknown = JSON.parse(text);
    if (parsed && typeof parsed === "object") return parsed as AtlasErrorBody;
  } catch {
    /* not JSON: fall through */
  }
  const snippet = text.replace(/\s+/g, " ").trim().slice(0, 200);
  return { detail: snippet || undefined };
}

export function errorInfoFrom(operation: string, status: number, body: AtlasErrorBody, apiVersion?: string): AtlasErrorInfo {
  const fields = Array.isArray(body.badRequestDetail?.fields) ? body.badRequestDetail!.fields! : [];
  return {
    operation,
    status,
    errorCode: typeof body.errorCode === "string" && body.errorCode ? body.errorCode : `HTTP_${status}`,
    detail: typeof body.detail === "string" && body.detail ? body.detail : body.reason ?? `HTTP ${status}`,
    parameters: Array.isArray(body.parameters) ? body.parameters : [],
    fieldViolations: fields
      .filter((f) => f && typeof f.field === "string")
      .map((f) => ({ field: f.field, description: String(f.description ?? "") })),
    apiVersion,
  };
}

function describeAtlasError(info: AtlasErrorInfo): string {
  const what = operationLabel(info.operation);
  const code = info.errorCode;
  if (info.gaveUp) {
    const answer = info.status === 0 ? `could not be reached (${info.detail})` : `kept answering HTTP ${info.status} (${code})`;
    const why =
      info.gaveUp.reason === "deadline"
        ? "the next retry would pass this operation's deadline"
        : "the retry budget is spent";
    return `Atlas ${answer} while ${what}; gave up after ${info.gaveUp.attempts} attempt(s) because ${why}. Run \`pulumi up\` again later`;
  }
  if (info.operation === "createMigration" && (info.status >= 500 || info.status === 0)) {
    // Not retried (see client.ts): the job may exist now, and the API has no way to list migrations.
    return (
      `Atlas failed while ${what} (${info.status ? `HTTP ${info.status}, ` : ""}${code}): ${info.detail}. The migration may or ` +
      "may not have been created and the API cannot list migrations: check Atlas → Organization → Live Migration; " +
      "if it is there, set atlasPush.adoptLiveMigrationId to its id and run `pulumi up` again (otherwise just run it again)"
    );
  }
  if (info.status === 410 || code === "VERSION_GONE") {
    return (
      `Atlas no longer serves API version ${info.apiVersion ?? "(unknown)"} used for ${what} (VERSION_GONE). ` +
      `Upgrade pulumi-atlas-migration to a release that uses a current Atlas API version`
    );
  }
  if (info.status === 406) {
    return `Atlas did not accept the API version ${info.apiVersion ?? ""} requested for ${what} (${code}). Upgrade pulumi-atlas-migration`;
  }
  if (info.fieldViolations.length > 0) {
    return info.fieldViolations.map((f) => `Atlas rejected ${f.field}: ${f.description} (${code})`).join("; ");
  }
  switch (info.status) {
    case 401:
      return (
        `Atlas did not accept the credentials while ${what} (${code}): check the Atlas API key pair or service ` +
        `account configured for the provider, and that this machine's IP address is on its access list`
      );
    case 403:
      return (
        `Atlas denied ${what}: ${info.detail} (${code}). Push live migration needs an API key or service account ` +
        `with the Organization Owner role, used from an address on the organization's API access list`
      );
    case 404:
      return `Atlas found nothing while ${what}: ${info.detail} (${code}). Check the organization, project and migration ids`;
    default:
      return `Atlas rejected ${what}: ${info.detail} (${code}, HTTP ${info.status})`;
  }
}
