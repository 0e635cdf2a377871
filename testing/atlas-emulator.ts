// AtlasApiEmulator: a local HTTP stand-in for the Atlas Administration API v2 live-migration (push)
// endpoints, for tests and demos that must not touch real Atlas.
//
// It behaves like the documented API where it matters to a client: Digest auth for API keys (nonces it issues,
// responses it verifies, stale nonces), Bearer tokens minted by its own OAuth endpoint (with expiry), the
// versioned Accept header (406 without one, 410 VERSION_GONE for sunset versions), the ApiError envelope,
// and a migration state machine that moves one step per status poll or on `advance()`. Faults (429 with or
// without Retry-After, 5xx, 410, 400 field violations, 409 on link delete, failed validations) are injected
// per operation. Every request lands in `requests` for assertions.
//
// Where the real API's behaviour is not documented (marked UNCONFIRMED in the reference notes), the emulator
// picks the strict reading so clients are tested against the harder case.

import { randomBytes } from "crypto";
import * as http from "http";
import type { AddressInfo } from "net";
import { digestResponse, parseAuthHeader, type DigestAlgorithm } from "../provider/engines/http/digest";
import type { AvailableProject, LiveMigration, LiveMigrationRequest } from "../provider/engines/atlas/types";
import { validateMigrationRequest, type FieldViolation } from "./atlas-emulator/validation";

export type AtlasEmulatorOperation =
  | "createLinkToken"
  | "deleteLinkTokens"
  | "listAvailableProjects"
  | "validate"
  | "getValidation"
  | "createMigration"
  | "getMigration"
  | "cutover"
  | "oauthToken";

/** Where a migration is in its life. Atlas shows these as status + readyForCutover + lagTimeSeconds. */
export type EmulatedStage = "NEW" | "COPYING" | "SYNCING" | "READY" | "CUTTING_OVER" | "COMPLETE" | "FAILED" | "EXPIRED";

export interface MigrationScenario {
  /** getValidation answers PENDING this many times before the result (0: validate answers the result). */
  validationPolls: number;
  validationResult: "SUCCESS" | "FAILED";
  validationErrorMessage: string;
  /** Status polls spent in each stage before moving on. */
  newPolls: number;
  copyPolls: number;
  syncPolls: number;
  cutoverPolls: number;
  /** lagTimeSeconds while syncing/ready: one value, or a sequence (the last value repeats). */
  lagSeconds: number | number[];
  /** The end of a cutover. */
  outcome: "COMPLETE" | "FAILED";
  /** Fail instead of leaving this stage. */
  failDuring?: "NEW" | "COPYING" | "SYNCING";
  /** Move READY → EXPIRED after this many polls (the 120-hour cutover window lapsing). */
  expireAfterReadyPolls?: number;
}

export const DEFAULT_SCENARIO: MigrationScenario = {
  validationPolls: 1,
  validationResult: "SUCCESS",
  validationErrorMessage: "Migration host vm001.example.com cannot reach the destination cluster.",
  newPolls: 1,
  copyPolls: 2,
  syncPolls: 1,
  cutoverPolls: 2,
  lagSeconds: [12, 3, 1],
  outcome: "COMPLETE",
};

export interface EmulatorOrg {
  orgId: string;
  /** The Cloud Manager projects visible to this org through the link. */
  availableProjects: AvailableProject[];
  /** false: availableProjects answers [] until the link token is "pasted" into Cloud Manager. Default true. */
  linked?: boolean;
  /** Once a link token exists, the link completes by itself after this many availableProjects calls. */
  linkAfterPolls?: number;
}

export interface AtlasEmulatorOptions {
  apiKeys?: Array<{ publicKey: string; privateKey: string }>;
  serviceAccounts?: Array<{ clientId: string; clientSecret: string }>;
  orgs?: EmulatorOrg[];
  scenario?: Partial<MigrationScenario>;
  /** Digest challenges offered, strongest first. Atlas offers MD5. */
  digestAlgorithms?: Array<"MD5" | "SHA-256">;
  /** A nonce turns stale after this many uses (then the client must re-challenge). */
  nonceMaxUses?: number;
  /** Lifetime of OAuth tokens (Atlas: 3600). */
  tokenLifetimeSeconds?: number;
  /** Versions answered with 410 VERSION_GONE. */
  sunsetVersions?: string[];
  /** Advance migrations and validations one step per status poll (default true). */
  autoAdvance?: boolean;
  /** Clock for token expiry; share a test's virtual clock with it. */
  now?: () => number;
}

