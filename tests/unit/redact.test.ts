// Credentials never survive into a message.
import { redact, registerSecret, MigrationError, describeError, redactConnectionEcho, rawCredentialProblem } from "../../provider/errors";

describe("redact", () => {
  test.each([
    ["mongodb://app:s3cret@db1:27017/x", "mongodb://app:****@db1:27017/x"],
    ["mongodb+srv://migrator:p%40ss@orders.abcde.mongodb.net/?retryWrites=true", "mongodb+srv://migrator:****@orders.abcde.mongodb.net/?retryWrites=true"],
    ["failed: connect mongodb://a:b@h1,h2/?replicaSet=rs and mongodb://c:d@h3", "failed: connect mongodb://a:****@h1,h2/?replicaSet=rs and mongodb://c:****@h3"],
    ["mongodb://userOnly@h/", "mongodb://userOnly@h/"],
    ["Authorization: Bearer eyJhbGciOi.abc.def", "Authorization: Bearer ****"],
    ['authorization: Digest username="pub", response="abc"', "authorization: Digest ****"],
    ['{"password":"hunter22","user":"x"}', '{"password":"****","user":"x"}'],
    ["client_secret=abcd1234&grant_type=client_credentials", "client_secret=****&grant_type=client_credentials"],
    ["no secrets here", "no secrets here"],
  ])("%s", (input, expected) => {
    expect(redact(input)).toBe(expected);
  });

  test("registered secrets are masked wherever they appear", () => {
    registerSecret("Sup3rS3cretPrivKey");
    expect(redact("server said: bad key Sup3rS3cretPrivKey for user")).toBe("server said: bad key **** for user");
  });

  test("short registered values are ignored (they would mangle ordinary text)", () => {
    registerSecret("ab");
    expect(redact("absolutely")).toBe("absolutely");
  });

  test("our errors redact their message at construction", () => {
    const err = new MigrationError("X", "could not reach mongodb://root:toor1234@10.0.0.1:27017");
    expect(err.message).toBe("could not reach mongodb://root:****@10.0.0.1:27017");
    expect(describeError(new Error("mongodb://a:bcdef@h"))).toBe("mongodb://a:****@h");
    expect(describeError("mongodb://a:bcdef@h")).toBe("mongodb://a:****@h");
  });
});

// M4: the shapes the first redact() missed. Each line is an input and what must be left of it.
describe("redact: credentials the first patterns let through (M4)", () => {
  test.each([
    // A raw @ or ? in the password: everything up to the last @ before the host is the password.
    ["mongodb://app:Tr0ub@dor?Secret99@db.example.com/", "mongodb://app:****@db.example.com/"],
    ["mongodb://app:Tr0ub@dor/Secret99@db.example.com/", "mongodb://app:****@db.example.com/"],
    // Spaces and quotes in a raw password.
    ["connect mongodb://app:pass w0rd@h1:27017/x failed", "connect mongodb://app:****@h1:27017/x failed"],
    ["mongodb://app:it's\"q@h1/", "mongodb://app:****@h1/"],
    // Quoted values keep their quotes, whatever they hold.
    ['{"password":"hunter 22, \\"x\\"","user":"x"}', '{"password":"****","user":"x"}'],
    ["password='two words'", "password='****'"],
    // Option names that end in Password, AWS temporary credentials.
    ["mongodb://h/?tls=true&tlsCertificateKeyFilePassword=k3yPass&x=1", "mongodb://h/?tls=true&tlsCertificateKeyFilePassword=****&x=1"],
    ["authMechanismProperties=AWS_SESSION_TOKEN:FQoGZXIvYXdz,SERVICE_NAME:x", "authMechanismProperties=AWS_SESSION_TOKEN:****,SERVICE_NAME:x"],
    ["AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG", "AWS_SECRET_ACCESS_KEY=****"],
    // Every credential of a string that holds several.
    ["mongodb://a:one1@h1,mongodb://b:two2@h2 and password=three3 and password=four4", "mongodb://a:****@h1,mongodb://b:****@h2 and password=**** and password=****"],
    ["src mongodb://a:one1@h1 dst mongodb+srv://b:two2@c.x.net", "src mongodb://a:****@h1 dst mongodb+srv://b:****@c.x.net"],
  ])("%s", (input, expected) => {
    const out = redact(input);
    expect(out).toBe(expected);
    for (const secret of ["Tr0ub", "Secret99", "w0rd", "it's", "hunter", "two words", "k3yPass", "FQoG", "wJalr", "one1", "two2", "three3", "four4"]) {
      if (input.includes(secret) && !expected.includes(secret)) expect(out).not.toContain(secret);
    }
  });

  test("redactConnectionEcho masks what a driver echoes of a connection string's password", () => {
    const uri = "mongodb://app:Tr0ub@dor?Secret99@db.example.com/";
    expect(redactConnectionEcho('URI option "Secret99@db.example.com/" cannot be specified with no value', uri)).toBe(
      'URI option "****@db.example.com/" cannot be specified with no value',
    );
    expect(redactConnectionEcho("unrelated text", uri)).toBe("unrelated text");
  });

  test("rawCredentialProblem names a raw @ in the credentials, and passes encoded ones", () => {
    expect(rawCredentialProblem("mongodb://app:Tr0ub@dor/Secret99@db.example.com/")).toMatch(/more than one "@".*%40/);
    expect(rawCredentialProblem("mongodb://app:Tr0ub%40dor@db.example.com/")).toBeUndefined();
    expect(rawCredentialProblem("mongodb+srv://db.example.com/?appName=x")).toBeUndefined();
  });
});
