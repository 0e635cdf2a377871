import {
  DigestSession,
  digestAuthorization,
  digestResponse,
  parseAuthHeader,
  parseDigestChallenges,
} from "../../../provider/engines/http/digest";

// RFC 7616 §3.9.1.
const rfc = {
  username: "Mufasa",
  password: "Circle of Life",
  realm: "http-auth@example.org",
  nonce: "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
  cnonce: "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
  uri: "/dir/index.html",
  method: "GET",
  nc: "00000001",
  qop: "auth" as const,
};

describe("HTTP digest (RFC 7616)", () => {
  test("§3.9.1 example, MD5", () => {
    expect(digestResponse({ ...rfc, algorithm: "MD5" })).toBe("8ca523f5e9506fed4657c9700eebdbec");
  });

  test("§3.9.1 example, SHA-256", () => {
    expect(digestResponse({ ...rfc, algorithm: "SHA-256" })).toBe(
      "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1",
    );
  });

  test("RFC 2069 form (no qop) and -sess differ from the plain form", () => {
    const plain = digestResponse({ ...rfc, algorithm: "MD5" });
    expect(digestResponse({ ...rfc, algorithm: "MD5", qop: undefined })).not.toBe(plain);
    expect(digestResponse({ ...rfc, algorithm: "MD5-sess" })).not.toBe(plain);
  });

  test("parses the RFC's two challenges on one line, strongest first", () => {
    const header =
      'Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm=SHA-256, ' +
      'nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS", ' +
      'Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm=MD5, ' +
      'nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"';
    const challenges = parseDigestChallenges(header);
    expect(challenges.map((c) => c.algorithm)).toEqual(["SHA-256", "MD5"]);
    expect(challenges[0]).toMatchObject({ realm: "http-auth@example.org", qop: ["auth", "auth-int"], stale: false });
    expect(challenges[0].opaque).toBe("FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS");
  });

  test("ignores challenges it cannot answer and Basic challenges", () => {
    expect(parseDigestChallenges('Basic realm="x"')).toEqual([]);
    expect(parseDigestChallenges('Digest realm="x", nonce="n", qop="auth-int"')).toEqual([]);
    expect(parseDigestChallenges('Digest realm="x", nonce="n", algorithm=SHA-512-256')).toEqual([]);
  });

  test("the Authorization header round-trips through the parser with the RFC response", () => {
    const header = digestAuthorization({ ...rfc, algorithm: "MD5", opaque: "op\"aque" });
    const [parsed] = parseAuthHeader(header);
    expect(parsed.scheme).toBe("Digest");
    expect(parsed.params).toMatchObject({
      username: "Mufasa", realm: rfc.realm, uri: rfc.uri, nc: "00000001", qop: "auth",
      cnonce: rfc.cnonce, response: "8ca523f5e9506fed4657c9700eebdbec", opaque: 'op"aque',
    });
  });

  test("a session reuses the nonce with an incrementing nc, and re-challenges only when stale", () => {
    const session = new DigestSession("pub", "priv");
    expect(session.authorize("GET", "/a")).toBeUndefined();
    expect(session.onChallenge('Digest realm="MMS Public API", nonce="n1", algorithm=MD5, qop="auth", stale=false', false)).toBe(true);
    const first = parseAuthHeader(session.authorize("GET", "/a")!)[0].params;
    const second = parseAuthHeader(session.authorize("POST", "/b")!)[0].params;
    expect([first.nc, second.nc]).toEqual(["00000001", "00000002"]);
    expect(first.cnonce).not.toBe(second.cnonce);
    expect(second.response).toBe(
      digestResponse({ username: "pub", password: "priv", realm: "MMS Public API", nonce: "n1", method: "POST", uri: "/b",
        algorithm: "MD5", qop: "auth", nc: "00000002", cnonce: second.cnonce }),
    );
    // a stale nonce after we answered: retry with the new one, nc restarts
    expect(session.onChallenge('Digest realm="MMS Public API", nonce="n2", algorithm=MD5, qop="auth", stale=true', true)).toBe(true);
    expect(parseAuthHeader(session.authorize("GET", "/a")!)[0].params).toMatchObject({ nonce: "n2", nc: "00000001" });
    // a non-stale challenge after we answered: the key is wrong, do not loop
    expect(session.onChallenge('Digest realm="MMS Public API", nonce="n3", algorithm=MD5, qop="auth"', true)).toBe(false);
  });
});