export interface InjectedFault {
  operation: AtlasEmulatorOperation;
  status: number;
  errorCode?: string;
  detail?: string;
  /** Retry-After header value (seconds or an HTTP-date); omitted when undefined. */
  retryAfter?: number | string;
  fields?: FieldViolation[];
  parameters?: unknown[];
  /** How many matching requests get the fault (default 1). */
  times?: number;
  /** Let this many matching requests through first. */
  skip?: number;
  /** Carry out the operation first, then answer with the fault (a response lost after the work was done). */
  afterProcessing?: boolean;
}

export interface EmulatorRequest {
  operation: AtlasEmulatorOperation | "unknown";
  method: string;
  path: string;
  status: number;
  /** The version date the client asked for, when any. */
  apiVersion?: string;
  auth: "none" | "digest" | "bearer" | "basic";
  /** Set when the request was answered by an injected fault. */
  fault?: boolean;
}

export interface EmulatedMigration {
  id: string;
  groupId: string;
  stage: EmulatedStage;
  /** The request as received, with the source password masked. */
  request: LiveMigrationRequest;
  cutoverRequests: number;
}

interface MigrationRecord extends EmulatedMigration {
  polls: number;
  lagIndex: number;
  scenario: MigrationScenario;
}

interface ValidationRecord {
  _id: string;
  groupId: string;
  sourceGroupId: string;
  status: "PENDING" | "SUCCESS" | "FAILED";
  errorMessage: string | null;
  pendingPolls: number;
  result: "SUCCESS" | "FAILED";
  resultMessage: string | null;
}

interface OrgRecord extends EmulatorOrg {
  linked: boolean;
  linkTokens: string[];
  pollsSinceToken: number;
}

const SUPPORTED_VERSIONS: Record<Exclude<AtlasEmulatorOperation, "oauthToken">, string[]> = {
  createLinkToken: ["2023-01-01"],
  deleteLinkTokens: ["2023-01-01"],
  listAvailableProjects: ["2023-01-01"],
  validate: ["2023-01-01", "2024-05-30"],
  getValidation: ["2023-01-01"],
  createMigration: ["2023-01-01", "2024-05-30"],
  getMigration: ["2023-01-01"],
  cutover: ["2023-01-01"],
};

const REALM = "MMS Public API";

const DEFAULT_ERROR_CODES: Record<number, [string, string]> = {
  400: ["VALIDATION_ERROR", "Bad Request"],
  401: ["UNAUTHORIZED", "Unauthorized"],
  403: ["FORBIDDEN", "Forbidden"],
  404: ["RESOURCE_NOT_FOUND", "Not Found"],
  406: ["NOT_ACCEPTABLE", "Not Acceptable"],
  409: ["CANNOT_DELETE_ORG_ACTIVE_LIVE_MIGRATION_ATLAS_ORG_LINK", "Conflict"],
  410: ["VERSION_GONE", "Gone"],
  429: ["RATE_LIMITED", "Too Many Requests"],
  500: ["UNEXPECTED_ERROR", "Internal Server Error"],
  502: ["BAD_GATEWAY", "Bad Gateway"],
  503: ["SERVICE_UNAVAILABLE", "Service Unavailable"],
};

function hexId(): string {
  return randomBytes(12).toString("hex");
}

class HttpAnswer {
  constructor(
    readonly status: number,
    readonly body: unknown,
    readonly headers: Record<string, string> = {},
  ) {}
}

function apiError(status: number, detail: string, opts: { errorCode?: string; fields?: FieldViolation[]; parameters?: unknown[]; headers?: Record<string, string> } = {}): HttpAnswer {
  const [defaultCode, reason] = DEFAULT_ERROR_CODES[status] ?? [`HTTP_${status}`, "Error"];
  const body: Record<string, unknown> = {
    error: status,
    errorCode: opts.errorCode ?? defaultCode,
    reason,
    detail,
    parameters: opts.parameters ?? [],
  };
  if (opts.fields && opts.fields.length > 0) body.badRequestDetail = { fields: opts.fields };
  return new HttpAnswer(status, body, opts.headers);
}

export class AtlasApiEmulator {
  /** Every request in arrival order. */
  readonly requests: EmulatorRequest[] = [];
  scenario: MigrationScenario;
  private readonly server: http.Server;
  private readonly apiKeys: Map<string, string>;
  private readonly serviceAccounts: Map<string, string>;
  private readonly orgs = new Map<string, OrgRecord>();
  private readonly migrations = new Map<string, MigrationRecord>();
  private readonly validations = new Map<string, ValidationRecord>();
  private readonly nonces = new Map<string, { uses: number; seenNc: Set<number>; stale: boolean }>();
  private readonly tokens = new Map<string, { clientId: string; expiresAt: number }>();
  private readonly faults: Array<InjectedFault & { remaining: number; toSkip: number }> = [];
  private readonly options: Required<Pick<AtlasEmulatorOptions, "digestAlgorithms" | "nonceMaxUses" | "tokenLifetimeSeconds" | "sunsetVersions" | "autoAdvance">> & { now: () => number };
  private port = 0;

