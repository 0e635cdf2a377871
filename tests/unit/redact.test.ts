// Credentials never survive into a message.
import { redact, registerSecret, MigrationError, describeError } from "../../provider/errors";

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
