// Atlas Administration API v2 client for the eight push live-migration operations.
//
// Every operation names its own API version (the Accept header selects the resource version), retries 429
// and 5xx with jittered exponential backoff that honours Retry-After and never outlives the caller's
// deadline, and turns every refusal into an AtlasApiError whose message says what to fix.

import { createHash } from "crypto";
import { MigrationError, registerSecret } from "../../errors";
import { parseRetryAfter, retryWithBackoff, type AttemptOutcome, type BackoffPolicy } from "../http/retry";
import { nodeTransport, TransportError, type HttpResponse, type HttpTransport } from "../http/transport";
import {
  AccessTokenAuthenticator,
  DigestAuthenticator,
  ServiceAccountAuthenticator,
  requestTimeoutMs,
  transportFailure,
  withGaveUp,
  type Authenticator,
  type CallContext,
} from "./auth";
import { AtlasApiError, errorInfoFrom, parseErrorBody } from "./errors";
import type {
  AvailableProject,
  LinkToken,
  LiveImportValidation,
  LiveMigration,
  LiveMigrationRequest,
} from "./types";

export type { CallContext } from "./auth";

export const DEFAULT_ATLAS_BASE_URL = "https://cloud.mongodb.com";
/** Atlas for Government: the same API at another base URL (https://www.mongodb.com/docs/atlas/government/api). */
export const GOV_ATLAS_BASE_URL = "https://cloud.mongodbgov.com";

/** The resource versions we speak. create/validate moved to 2024-05-30 (dropEnabled → dropDestinationData). */
export const API_VERSIONS = {
  createLinkToken: "2023-01-01",
  deleteLinkTokens: "2023-01-01",
  listAvailableProjects: "2023-01-01",
  validate: "2024-05-30",
  getValidation: "2023-01-01",
  createMigration: "2024-05-30",
  getMigration: "2023-01-01",
  cutover: "2023-01-01",
} as const;

export type AtlasOperation = keyof typeof API_VERSIONS;

export interface AtlasCredentials {
  baseUrl?: string;
  publicKey?: string;
  privateKey?: string;
  clientId?: string;
  clientSecret?: string;
  /** An OAuth access token used as is (`mongodbatlas:accessToken`). */
  accessToken?: string;
  /** `mongodbatlas:isMongodbgovCloud`: without an explicit baseUrl, talk to Atlas for Government. */
  isMongodbgovCloud?: boolean;
}

export interface AtlasClientOptions {
  credentials: AtlasCredentials;
  transport?: HttpTransport;
  backoff?: Partial<BackoffPolicy>;
  random?: () => number;
}

/** Atlas's own advice is to wait Retry-After and then back off exponentially; we start at 2 s and cap at 60 s. */
const ATLAS_BACKOFF: BackoffPolicy = { initialDelayMs: 2000, maxDelayMs: 60_000, maxAttempts: Infinity };

interface OperationRequest {
  operation: AtlasOperation;
  method: "GET" | "POST" | "PUT" | "DELETE";
  path: string;
  body?: unknown;
  /** HTTP statuses that mean success. */
  expect: number[];
  /**
   * false when repeating the call after an ambiguous failure could do the thing twice. Creating a migration
   * has no list operation to check against, so a 500 or a reset connection after sending it is not retried
   * (429 and 503 are: Atlas refused those before doing anything).
   */
  idempotent: boolean;
}

function missingCredentials(): MigrationError {
  return new MigrationError(
    "ATLAS_CREDENTIALS_MISSING",
    "no Atlas API credentials: configure an API key pair (publicKey/privateKey), a service account (clientId/clientSecret) or an accessToken " +
      "in the provider configuration (or AtlasMigration's atlasCredentials) or the MONGODB_ATLAS_* environment variables",
  );
}

function hex24(name: string, value: string): string {
  // Ids go into the URL path; refusing anything else keeps a typo from addressing another resource.
  if (!/^[a-f0-9]{24}$/.test(value)) {
    throw new AtlasApiError({
      operation: name, status: 400, errorCode: "INVALID_ID",
      detail: `expected a 24-character hex id, got "${value}"`, parameters: [], fieldViolations: [],
    });
  }
  return value;
}

export class AtlasClient {
  readonly baseUrl: string;
  readonly auth: Authenticator;
  private readonly transport: HttpTransport;
  private readonly backoff: BackoffPolicy;
  private readonly random?: () => number;

