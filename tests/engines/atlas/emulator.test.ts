// The AtlasApiEmulator on its own, spoken to with raw HTTP: it must hold clients to the documented protocol,
// so a client that skips a header or reuses a nonce wrongly fails here as it would against Atlas.
import * as http from "http";
import { digestAuthorization, parseDigestChallenges } from "../../../provider/engines/http/digest";
import { AtlasApiEmulator } from "../../../testing/atlas-emulator";
import { API_KEY, ATLAS_PROJECT_ID, CM_PROJECT_ID, ORG_ID, SERVICE_ACCOUNT, startEmulator } from "./fixtures";

interface Raw { status: number; headers: http.IncomingHttpHeaders; body: string; json: any }

function raw(emulator: AtlasApiEmulator, method: string, path: string, headers: Record<string, string> = {}, body?: string): Promise<Raw> {
  return new Promise((resolve, reject) => {
    const req = http.request(emulator.baseUrl + path, { method, headers }, (res) => {
      let text = "";
      res.on("data", (c) => (text += c));
      res.on("end", () => {
        let json: unknown;
        try { json = JSON.parse(text); } catch { json = undefined; }
        resolve({ status: res.statusCode!, headers: res.headers, body: text, json });
      });
    });
    req.on("error", reject);
    if (body) req.write(body);
    req.end();
  });
}

const V2023 = { Accept: "application/vnd.atlas.2023-01-01+json" };
const PROJECTS = `/api/atlas/v2/orgs/${ORG_ID}/liveMigrations/availableProjects`;

/** Authenticates one request by digest, answering the emulator's challenge. */
async function digest(emulator: AtlasApiEmulator, method: string, path: string, headers: Record<string, string>, body?: string, nc = "00000001", nonceFrom?: Raw): Promise<Raw> {
  const challenge = nonceFrom ?? (await raw(emulator, method, path, headers, body));
  const [c] = parseDigestChallenges(String(challenge.headers["www-authenticate"]));
  const authorization = digestAuthorization({
    username: API_KEY.publicKey, password: API_KEY.privateKey, realm: c.realm, nonce: c.nonce, method, uri: path,
    algorithm: c.algorithm, qop: "auth", nc, cnonce: "0a4f113b",
  });
  return raw(emulator, method, path, { ...headers, Authorization: authorization }, body);
}

