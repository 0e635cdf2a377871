// mongosync does not migrate users: with a source URI and the program's declared users (AtlasMigration), the
// preflight names each source user the target will not have; a source it cannot read is said, never fatal.
import { MemoryCluster } from "../../../testing/memory/memory-cluster";
import { createMongosyncEngine } from "../../../provider/engines/mongosync";
import { makeContext } from "../../support/context";
import { emulator, mongosyncSpec, stopEmulators } from "./helpers";

afterEach(async () => {
  await stopEmulators();
  MemoryCluster.reset();
});

test("undeclared source users are warned with the databaseUsers entry to add; declared ones are not", async () => {
  const source = MemoryCluster.create("ms-users-src");
  source.addUser("app", "shop", [{ role: "readWrite", db: "shop" }]);
  source.addUser("reporting", "admin", [{ role: "read", db: "shop" }]);
  const e = await emulator();
  const spec = mongosyncSpec([e.url], {}, { source: { uri: "memory://ms-users-src" }, declaredUsers: ["reporting@admin"] });
  const report = await createMongosyncEngine().preflight(spec, makeContext());
  const named = report.warnings.filter((w) => w.code === "SOURCE_USER_NOT_DECLARED").map((w) => w.message.split(" ")[2]);
  expect(named).toContain("app@shop");
  expect(named).not.toContain("reporting@admin");
  // Without declaredUsers (a bare Migration) the source is not read for users at all.
  const bare = await createMongosyncEngine().preflight(mongosyncSpec([e.url], {}, { source: { uri: "memory://ms-users-src" } }), makeContext());
  expect(bare.warnings.map((w) => w.code)).not.toContain("SOURCE_USER_NOT_DECLARED");
});

test("a source that cannot be read for users gives a warning, and the preflight still passes", async () => {
  const e = await emulator();
  const spec = mongosyncSpec([e.url], {}, { source: { uri: "memory://no-such-cluster" }, declaredUsers: [] });
  const report = await createMongosyncEngine().preflight(spec, makeContext());
  expect(report.ok).toBe(true);
  expect(report.warnings.find((w) => w.code === "SOURCE_USERS_UNREAD")?.action).toMatch(/databaseUsers/);
});