  constructor(options: AtlasClientOptions) {
    const creds = options.credentials;
    this.baseUrl = (creds.baseUrl || (creds.isMongodbgovCloud ? GOV_ATLAS_BASE_URL : DEFAULT_ATLAS_BASE_URL)).replace(/\/+$/, "");
    this.transport = options.transport ?? nodeTransport;
    this.backoff = { ...ATLAS_BACKOFF, ...(options.backoff ?? {}) };
    this.random = options.random;
    if (creds.accessToken) {
      this.auth = new AccessTokenAuthenticator(creds.accessToken);
    } else if (creds.clientId && creds.clientSecret) {
      this.auth = new ServiceAccountAuthenticator({
        baseUrl: this.baseUrl, clientId: creds.clientId, clientSecret: creds.clientSecret,
        transport: this.transport, backoff: this.backoff, random: this.random,
      });
    } else if (creds.publicKey && creds.privateKey) {
      this.auth = new DigestAuthenticator(creds.publicKey, creds.privateKey);
    } else {
      throw missingCredentials();
    }
  }

  // ---- the eight operations -------------------------------------------------------------------------------

  async createLinkToken(call: CallContext, orgId: string, accessListIps?: string[]): Promise<LinkToken> {
    const body = accessListIps && accessListIps.length > 0 ? { accessListIps } : {};
    const token = await this.request<LinkToken>(call, {
      operation: "createLinkToken", method: "POST", path: `/api/atlas/v2/orgs/${hex24("orgId", orgId)}/liveMigrations/linkTokens`,
      body, expect: [200, 201], idempotent: true,
    });
    registerSecret(token.linkToken);
    return token;
  }

  async deleteLinkTokens(call: CallContext, orgId: string): Promise<void> {
    await this.request<void>(call, {
      operation: "deleteLinkTokens", method: "DELETE", path: `/api/atlas/v2/orgs/${hex24("orgId", orgId)}/liveMigrations/linkTokens`,
      expect: [200, 202, 204], idempotent: true,
    });
  }

  async listAvailableProjects(call: CallContext, orgId: string): Promise<AvailableProject[]> {
    const projects = await this.request<AvailableProject[]>(call, {
      operation: "listAvailableProjects", method: "GET",
      path: `/api/atlas/v2/orgs/${hex24("orgId", orgId)}/liveMigrations/availableProjects`, expect: [200], idempotent: true,
    });
    return Array.isArray(projects) ? projects : [];
  }

  async validate(call: CallContext, groupId: string, body: LiveMigrationRequest): Promise<LiveImportValidation> {
    return this.request<LiveImportValidation>(call, {
      operation: "validate", method: "POST", path: `/api/atlas/v2/groups/${hex24("groupId", groupId)}/liveMigrations/validate`,
      body, expect: [200, 201], idempotent: true,
    });
  }

  async getValidation(call: CallContext, groupId: string, validationId: string): Promise<LiveImportValidation> {
    return this.request<LiveImportValidation>(call, {
      operation: "getValidation", method: "GET",
      path: `/api/atlas/v2/groups/${hex24("groupId", groupId)}/liveMigrations/validate/${hex24("validationId", validationId)}`,
      expect: [200], idempotent: true,
    });
  }

  async createMigration(call: CallContext, groupId: string, body: LiveMigrationRequest): Promise<LiveMigration> {
    return this.request<LiveMigration>(call, {
      operation: "createMigration", method: "POST", path: `/api/atlas/v2/groups/${hex24("groupId", groupId)}/liveMigrations`,
      body, expect: [200, 201], idempotent: false,
    });
  }

  async getMigration(call: CallContext, groupId: string, liveMigrationId: string): Promise<LiveMigration> {
    return this.request<LiveMigration>(call, {
      operation: "getMigration", method: "GET",
      path: `/api/atlas/v2/groups/${hex24("groupId", groupId)}/liveMigrations/${hex24("liveMigrationId", liveMigrationId)}`,
      expect: [200], idempotent: true,
    });
  }

  async cutover(call: CallContext, groupId: string, liveMigrationId: string): Promise<void> {
    await this.request<void>(call, {
      operation: "cutover", method: "PUT",
      path: `/api/atlas/v2/groups/${hex24("groupId", groupId)}/liveMigrations/${hex24("liveMigrationId", liveMigrationId)}/cutover`,
      expect: [200, 202, 204], idempotent: true,
    });
  }

