// The two ways to authenticate to the Atlas Admin API: HTTP Digest with a programmatic API key, and a
// service account's OAuth 2 client-credentials token sent as a Bearer header.

import { registerSecret } from "../../errors";
import { DigestSession } from "../http/digest";
import { retryWithBackoff, parseRetryAfter, type BackoffPolicy } from "../http/retry";
import { TransportError, type HttpResponse, type HttpTransport } from "../http/transport";
import { AtlasApiError, errorInfoFrom, parseErrorBody } from "./errors";

/** Clock, deadline and log of the engine call a request belongs to. */
export interface CallContext {
  deadline: number;
  now(): number;
  sleep(ms: number): Promise<void>;
  log?(line: string): void;
}

export interface Authenticator {
  readonly kind: "digest" | "service-account" | "access-token";
  /** The Authorization header for this request, or undefined when none can be computed yet. */
  header(method: string, uri: string, call: CallContext): Promise<string | undefined>;
  /**
   * After a 401: prepare a better header (new nonce, refreshed token) and say whether resending this request
   * once more can help. `sentHeader` is what the refused request carried.
   */
  onUnauthorized(response: HttpResponse, sentHeader: string | undefined): boolean;
}

/** Programmatic API key: public key as the user name, private key as the password. */
export class DigestAuthenticator implements Authenticator {
  readonly kind = "digest" as const;
  private readonly session: DigestSession;

  constructor(publicKey: string, privateKey: string) {
    registerSecret(privateKey);
    this.session = new DigestSession(publicKey, privateKey);
  }

  async header(method: string, uri: string): Promise<string | undefined> {
    return this.session.authorize(method, uri);
  }

  onUnauthorized(response: HttpResponse, sentHeader: string | undefined): boolean {
    return this.session.onChallenge(response.headers["www-authenticate"], sentHeader !== undefined);
  }
}

/**
 * An OAuth access token minted elsewhere (`mongodbatlas:accessToken`), sent as is. It cannot be refreshed: a
 * 401 means it expired (service-account tokens live one hour) and the user must give a new one.
 */
export class AccessTokenAuthenticator implements Authenticator {
  readonly kind = "access-token" as const;

  constructor(private readonly accessToken: string) {
    registerSecret(accessToken);
  }

  async header(): Promise<string> {
    return `Bearer ${this.accessToken}`;
  }

  onUnauthorized(): boolean {
    return false;
  }
}

interface CachedToken {
  accessToken: string;
  /** Epoch ms (on the caller's clock) after which we stop using it. */
  refreshAt: number;
}

export interface ServiceAccountOptions {
  baseUrl: string;
  clientId: string;
  clientSecret: string;
  transport: HttpTransport;
  backoff: Partial<BackoffPolicy>;
  random?: () => number;
  /** Refresh this long before the token expires (tokens last an hour; a minute leaves room for clock skew). */
  refreshMarginMs?: number;
}

/**
 * Service account: POST /api/oauth/token with Basic auth and grant_type=client_credentials. The token is
 * cached until shortly before it expires, and when several requests find it missing at once they all wait
 * for the same single token request (minting tokens is rate-limited too).
 */
export class ServiceAccountAuthenticator implements Authenticator {
  readonly kind = "service-account" as const;
  private cached: CachedToken | undefined;
  private refreshing: Promise<CachedToken> | undefined;
  /** How many token requests this authenticator made; tests assert single-flight with it. */
  tokenRequests = 0;

  constructor(private readonly options: ServiceAccountOptions) {
    registerSecret(options.clientSecret);
  }

  async header(_method: string, _uri: string, call: CallContext): Promise<string> {
    const token = await this.token(call);
    return `Bearer ${token.accessToken}`;
  }

  onUnauthorized(_response: HttpResponse, sentHeader: string | undefined): boolean {
    // Drop the token only if it is the one that was refused: a concurrent request may have refreshed already.
    if (this.cached && sentHeader === `Bearer ${this.cached.accessToken}`) this.cached = undefined;
    return sentHeader !== undefined;
  }

  private token(call: CallContext): Promise<CachedToken> {
    if (this.cached && call.now() < this.cached.refreshAt) return Promise.resolve(this.cached);
    if (!this.refreshing) {
      this.refreshing = this.fetchToken(call)
        .then((token) => {
          this.cached = token;
          return token;
        })
        .finally(() => {
          this.refreshing = undefined;
        });
    }
    return this.refreshing;
  }

