// The Migration's check for inputs that AtlasMigration writes: messages in the component's terms, the first
// `pulumi up` with cutover: true refused while the program would leave out what the sync needs, and
// migrationUser removable once an existing migration is cut over. `olds` are what Pulumi's check passes:
// `{}` before a create, the stored inputs before an update.
import { validateInputs } from "../../provider/schema";

const base = {
  resourceName: "orders-migration",
  engine: "builtin",
  source: { uri: "mongodb://app:pw@src.example:27017/?replicaSet=rs0" },
  target: {
    uri: "mongodb+srv://migrator:mig-pw@orders.x.mongodb.net/",
    atlas: { projectId: "6a1a2b3c4d5e6f7a8b9c0d1e", clusterName: "Orders", tier: "M10" },
  },
  declaredBy: "AtlasMigration orders",
  dropsAtCutover: { temporaryAccessEntries: 1, migrationUser: true },
};
const stored = { ...base, cutover: false, providerVersion: "0.1.0" };

test("a first `pulumi up` with cutover: true is refused at preview when temporary entries and the migration user would be missing", () => {
  const failures = validateInputs({ ...base, cutover: true }, {});
  expect(failures).toEqual([
    {
      property: "cutover",
      reason: expect.stringMatching(
        /^AtlasMigration orders: the first `pulumi up` already has cutover: true, but 1 temporary accessList entry and the migration user exist only while cutover is false.*Run the first `pulumi up` with cutover: false/,
      ),
    },
  ]);
});

test("the same inputs are fine as the cutover of an existing migration, and when nothing would be missing", () => {
  expect(validateInputs({ ...base, cutover: true }, stored)).toEqual([]);
  expect(validateInputs({ ...base, cutover: true, dropsAtCutover: { temporaryAccessEntries: 0, migrationUser: false } }, {})).toEqual([]);
  // Validation for a run (no olds: create/update about to drive) never applies the first-up rule.
  expect(validateInputs({ ...base, cutover: true })).toEqual([]);
});

test("without the migration user's connection string the message names migrationUser, not target.uri", () => {
  const { uri: _uri, ...target } = base.target;
  const failures = validateInputs({ ...base, target, cutover: false }, stored);
  expect(failures).toHaveLength(1);
  expect(failures[0].reason).toMatch(/^AtlasMigration orders: migrationUser is not set, and the builtin engine writes into the Atlas cluster as a database user/);
  expect(failures[0].reason).not.toMatch(/target\.uri/);
});

test("migrationUser removed after the cutover: check accepts it for an existing migration; a run still refuses", () => {
  const { uri: _uri, ...target } = base.target;
  const news = { ...base, target, cutover: true, dropsAtCutover: { temporaryAccessEntries: 1, migrationUser: false } };
  expect(validateInputs(news, { ...stored, cutover: true })).toEqual([]);
  // The run (update of a migration that is not COMPLETE yet) has no credentials: refused with the same message.
  expect(validateInputs(news).map((f) => f.reason).join("\n")).toMatch(/migrationUser is not set/);
});

test("cutoverReadiness and atlasCredentials are validated like every other input", () => {
  const failures = validateInputs({ ...base, cutoverReadiness: { maxLagSeconds: -1, requireVerification: "most" }, atlasCredentials: { baseUrl: "ftp://x" } });
  expect(failures.map((f) => f.property).sort()).toEqual(["atlasCredentials.baseUrl", "cutoverReadiness.maxLagSeconds", "cutoverReadiness.requireVerification"]);
  expect(validateInputs({ ...base, cutoverReadiness: { maxLagSeconds: 5, maxStatusAgeMinutes: 30, requireVerification: "full" } })).toEqual([]);
});
