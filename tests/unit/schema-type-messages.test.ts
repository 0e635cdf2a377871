// A value of the wrong type anywhere in the Migration's inputs gets a message in the user's terms: what the field
// must be and, where the intent is clear (writeBlocking: "none"), what to write instead. Never zod's own phrasing
// ("Invalid input: expected object, received string"), which names neither the shape nor the fix.
//
// The fields are enumerated from the schema itself, so a field added later is covered without editing this test.
import { migrationInputsSchema, validateInputs } from "../../provider/schema";

const good = () =>
  ({
    source: { uri: "mongodb://app:pw@src1.example:27017/?replicaSet=rs0" },
    target: { uri: "mongodb+srv://migrator:pw@cluster0.abcde.mongodb.net" },
    cutover: false,
  }) as Record<string, unknown>;

/** zod's built-in messages (zod 4 locales/en): none of them may reach a user. */
const RAW_ZOD = /Invalid input|Invalid option|expected \w+, received|Too (small|big)|Unrecognized key|Invalid (string|element|key|union)/;

const WRONG_VALUES: unknown[] = ["none", 42, true, [], {}, ["x"]];

/** The object schema inside optional/default wrappers, or undefined for a non-object field. */
function objectShape(schema: any): Record<string, unknown> | undefined {
  let s = schema;
  while (s && typeof s.unwrap === "function" && !s.shape) s = s.unwrap();
  return s?.shape;
}

function fieldPaths(): string[][] {
  const top = objectShape(migrationInputsSchema)!;
  const paths: string[][] = [];
  for (const [key, child] of Object.entries(top)) {
    paths.push([key]);
    for (const nested of Object.keys(objectShape(child) ?? {})) paths.push([key, nested]);
  }
  return paths;
}

function withValue(path: string[], value: unknown): Record<string, unknown> {
  const inputs = good();
  if (path.length === 1) inputs[path[0]] = value;
  else inputs[path[0]] = { ...((inputs[path[0]] as object) ?? {}), [path[1]]: value };
  return inputs;
}

test("the schema has the fields this test walks", () => {
  expect(fieldPaths().map((p) => p.join("."))).toEqual(expect.arrayContaining(["writeBlocking", "writeBlocking.mode", "mongosync.urls", "atlasPush.hostnameSchemaType"]));
});

describe.each(fieldPaths().map((p) => [p.join("."), p] as const))("%s", (_name, path) => {
  test.each(WRONG_VALUES.map((v) => [JSON.stringify(v), v] as const))("= %s: no raw zod message, and every failure names a property", (_v, value) => {
    for (const failure of validateInputs(withValue(path, value), {})) {
      expect(failure.reason).not.toMatch(RAW_ZOD);
      expect(failure.property).not.toBe("");
    }
  });
});

test('writeBlocking: "none" says what to write instead', () => {
  expect(validateInputs({ ...good(), writeBlocking: "none" }, {})).toEqual([
    { property: "writeBlocking", reason: expect.stringContaining('write writeBlocking: { mode: "none" }') },
  ]);
});

test("an object field given a string says it must be an object and shows one", () => {
  const [failure] = validateInputs({ ...good(), timeouts: "20" }, {});
  expect(failure).toEqual({ property: "timeouts", reason: expect.stringMatching(/^timeouts must be an object such as \{ createMinutes: 20/) });
});

test('mongosync: "http://…" (one URL where the options object goes) is answered with the object to write', () => {
  const [failure] = validateInputs({ ...good(), mongosync: "http://10.0.0.5:27182" }, {});
  expect(failure.reason).toContain('write mongosync: { urls: ["http://10.0.0.5:27182"] }');
});

test("a required nested field left out is named as missing, not as 'received undefined'", () => {
  const [failure] = validateInputs({ ...good(), mongosync: {} }, {});
  expect(failure).toEqual({ property: "mongosync.urls", reason: expect.stringMatching(/^mongosync\.urls is missing: /) });
});