describe("AtlasApiEmulator protocol", () => {
  let emulator: AtlasApiEmulator;
  beforeEach(async () => { emulator = await startEmulator(); });
  afterEach(async () => { await emulator.stop(); });

  test("no credentials: 401 with a digest challenge and the ApiError envelope", async () => {
    const res = await raw(emulator, "GET", PROJECTS, V2023);
    expect(res.status).toBe(401);
    expect(res.headers["www-authenticate"]).toMatch(/^Digest realm="MMS Public API", domain="", nonce="[^"]+", algorithm=MD5, qop="auth", stale=false$/);
    expect(res.json).toMatchObject({ error: 401, errorCode: "UNAUTHORIZED", reason: "Unauthorized" });
  });

  test("a correct digest answer is accepted; a replayed nc is stale; a wrong key is not", async () => {
    const challenge = await raw(emulator, "GET", PROJECTS, V2023);
    const ok = await digest(emulator, "GET", PROJECTS, V2023, undefined, "00000001", challenge);
    expect(ok.status).toBe(200);
    expect(ok.headers["content-type"]).toBe("application/vnd.atlas.2023-01-01+json");
    expect(ok.json[0]).toMatchObject({ projectId: CM_PROJECT_ID, migrationHosts: ["vm001.example.com"] });
    const replay = await digest(emulator, "GET", PROJECTS, V2023, undefined, "00000001", challenge);
    expect(replay.status).toBe(401);
    expect(replay.headers["www-authenticate"]).toMatch(/stale=true/);
    const [c] = parseDigestChallenges(String(challenge.headers["www-authenticate"]));
    const wrong = digestAuthorization({ username: API_KEY.publicKey, password: "nope", realm: c.realm, nonce: c.nonce, method: "GET", uri: PROJECTS, algorithm: "MD5", qop: "auth", nc: "00000009", cnonce: "x" });
    const refused = await raw(emulator, "GET", PROJECTS, { ...V2023, Authorization: wrong });
    expect(refused.status).toBe(401);
    expect(refused.headers["www-authenticate"]).toMatch(/stale=false/);
  });

  test("a nonce wears out after nonceMaxUses", async () => {
    await emulator.stop();
    emulator = await startEmulator({ nonceMaxUses: 2 });
    const challenge = await raw(emulator, "GET", PROJECTS, V2023);
    const statuses = [];
    for (const nc of ["00000001", "00000002", "00000003"]) statuses.push((await digest(emulator, "GET", PROJECTS, V2023, undefined, nc, challenge)).status);
    expect(statuses).toEqual([200, 200, 401]);
  });

  test("missing or too-old version header ⇒ 406; a later date resolves to the newest version not after it", async () => {
    const none = await digest(emulator, "GET", PROJECTS, {});
    expect(none.status).toBe(406);
    expect(none.json).toMatchObject({ error: 406 });
    const tooOld = await digest(emulator, "GET", PROJECTS, { Accept: "application/vnd.atlas.2022-01-01+json" });
    expect(tooOld.status).toBe(406);
    const later = await digest(emulator, "GET", PROJECTS, { Accept: "application/vnd.atlas.2025-03-12+json" });
    expect(later.status).toBe(200);
    expect(later.headers["content-type"]).toBe("application/vnd.atlas.2023-01-01+json");
  });

  test("2023-01-01 create bodies need dropEnabled; 2024-05-30 bodies refuse it", async () => {
    const path = `/api/atlas/v2/groups/${ATLAS_PROJECT_ID}/liveMigrations/validate`;
    const base = {
      source: { clusterName: "rs0", groupId: CM_PROJECT_ID, managedAuthentication: true, ssl: false },
      destination: { clusterName: "Cluster0", groupId: ATLAS_PROJECT_ID, hostnameSchemaType: "PUBLIC" },
      migrationHosts: ["vm001.example.com"],
    };
    const json = { "Content-Type": "application/json" };
    const old = await digest(emulator, "POST", path, { ...V2023, ...json }, JSON.stringify({ ...base, dropDestinationData: false }));
    expect(old.status).toBe(400);
    expect(old.json.badRequestDetail.fields).toEqual([{ field: "dropEnabled", description: "This field is required." }]);
    const current = { Accept: "application/vnd.atlas.2024-05-30+json", ...json };
    const mixed = await digest(emulator, "POST", path, current, JSON.stringify({ ...base, dropEnabled: true }));
    expect(mixed.json.badRequestDetail.fields[0].field).toBe("dropEnabled");
    const good = await digest(emulator, "POST", path, current, JSON.stringify({ ...base, dropDestinationData: false }));
    expect(good.status).toBe(200);
    expect(good.json).toMatchObject({ status: "PENDING", groupId: ATLAS_PROJECT_ID, sourceGroupId: CM_PROJECT_ID });
  });

  test("OAuth: Basic + client_credentials mints a bearer token that expires", async () => {
    const basic = Buffer.from(`${SERVICE_ACCOUNT.clientId}:${SERVICE_ACCOUNT.clientSecret}`).toString("base64");
    const form = { Authorization: `Basic ${basic}`, "Content-Type": "application/x-www-form-urlencoded" };
    const wrongGrant = await raw(emulator, "POST", "/api/oauth/token", form, "grant_type=password");
    expect(wrongGrant.status).toBe(400);
    const minted = await raw(emulator, "POST", "/api/oauth/token", form, "grant_type=client_credentials");
    expect(minted.json).toMatchObject({ expires_in: 3600, token_type: "Bearer" });
    const bearer = { ...V2023, Authorization: `Bearer ${minted.json.access_token}` };
    expect((await raw(emulator, "GET", PROJECTS, bearer)).status).toBe(200);
    emulator.expireTokens();
    const expired = await raw(emulator, "GET", PROJECTS, bearer);
    expect([expired.status, expired.json.detail]).toEqual([401, "The access token has expired."]);
    const badSecret = await raw(emulator, "POST", "/api/oauth/token", { ...form, Authorization: `Basic ${Buffer.from(`${SERVICE_ACCOUNT.clientId}:x`).toString("base64")}` }, "grant_type=client_credentials");
    expect(badSecret.json).toEqual({ error: "invalid_client", error_description: "Invalid client credentials." });
  });

  test("the state machine moves by polls and by advance()/setStage(), with documented shapes", async () => {
    await emulator.stop();
    emulator = await startEmulator({ autoAdvance: false, scenario: { newPolls: 1, copyPolls: 1, syncPolls: 1, lagSeconds: 4 } });
    const create = await digest(emulator, "POST", `/api/atlas/v2/groups/${ATLAS_PROJECT_ID}/liveMigrations`,
      { Accept: "application/vnd.atlas.2024-05-30+json", "Content-Type": "application/vnd.atlas.2024-05-30+json" },
      JSON.stringify({
        source: { clusterName: "rs0", groupId: CM_PROJECT_ID, managedAuthentication: false, ssl: true, username: "u", password: "secret-pw" },
        destination: { clusterName: "Cluster0", groupId: ATLAS_PROJECT_ID, hostnameSchemaType: "PUBLIC" },
        migrationHosts: ["vm001.example.com"], dropDestinationData: false,
      }));
    expect(create.status).toBe(201);
    const id = create.json._id as string;
    expect(create.json).toEqual({ _id: id, status: "NEW", readyForCutover: false, lagTimeSeconds: null, migrationHosts: ["vm001.example.com"] });
    expect(emulator.migration(id)!.request.source.password).toBe("****");
    const stages = [];
    for (let i = 0; i < 4; i++) { stages.push(emulator.migration(id)!.stage); emulator.advance(id); }
    expect(stages).toEqual(["NEW", "COPYING", "SYNCING", "READY"]);
    const path = `/api/atlas/v2/groups/${ATLAS_PROJECT_ID}/liveMigrations/${id}`;
    const ready = await digest(emulator, "GET", path, V2023);
    expect(ready.json).toMatchObject({ status: "WORKING", readyForCutover: true, lagTimeSeconds: 4 });
    expect(emulator.migration(id)!.stage).toBe("READY"); // no auto-advance
    const cut = await digest(emulator, "PUT", `${path}/cutover`, V2023);
    expect([cut.status, cut.body]).toEqual([202, ""]);
    const again = await digest(emulator, "PUT", `${path}/cutover`, V2023);
    expect(again.status).toBe(400);
    emulator.setStage(id, "EXPIRED");
    expect((await digest(emulator, "GET", path, V2023)).json).toMatchObject({ status: "EXPIRED", readyForCutover: false });
  });

  test("faults: 429 bodies follow the token-bucket example, Retry-After only when asked, the log marks them", async () => {
    emulator.injectFault({ operation: "listAvailableProjects", status: 429, retryAfter: 12 });
    const limited = await digest(emulator, "GET", PROJECTS, V2023);
    expect(limited.status).toBe(429);
    expect(limited.headers["retry-after"]).toBe("12");
    expect(limited.headers["ratelimit-remaining"]).toBe("0");
    expect(limited.json).toMatchObject({ errorCode: "RATE_LIMITED_TOKEN_BUCKET", parameters: [PROJECTS, 12, 100, 100, 60] });
    emulator.injectFault({ operation: "listAvailableProjects", status: 500 });
    const noRetryAfter = await digest(emulator, "GET", PROJECTS, V2023);
    expect([noRetryAfter.status, noRetryAfter.headers["retry-after"]]).toEqual([500, undefined]);
    expect(emulator.requests.filter((r) => r.fault).map((r) => [r.operation, r.status])).toEqual([["listAvailableProjects", 429], ["listAvailableProjects", 500]]);
  });

  test("unknown routes are 404 in the envelope", async () => {
    const res = await raw(emulator, "GET", "/api/atlas/v2/nothing");
    expect(res.json).toMatchObject({ error: 404, errorCode: "RESOURCE_NOT_FOUND" });
  });
});