  private constructor(opts: AtlasEmulatorOptions) {
    this.scenario = { ...DEFAULT_SCENARIO, ...(opts.scenario ?? {}) };
    this.apiKeys = new Map((opts.apiKeys ?? []).map((k) => [k.publicKey, k.privateKey]));
    this.serviceAccounts = new Map((opts.serviceAccounts ?? []).map((s) => [s.clientId, s.clientSecret]));
    for (const org of opts.orgs ?? []) this.addOrg(org);
    this.options = {
      digestAlgorithms: opts.digestAlgorithms ?? ["MD5"],
      nonceMaxUses: opts.nonceMaxUses ?? 1000,
      tokenLifetimeSeconds: opts.tokenLifetimeSeconds ?? 3600,
      sunsetVersions: opts.sunsetVersions ?? [],
      autoAdvance: opts.autoAdvance ?? true,
      now: opts.now ?? Date.now,
    };
    this.server = http.createServer((req, res) => this.handle(req, res));
  }

  /** Starts listening on 127.0.0.1 on a free port. */
  static async start(opts: AtlasEmulatorOptions = {}): Promise<AtlasApiEmulator> {
    const emulator = new AtlasApiEmulator(opts);
    await new Promise<void>((resolve, reject) => {
      emulator.server.once("error", reject);
      emulator.server.listen(0, "127.0.0.1", () => resolve());
    });
    emulator.port = (emulator.server.address() as AddressInfo).port;
    return emulator;
  }