  // ---- one request, with auth and retries -----------------------------------------------------------------

  private async request<T>(call: CallContext, op: OperationRequest): Promise<T> {
    const version = API_VERSIONS[op.operation];
    const mediaType = `application/vnd.atlas.${version}+json`;
    const headers: Record<string, string> = { Accept: mediaType, "User-Agent": "pulumi-atlas-migration" };
    // UNCONFIRMED whether Atlas insists on the versioned Content-Type; the official Go SDK sends it, so do we.
    if (op.body !== undefined) headers["Content-Type"] = mediaType;
    const body = op.body === undefined ? undefined : JSON.stringify(op.body);

    const response = await retryWithBackoff<HttpResponse>(
      () => this.attempt(call, op, headers, body, version),
      {
        clock: call,
        deadline: call.deadline,
        policy: this.backoff,
        random: this.random,
        onRetry: ({ delayMs, error }) => {
          const why = error instanceof AtlasApiError ? (error.status ? `HTTP ${error.status}` : error.errorCode) : "an error";
          call.log?.(`Atlas answered ${why} to ${op.operation}; retrying in ${Math.ceil(delayMs / 1000)} s`);
        },
        giveUp: (last, info) => withGaveUp(last, info),
      },
    );
    if (response.status === 204 || response.body.trim() === "") return undefined as T;
    try {
      return JSON.parse(response.body) as T;
    } catch {
      throw new AtlasApiError({
        operation: op.operation, status: response.status, errorCode: "INVALID_RESPONSE",
        detail: "Atlas answered with a body that is not JSON", parameters: [], fieldViolations: [],
      });
    }
  }

  private async attempt(
    call: CallContext,
    op: OperationRequest,
    headers: Record<string, string>,
    body: string | undefined,
    version: string,
  ): Promise<AttemptOutcome<HttpResponse>> {
    // Digest may need two extra round trips (first challenge, then a stale nonce); a bearer token one refresh.
    const authRetries = this.auth.kind === "digest" ? 2 : 1;
    let response: HttpResponse | undefined;
    for (let i = 0; i <= authRetries; i++) {
      const authorization = await this.auth.header(op.method, op.path, call);
      try {
        response = await this.transport({
          method: op.method,
          url: this.baseUrl + op.path,
          headers: authorization ? { ...headers, Authorization: authorization } : headers,
          body,
          timeoutMs: requestTimeoutMs(call),
        });
      } catch (err) {
        if (!(err instanceof TransportError)) throw err;
        const error = transportFailure(op.operation, err);
        return op.idempotent || !err.maybeProcessed ? { kind: "retry", error } : { kind: "fatal", error };
      }
      if (response.status !== 401 || !this.auth.onUnauthorized(response, authorization)) break;
    }
    const res = response!;
    if (op.expect.includes(res.status)) return { kind: "done", value: res };
    const error = new AtlasApiError(errorInfoFrom(op.operation, res.status, parseErrorBody(res.body), version));
    const rejectedBeforeProcessing = res.status === 429 || res.status === 503;
    if (rejectedBeforeProcessing || (res.status >= 500 && op.idempotent)) {
      return { kind: "retry", error, retryAfterMs: parseRetryAfter(res.headers["retry-after"], call.now()) };
    }
    return { kind: "fatal", error };
  }
}

// One client per credential set for the life of the process, so a digest nonce and a bearer token are reused
// across engine calls instead of re-challenging every time. Keyed by a hash, never by the secret itself.
const clients = new Map<string, AtlasClient>();

export function atlasClientFor(credentials: AtlasCredentials | undefined): AtlasClient {
  if (!credentials) throw missingCredentials();
  const key = createHash("sha256")
    .update(JSON.stringify([credentials.baseUrl ?? "", credentials.publicKey ?? "", credentials.privateKey ?? "",
      credentials.clientId ?? "", credentials.clientSecret ?? "", credentials.accessToken ?? "", credentials.isMongodbgovCloud === true]))
    .digest("hex");
  let client = clients.get(key);
  if (!client) {
    client = new AtlasClient({ credentials });
    clients.set(key, client);
  }
  return client;
}
