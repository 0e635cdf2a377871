// One HTTP exchange over node's http/https, with the body read fully as text. Callers (the Atlas and
// mongosync clients) add auth, retries and JSON on top; tests can swap in their own transport.

import * as http from "http";
import * as https from "https";

export interface HttpRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
  body?: string;
  /** Real (wall-clock) milliseconds the exchange may take before it is aborted. */
  timeoutMs: number;
}

export interface HttpResponse {
  status: number;
  /** Lower-case names; repeated headers joined with ", " (how WWW-Authenticate challenges arrive). */
  headers: Record<string, string | undefined>;
  body: string;
}

export type HttpTransport = (request: HttpRequest) => Promise<HttpResponse>;

/**
 * The exchange never produced a response (refused, reset, timed out, DNS). `maybeProcessed` says whether the
 * server could have acted on the request anyway, which decides if a non-idempotent call may be repeated.
 */
export class TransportError extends Error {
  readonly code: string;
  readonly maybeProcessed: boolean;
  constructor(code: string, message: string, maybeProcessed: boolean) {
    super(message);
    this.name = "TransportError";
    this.code = code;
    this.maybeProcessed = maybeProcessed;
  }
}

const NEVER_REACHED_SERVER = new Set(["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "ENETUNREACH"]);

export const nodeTransport: HttpTransport = (request) =>
  new Promise<HttpResponse>((resolve, reject) => {
    const url = new URL(request.url);
    const lib = url.protocol === "https:" ? https : http;
    const body = request.body === undefined ? undefined : Buffer.from(request.body, "utf8");
    const headers: Record<string, string> = { ...request.headers };
    if (body) headers["Content-Length"] = String(body.length);
    const req = lib.request(url, { method: request.method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.on("error", (err: NodeJS.ErrnoException) =>
        reject(new TransportError(err.code ?? "ERESPONSE", `response from ${url.host} broke off`, true)),
      );
      res.on("end", () => {
        const out: Record<string, string | undefined> = {};
        for (const [name, value] of Object.entries(res.headers)) {
          out[name.toLowerCase()] = Array.isArray(value) ? value.join(", ") : value;
        }
        resolve({ status: res.statusCode ?? 0, headers: out, body: Buffer.concat(chunks).toString("utf8") });
      });
    });
    req.setTimeout(Math.max(1, request.timeoutMs), () => {
      req.destroy(new TransportError("ETIMEDOUT", `no answer from ${url.host} within ${Math.round(request.timeoutMs / 1000)} s`, true));
    });
    req.on("error", (err: NodeJS.ErrnoException) => {
      if (err instanceof TransportError) return reject(err);
      const code = err.code ?? "ENETWORK";
      reject(new TransportError(code, `could not reach ${url.host} (${code})`, !NEVER_REACHED_SERVER.has(code)));
    });
    if (body) req.write(body);
    req.end();
  });