  get baseUrl(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  // ---- test controls --------------------------------------------------------------------------------------

  addOrg(org: EmulatorOrg): void {
    this.orgs.set(org.orgId, { ...org, linked: org.linked ?? true, linkTokens: [], pollsSinceToken: 0 });
  }

  /** Queue a fault for the next `times` requests of one operation (after auth and version checks pass). */
  injectFault(fault: InjectedFault): void {
    this.faults.push({ ...fault, remaining: fault.times ?? 1, toSkip: fault.skip ?? 0 });
  }

  /** The user pasted the link token into Cloud Manager: the org's projects become visible. */
  pasteLinkToken(orgId: string): void {
    const org = this.orgs.get(orgId);
    if (!org) throw new Error(`emulator: unknown org ${orgId}`);
    org.linked = true;
  }

  linkTokens(orgId: string): string[] {
    return [...(this.orgs.get(orgId)?.linkTokens ?? [])];
  }

  isLinked(orgId: string): boolean {
    return this.orgs.get(orgId)?.linked ?? false;
  }

  listMigrations(): EmulatedMigration[] {
    return [...this.migrations.values()].map((m) => ({ id: m.id, groupId: m.groupId, stage: m.stage, request: m.request, cutoverRequests: m.cutoverRequests }));
  }

  migration(id: string): EmulatedMigration | undefined {
    return this.listMigrations().find((m) => m.id === id);
  }

  /** Move one migration (or every one) `steps` polls forward, as if status had been read. */
  advance(liveMigrationId?: string, steps = 1): void {
    const targets = liveMigrationId ? [this.mustFindMigration(liveMigrationId)] : [...this.migrations.values()];
    for (const m of targets) for (let i = 0; i < steps; i++) this.tick(m);
  }

  /** Put a migration straight into a stage (e.g. FAILED or EXPIRED from outside). */
  setStage(liveMigrationId: string, stage: EmulatedStage): void {
    const m = this.mustFindMigration(liveMigrationId);
    m.stage = stage;
    m.polls = 0;
  }

  /** Every nonce issued so far turns stale (as after a server restart or nonce rotation). */
  expireNonces(): void {
    for (const nonce of this.nonces.values()) nonce.stale = true;
  }

  /** Every OAuth token issued so far expires now. */
  expireTokens(): void {
    for (const token of this.tokens.values()) token.expiresAt = -Infinity;
  }

  /** Requests per operation, e.g. { getMigration: 5, cutover: 1 }; challenged (401) requests included. */
  countByOperation(filter: (r: EmulatorRequest) => boolean = () => true): Record<string, number> {
    const out: Record<string, number> = {};
    for (const r of this.requests.filter(filter)) out[r.operation] = (out[r.operation] ?? 0) + 1;
    return out;
  }

  // ---- HTTP -----------------------------------------------------------------------------------------------

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const entry: EmulatorRequest = { operation: "unknown", method: req.method ?? "GET", path: req.url ?? "/", status: 0, auth: "none" };
      let answer: HttpAnswer;
      try {
        answer = this.dispatch(req, Buffer.concat(chunks).toString("utf8"), entry);
      } catch (err) {
        answer = apiError(500, `emulator bug: ${(err as Error).message}`);
      }
      entry.status = answer.status;
      this.requests.push(entry);
      const headers: Record<string, string> = { ...answer.headers };
      let payload = "";
      if (answer.body !== undefined) {
        payload = JSON.stringify(answer.body);
        headers["Content-Type"] ??= "application/json";
      }
      res.writeHead(answer.status, headers);
      res.end(payload);
    });
  }

  private route(method: string, path: string): { operation: AtlasEmulatorOperation; params: Record<string, string> } | undefined {
    const routes: Array<[string, RegExp, AtlasEmulatorOperation, string[]]> = [
      ["POST", /^\/api\/oauth\/token$/, "oauthToken", []],
      ["POST", /^\/api\/atlas\/v2\/orgs\/([^/]+)\/liveMigrations\/linkTokens$/, "createLinkToken", ["orgId"]],
      ["DELETE", /^\/api\/atlas\/v2\/orgs\/([^/]+)\/liveMigrations\/linkTokens$/, "deleteLinkTokens", ["orgId"]],
      ["GET", /^\/api\/atlas\/v2\/orgs\/([^/]+)\/liveMigrations\/availableProjects$/, "listAvailableProjects", ["orgId"]],
      ["POST", /^\/api\/atlas\/v2\/groups\/([^/]+)\/liveMigrations\/validate$/, "validate", ["groupId"]],
      ["GET", /^\/api\/atlas\/v2\/groups\/([^/]+)\/liveMigrations\/validate\/([^/]+)$/, "getValidation", ["groupId", "validationId"]],
      ["POST", /^\/api\/atlas\/v2\/groups\/([^/]+)\/liveMigrations$/, "createMigration", ["groupId"]],
      ["GET", /^\/api\/atlas\/v2\/groups\/([^/]+)\/liveMigrations\/([^/]+)$/, "getMigration", ["groupId", "liveMigrationId"]],
      ["PUT", /^\/api\/atlas\/v2\/groups\/([^/]+)\/liveMigrations\/([^/]+)\/cutover$/, "cutover", ["groupId", "liveMigrationId"]],
    ];
    for (const [m, pattern, operation, names] of routes) {
      const match = pattern.exec(path);
      if (match && m === method) {
        const params: Record<string, string> = {};
        names.forEach((name, i) => (params[name] = decodeURIComponent(match[i + 1])));
        return { operation, params };
      }
    }
    return undefined;
  }

  private dispatch(req: http.IncomingMessage, rawBody: string, entry: EmulatorRequest): HttpAnswer {
    const method = req.method ?? "GET";
    const uri = req.url ?? "/";
    const path = uri.split("?")[0];
    const found = this.route(method, path);
    if (!found) return apiError(404, `No API resource at ${method} ${path}.`, { errorCode: "RESOURCE_NOT_FOUND" });
    entry.operation = found.operation;

    if (found.operation === "oauthToken") return this.oauthToken(req, rawBody, entry);

    const authFailure = this.authenticate(req, method, uri, entry);
    if (authFailure) return authFailure;

    const accept = String(req.headers.accept ?? "");
    const requested = /application\/vnd\.atlas\.(\d{4}-\d{2}-\d{2})\+json/.exec(accept)?.[1];
    entry.apiVersion = requested;
    // The real server's errorCode for a missing/unknown version is UNCONFIRMED (a 406 is reported by users).
    if (!requested) return apiError(406, "Invalid accept header or version date.", { errorCode: "INVALID_VERSION_DATE" });
    const version = SUPPORTED_VERSIONS[found.operation].filter((v) => v <= requested).pop();
    if (!version) return apiError(406, `No version of this resource exists on or before ${requested}.`, { errorCode: "INVALID_VERSION_DATE" });
    if (this.options.sunsetVersions.includes(version)) {
      return apiError(410, `The requested API version ${version} has been sunset.`, { errorCode: "VERSION_GONE", parameters: [version] });
    }

    const fault = this.takeFault(found.operation);
    if (fault && !fault.afterProcessing) {
      entry.fault = true;
      return this.faultAnswer(fault, path);
    }

    let body: unknown = undefined;
    if (rawBody.trim() !== "") {
      try {
        body = JSON.parse(rawBody);
      } catch {
        return apiError(400, "The request body is not valid JSON.", { errorCode: "INVALID_JSON" });
      }
    }
    const answer = this.operate(found.operation, found.params, body, version);
    const headers = { ...answer.headers, "Content-Type": `application/vnd.atlas.${version}+json` };
    if (fault) {
      entry.fault = true;
      return this.faultAnswer(fault, path);
    }
    return new HttpAnswer(answer.status, answer.body, headers);
  }

  private takeFault(operation: AtlasEmulatorOperation): InjectedFault | undefined {
    const index = this.faults.findIndex((f) => f.operation === operation && f.remaining > 0);
    if (index < 0) return undefined;
    const fault = this.faults[index];
    if (fault.toSkip > 0) {
      fault.toSkip -= 1;
      return undefined;
    }
    fault.remaining -= 1;
    if (fault.remaining === 0) this.faults.splice(index, 1);
    return fault;
  }

  private faultAnswer(fault: InjectedFault, path: string): HttpAnswer {
    const headers: Record<string, string> = {};
    if (fault.retryAfter !== undefined) headers["Retry-After"] = String(fault.retryAfter);
    let detail = fault.detail;
    let parameters = fault.parameters;
    if (fault.status === 429 && detail === undefined) {
      // The token-bucket wording from the rate-limit docs.
      const seconds = typeof fault.retryAfter === "number" ? fault.retryAfter : 1;
      detail = `Resource ${path} is limited to 100 requests every 60 seconds. Retry in ${seconds} seconds.`;
      parameters = [path, seconds, 100, 100, 60];
      headers["RateLimit-Limit"] = "100";
      headers["RateLimit-Remaining"] = "0";
    }
    return apiError(fault.status, detail ?? `Injected HTTP ${fault.status}.`, {
      errorCode: fault.errorCode ?? (fault.status === 429 && !fault.detail ? "RATE_LIMITED_TOKEN_BUCKET" : undefined),
      fields: fault.fields,
      parameters,
      headers,
    });
  }

  // ---- auth -----------------------------------------------------------------------------------------------

  private challenge(stale: boolean): Record<string, string> {
    const challenges = this.options.digestAlgorithms.map((algorithm) => {
      const nonce = randomBytes(18).toString("base64");
      this.nonces.set(nonce, { uses: 0, seenNc: new Set(), stale: false });
      return `Digest realm="${REALM}", domain="", nonce="${nonce}", algorithm=${algorithm}, qop="auth", stale=${stale}`;
    });
    return { "WWW-Authenticate": challenges.join(", ") };
  }

  private unauthorized(detail: string, stale = false): HttpAnswer {
    return apiError(401, detail, { errorCode: "UNAUTHORIZED", headers: this.challenge(stale) });
  }

  /** undefined when the request is authenticated, otherwise the 401 to send. */
  private authenticate(req: http.IncomingMessage, method: string, uri: string, entry: EmulatorRequest): HttpAnswer | undefined {
    const header = req.headers.authorization;
    if (!header) return this.unauthorized("You are not authorized for this resource.");
    const [parsed] = parseAuthHeader(header);
    const scheme = parsed?.scheme.toLowerCase();
    if (scheme === "bearer") {
      entry.auth = "bearer";
      const token = header.slice("bearer".length).trim();
      const record = this.tokens.get(token);
      if (!record) return this.unauthorized("Invalid access token.");
      if (this.options.now() >= record.expiresAt) return this.unauthorized("The access token has expired.");
      return undefined;
    }
    if (scheme !== "digest") return this.unauthorized("Unsupported authentication scheme.");
    entry.auth = "digest";
    const p = parsed.params;
    const privateKey = this.apiKeys.get(p.username ?? "");
    if (privateKey === undefined || p.realm !== REALM || p.uri !== uri || p.qop !== "auth" || !p.nc || !p.cnonce || !p.nonce) {
      return this.unauthorized("You are not authorized for this resource.");
    }
    const algorithm = (p.algorithm ?? "MD5") as DigestAlgorithm;
    if (!this.options.digestAlgorithms.includes(algorithm as "MD5")) return this.unauthorized("Unsupported digest algorithm.");
    const expected = digestResponse({
      username: p.username!, password: privateKey, realm: REALM, nonce: p.nonce, method, uri, algorithm,
      qop: "auth", nc: p.nc, cnonce: p.cnonce,
    });
    if (expected !== p.response) return this.unauthorized("You are not authorized for this resource.");
    const nonce = this.nonces.get(p.nonce);
    const nc = parseInt(p.nc, 16);
    // Right credentials but an unknown, worn-out or replayed nonce: a stale challenge (RFC 7616 §3.3). Each nc
    // may be used once; concurrent requests may arrive out of order, so nc need not grow monotonically.
    if (!nonce || nonce.stale || nonce.uses >= this.options.nonceMaxUses || !(nc > 0) || nonce.seenNc.has(nc)) {
      if (nonce && nonce.uses >= this.options.nonceMaxUses) nonce.stale = true;
      return this.unauthorized("Stale nonce.", true);
    }
    nonce.uses += 1;
    nonce.seenNc.add(nc);
    return undefined;
  }

  private oauthToken(req: http.IncomingMessage, rawBody: string, entry: EmulatorRequest): HttpAnswer {
    const fault = this.takeFault("oauthToken");
    if (fault) {
      entry.fault = true;
      return this.faultAnswer(fault, "/api/oauth/token");
    }
    const header = String(req.headers.authorization ?? "");
    entry.auth = header.toLowerCase().startsWith("basic ") ? "basic" : "none";
    const invalidClient = new HttpAnswer(401, { error: "invalid_client", error_description: "Invalid client credentials." });
    if (entry.auth !== "basic") return invalidClient;
    const decoded = Buffer.from(header.slice(6).trim(), "base64").toString("utf8");
    const colon = decoded.indexOf(":");
    const clientId = decoded.slice(0, colon);
    const secret = decoded.slice(colon + 1);
    if (colon < 0 || this.serviceAccounts.get(clientId) !== secret) return invalidClient;
    if (!/^application\/x-www-form-urlencoded/.test(String(req.headers["content-type"] ?? ""))) {
      return new HttpAnswer(400, { error: "invalid_request", error_description: "Expected a form-encoded body." });
    }
    if (new URLSearchParams(rawBody).get("grant_type") !== "client_credentials") {
      return new HttpAnswer(400, { error: "unsupported_grant_type", error_description: "Use client_credentials." });
    }
    const token = `emu_${randomBytes(24).toString("hex")}`;
    const lifetime = this.options.tokenLifetimeSeconds;
    this.tokens.set(token, { clientId, expiresAt: this.options.now() + lifetime * 1000 });
    return new HttpAnswer(200, { access_token: token, expires_in: lifetime, token_type: "Bearer" });
  }

  // ---- the operations -------------------------------------------------------------------------------------

  private operate(operation: AtlasEmulatorOperation, params: Record<string, string>, body: unknown, version: string): HttpAnswer {
    switch (operation) {
      case "createLinkToken":
        return this.createLinkToken(params.orgId, body);
      case "deleteLinkTokens":
        return this.deleteLinkTokens(params.orgId);
      case "listAvailableProjects":
        return this.listAvailableProjects(params.orgId);
      case "validate":
        return this.validate(params.groupId, body, version);
      case "getValidation":
        return this.getValidation(params.groupId, params.validationId);
      case "createMigration":
        return this.createMigration(params.groupId, body, version);
      case "getMigration":
        return this.getMigration(params.groupId, params.liveMigrationId);
      case "cutover":
        return this.cutover(params.groupId, params.liveMigrationId);
      default:
        return apiError(404, "No such operation.");
    }
  }

  private findOrg(orgId: string): OrgRecord | HttpAnswer {
    const org = this.orgs.get(orgId);
    return org ?? apiError(404, `Cannot find resource organization ${orgId}.`, { errorCode: "ORG_NOT_FOUND", parameters: [orgId] });
  }

  private createLinkToken(orgId: string, body: unknown): HttpAnswer {
    const org = this.findOrg(orgId);
    if (org instanceof HttpAnswer) return org;
    if (body === undefined || typeof body !== "object" || body === null) return apiError(400, "A request body is required.");
    const ips = (body as { accessListIps?: unknown }).accessListIps;
    if (ips !== undefined && (!Array.isArray(ips) || ips.some((ip) => typeof ip !== "string"))) {
      return apiError(400, "Invalid access list.", { fields: [{ field: "accessListIps", description: "Must be an array of IP addresses." }] });
    }
    const token = `lt_${randomBytes(24).toString("base64url")}`;
    org.linkTokens.push(token);
    org.pollsSinceToken = 0;
    return new HttpAnswer(200, { linkToken: token });
  }

  private deleteLinkTokens(orgId: string): HttpAnswer {
    const org = this.findOrg(orgId);
    if (org instanceof HttpAnswer) return org;
    const sourceProjects = new Set(org.availableProjects.map((p) => p.projectId));
    const active = [...this.migrations.values()].some((m) => sourceProjects.has(m.request.source.groupId) && isActive(m.stage));
    if (active) {
      return apiError(409, "Cannot delete organization link while there is an active migration.", {
        errorCode: "CANNOT_DELETE_ORG_ACTIVE_LIVE_MIGRATION_ATLAS_ORG_LINK",
      });
    }
    org.linkTokens = [];
    org.linked = false;
    return new HttpAnswer(204, undefined);
  }

  private listAvailableProjects(orgId: string): HttpAnswer {
    const org = this.findOrg(orgId);
    if (org instanceof HttpAnswer) return org;
    if (!org.linked && org.linkTokens.length > 0 && org.linkAfterPolls !== undefined) {
      org.pollsSinceToken += 1;
      if (org.pollsSinceToken >= org.linkAfterPolls) org.linked = true;
    }
    // AvailableClustersDeployment requires managed, sharded and tlsEnabled (atlas-sdk-go
    // model_available_clusters_deployment.go, generated from the v2 spec): always answer them.
    const view = org.availableProjects.map((p) => ({
      ...p,
      deployments: p.deployments.map((d) => ({ ...d, managed: d.managed ?? false, sharded: d.sharded ?? false, tlsEnabled: d.tlsEnabled ?? false })),
    }));
    return new HttpAnswer(200, org.linked ? view : []);
  }

  /** What Atlas's validation checks find wrong about the source (validate: FAILED job; create: 400). */
  private sourceProblem(request: LiveMigrationRequest): { field: string; message: string } | undefined {
    const linked = [...this.orgs.values()].filter((o) => o.linked);
    const project = linked.flatMap((o) => o.availableProjects).find((p) => p.projectId === request.source.groupId);
    if (!project) {
      return {
        field: "source.groupId",
        message: `Cloud Manager project ${request.source.groupId} is not linked to this Atlas organization.`,
      };
    }
    const deployment = project.deployments.find((d) => d.name === request.source.clusterName);
    if (!deployment) {
      return { field: "source.clusterName", message: `Cluster ${request.source.clusterName} not found in Cloud Manager project ${project.name}.` };
    }
    // UNCONFIRMED how Atlas words these; the strict reading: validation connects to the source the way the
    // request says, so TLS that disagrees with the deployment's tlsEnabled, or managedAuthentication on a
    // deployment Automation does not manage, fails the validation.
    if ((deployment.tlsEnabled ?? false) !== request.source.ssl) {
      return {
        field: "source.ssl",
        message: `Could not connect to source cluster ${deployment.name}: TLS is ${deployment.tlsEnabled ? "required" : "not enabled"} on the source.`,
      };
    }
    if (request.source.managedAuthentication && !deployment.managed) {
      return { field: "source.managedAuthentication", message: `Automation does not manage source cluster ${deployment.name}; credentials are required.` };
    }
    const host = request.migrationHosts[0];
    if (!project.migrationHosts.includes(host)) {
      return { field: "migrationHosts", message: `Migration host ${host} is not provisioned in Cloud Manager project ${project.name}.` };
    }
    return undefined;
  }

  private validate(groupId: string, body: unknown, version: string): HttpAnswer {
    const violations = validateMigrationRequest(body, version, groupId);
    if (violations.length > 0) return apiError(400, "Invalid live migration request.", { fields: violations });
    const request = body as LiveMigrationRequest;
    const problem = this.sourceProblem(request);
    const record: ValidationRecord = {
      _id: hexId(),
      groupId,
      sourceGroupId: request.source.groupId,
      status: "PENDING",
      errorMessage: null,
      pendingPolls: this.scenario.validationPolls,
      result: problem || this.scenario.validationResult === "FAILED" ? "FAILED" : "SUCCESS",
      resultMessage: problem ? problem.message : this.scenario.validationResult === "FAILED" ? this.scenario.validationErrorMessage : null,
    };
    if (record.pendingPolls <= 0) this.settleValidation(record);
    this.validations.set(record._id, record);
    return new HttpAnswer(200, this.validationView(record));
  }

  private settleValidation(record: ValidationRecord): void {
    record.status = record.result;
    record.errorMessage = record.resultMessage;
  }

  private validationView(record: ValidationRecord): object {
    return { _id: record._id, groupId: record.groupId, sourceGroupId: record.sourceGroupId, status: record.status, errorMessage: record.errorMessage };
  }

  private getValidation(groupId: string, validationId: string): HttpAnswer {
    const record = this.validations.get(validationId);
    if (!record || record.groupId !== groupId) {
      return apiError(404, `Cannot find validation ${validationId}.`, { errorCode: "RESOURCE_NOT_FOUND", parameters: [validationId] });
    }
    const view = this.validationView(record);
    if (this.options.autoAdvance && record.status === "PENDING") {
      record.pendingPolls -= 1;
      if (record.pendingPolls <= 0) this.settleValidation(record);
    }
    return new HttpAnswer(200, view);
  }

  private createMigration(groupId: string, body: unknown, version: string): HttpAnswer {
    const violations = validateMigrationRequest(body, version, groupId);
    if (violations.length > 0) return apiError(400, "Invalid live migration request.", { fields: violations });
    const request = body as LiveMigrationRequest;
    const problem = this.sourceProblem(request);
    if (problem) return apiError(400, problem.message, { fields: [{ field: problem.field, description: problem.message }] });
    const busy = [...this.migrations.values()].find(
      (m) => m.groupId === groupId && m.request.destination.clusterName === request.destination.clusterName && isActive(m.stage),
    );
    if (busy) {
      // Atlas forbids two migrations into one destination; the exact errorCode is UNCONFIRMED.
      return apiError(400, `Cluster ${request.destination.clusterName} already has an active live migration (${busy.id}).`, {
        errorCode: "LIVE_MIGRATION_IN_PROGRESS",
        parameters: [busy.id],
      });
    }
    const masked: LiveMigrationRequest = JSON.parse(JSON.stringify(request)) as LiveMigrationRequest;
    if (masked.source.password !== undefined) masked.source.password = "****";
    const record: MigrationRecord = {
      id: hexId(), groupId, stage: "NEW", request: masked, cutoverRequests: 0, polls: 0, lagIndex: 0, scenario: { ...this.scenario },
    };
    this.migrations.set(record.id, record);
    return new HttpAnswer(201, this.migrationView(record));
  }

  private migrationView(m: MigrationRecord): LiveMigration {
    const lags = Array.isArray(m.scenario.lagSeconds) ? m.scenario.lagSeconds : [m.scenario.lagSeconds];
    const lag = lags[Math.min(m.lagIndex, lags.length - 1)] ?? 0;
    const base = { _id: m.id, migrationHosts: m.request.migrationHosts };
    switch (m.stage) {
      case "NEW":
        return { ...base, status: "NEW", readyForCutover: false, lagTimeSeconds: null };
      case "COPYING":
        return { ...base, status: "WORKING", readyForCutover: false, lagTimeSeconds: null };
      case "SYNCING":
        return { ...base, status: "WORKING", readyForCutover: false, lagTimeSeconds: lag };
      case "READY":
        return { ...base, status: "WORKING", readyForCutover: true, lagTimeSeconds: lag };
      case "CUTTING_OVER":
        return { ...base, status: "WORKING", readyForCutover: false, lagTimeSeconds: null };
      default:
        return { ...base, status: m.stage, readyForCutover: false, lagTimeSeconds: null };
    }
  }

  private getMigration(groupId: string, id: string): HttpAnswer {
    const m = this.migrations.get(id);
    if (!m || m.groupId !== groupId) {
      return apiError(404, `Cannot find live migration ${id}.`, { errorCode: "RESOURCE_NOT_FOUND", parameters: [id] });
    }
    const view = this.migrationView(m);
    if (this.options.autoAdvance) this.tick(m);
    return new HttpAnswer(200, view);
  }

  private cutover(groupId: string, id: string): HttpAnswer {
    const m = this.migrations.get(id);
    if (!m || m.groupId !== groupId) {
      return apiError(404, `Cannot find live migration ${id}.`, { errorCode: "RESOURCE_NOT_FOUND", parameters: [id] });
    }
    m.cutoverRequests += 1;
    if (m.stage !== "READY") {
      // What Atlas answers to a premature or repeated cutover is UNCONFIRMED; a 400 is the strict reading.
      return apiError(400, `Live migration ${id} is not ready for cutover (${this.migrationView(m).status}).`, {
        errorCode: "LIVE_MIGRATION_NOT_READY_FOR_CUTOVER",
        parameters: [id],
      });
    }
    m.stage = "CUTTING_OVER";
    m.polls = 0;
    return new HttpAnswer(202, undefined);
  }

  private tick(m: MigrationRecord): void {
    const s = m.scenario;
    m.polls += 1;
    const leave = (limit: number, next: EmulatedStage, failHere: boolean) => {
      if (m.polls < limit) return;
      m.stage = failHere ? "FAILED" : next;
      m.polls = 0;
    };
    switch (m.stage) {
      case "NEW":
        return leave(s.newPolls, "COPYING", s.failDuring === "NEW");
      case "COPYING":
        return leave(s.copyPolls, "SYNCING", s.failDuring === "COPYING");
      case "SYNCING":
        m.lagIndex += 1;
        return leave(s.syncPolls, "READY", s.failDuring === "SYNCING");
      case "READY":
        m.lagIndex += 1;
        if (s.expireAfterReadyPolls !== undefined) leave(s.expireAfterReadyPolls, "EXPIRED", false);
        return;
      case "CUTTING_OVER":
        return leave(s.cutoverPolls, s.outcome, false);
      default:
        return;
    }
  }

  private mustFindMigration(id: string): MigrationRecord {
    const m = this.migrations.get(id);
    if (!m) throw new Error(`emulator: unknown live migration ${id}`);
    return m;
  }
}

function isActive(stage: EmulatedStage): boolean {
  return stage !== "COMPLETE" && stage !== "FAILED" && stage !== "EXPIRED";
}