  private async fetchToken(call: CallContext): Promise<CachedToken> {
    const { baseUrl, clientId, clientSecret, transport } = this.options;
    const basic = Buffer.from(`${clientId}:${clientSecret}`, "utf8").toString("base64");
    registerSecret(basic);
    const response = await retryWithBackoff<HttpResponse>(
      async () => {
        this.tokenRequests += 1;
        let res: HttpResponse;
        try {
          res = await transport({
            method: "POST",
            url: `${baseUrl}/api/oauth/token`,
            headers: {
              Authorization: `Basic ${basic}`,
              "Content-Type": "application/x-www-form-urlencoded",
              Accept: "application/json",
            },
            body: "grant_type=client_credentials",
            timeoutMs: requestTimeoutMs(call),
          });
        } catch (err) {
          if (err instanceof TransportError) return { kind: "retry", error: transportFailure("oauthToken", err) };
          throw err;
        }
        if (res.status === 200) return { kind: "done", value: res };
        const error = oauthError(res);
        if (res.status === 429 || res.status >= 500) {
          return { kind: "retry", error, retryAfterMs: parseRetryAfter(res.headers["retry-after"], call.now()) };
        }
        return { kind: "fatal", error };
      },
      {
        clock: call,
        deadline: call.deadline,
        policy: this.options.backoff,
        random: this.options.random,
        // Said like every other Atlas retry, so a slow `pulumi up` shows why it waits.
        onRetry: ({ delayMs, error }) => {
          const why = error instanceof AtlasApiError && error.status ? `HTTP ${error.status}` : "an error";
          call.log?.(`Atlas answered ${why} to oauthToken; retrying in ${Math.ceil(delayMs / 1000)} s`);
        },
        giveUp: (last, info) => withGaveUp(last, info),
      },
    );
    let parsed: { access_token?: unknown; expires_in?: unknown };
    try {
      parsed = JSON.parse(response.body) as typeof parsed;
    } catch {
      parsed = {};
    }
    if (typeof parsed.access_token !== "string" || !parsed.access_token) {
      throw new AtlasApiError({
        operation: "oauthToken", status: 200, errorCode: "INVALID_TOKEN_RESPONSE",
        detail: "the token endpoint answered without an access_token", parameters: [], fieldViolations: [],
      });
    }
    registerSecret(parsed.access_token);
    const lifetimeMs = (typeof parsed.expires_in === "number" && parsed.expires_in > 0 ? parsed.expires_in : 3600) * 1000;
    const margin = Math.min(this.options.refreshMarginMs ?? 60_000, lifetimeMs / 2);
    return { accessToken: parsed.access_token, refreshAt: call.now() + lifetimeMs - margin };
  }
}

/** The OAuth endpoint answers in OAuth's own error format ({ error, error_description }), not Atlas's. */
function oauthError(res: HttpResponse): AtlasApiError {
  const body = parseErrorBody(res.body) as Record<string, unknown>;
  const oauthCode = typeof body.error === "string" ? body.error : undefined;
  const info = errorInfoFrom("oauthToken", res.status, {
    ...body,
    error: undefined,
    errorCode: (body.errorCode as string | undefined) ?? oauthCode,
    detail: (body.detail as string | undefined) ?? (body.error_description as string | undefined),
  });
  if (res.status === 400 || res.status === 401) {
    info.detail = "the service account client id or secret was not accepted";
    info.status = 401;
  }
  return new AtlasApiError(info);
}

export function transportFailure(operation: string, err: TransportError): AtlasApiError {
  return new AtlasApiError({
    operation, status: 0, errorCode: err.code, detail: err.message, parameters: [], fieldViolations: [],
  });
}

/** Re-raises a retryable AtlasApiError as "gave up after N attempts". */
export function withGaveUp(last: unknown, info: { attempts: number; reason: "deadline" | "attempts" }): unknown {
  if (!(last instanceof AtlasApiError)) return last;
  return new AtlasApiError({
    operation: last.operation, status: last.status, errorCode: last.errorCode, detail: last.detail,
    parameters: last.parameters, fieldViolations: last.fieldViolations, gaveUp: { attempts: info.attempts, reason: info.reason },
  });
}

/** Real-time budget of one exchange: what is left of the deadline, between 1 s and 60 s. */
export function requestTimeoutMs(call: CallContext): number {
  return Math.min(60_000, Math.max(1000, call.deadline - call.now()));
}
