// The mongosync section of the Migration inputs: the rules `pulumi preview` shows for reverse sync, pre-6.0
// sources and shard keys, and what reaches the engine's spec.
import { toSpec, validateInputs, type MigrationInputs } from "../../../provider/schema";

const base = (mongosync: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
  engine: "mongosync",
  source: { uri: "mongodb://src.example:27017" },
  target: { uri: "mongodb+srv://orders.abcde.mongodb.net" },
  mongosync: { urls: ["http://127.0.0.1:27182"], version: "1.22.0", ...mongosync },
  ...extra,
});
const reasons = (inputs: Record<string, unknown>) => validateInputs(inputs).map((f) => `${f.property}: ${f.reason}`);

describe("mongosync inputs", () => {
  it("rollback needs reversible, a completed cutover and no namespace filter; rollbackCutover needs rollback", () => {
    expect(reasons(base({ rollback: true }, { cutover: true }))).toEqual([expect.stringMatching(/^mongosync.rollback: mongosync.rollback needs mongosync.reversible: true/)]);
    expect(reasons(base({ reversible: true, rollback: true }, { cutover: false }))).toEqual([expect.stringContaining("keep cutover: true")]);
    expect(reasons(base({ reversible: true, rollback: true }, { cutover: true, namespaces: { include: ["shop.*"] } }))).toEqual([expect.stringContaining("filtered sync")]);
    expect(reasons(base({ reversible: true, rollbackCutover: true }, { cutover: true }))).toEqual([expect.stringContaining("set mongosync.rollback: true first")]);
    expect(reasons(base({ reversible: true, rollback: true, rollbackCutover: true }, { cutover: true }))).toEqual([]);
  });

  it("reversible is refused for pre-6.0 sources and for replica set → sharded entries; shard keys are 1 or hashed", () => {
    expect(reasons(base({ reversible: true, sourceServerVersion: "5.0.20" }))).toEqual([expect.stringContaining("needs 6.0+")]);
    const entries = [{ database: "shop", collection: "orders", key: [{ customerId: 1 }] }];
    expect(reasons(base({ reversible: true, sharding: { entries } }))).toEqual([expect.stringContaining("replica set → sharded")]);
    expect(reasons(base({ sharding: { entries: [{ ...entries[0], key: [{ customerId: -1 }] }] } })).join()).toContain('must be 1 or "hashed"');
    expect(reasons(base({ sourceServerVersion: "five" }))).toEqual([expect.stringContaining('must look like "6.0.17"')]);
    expect(reasons(base({ version: "latest" }))).toEqual([expect.stringContaining('must look like "1.19.0"')]);
  });

  it("reaches the spec: sourceServerVersion, keepPaused, and the rollback step", () => {
    const spec = (m: Record<string, unknown>) => toSpec(base(m, { cutover: true }) as MigrationInputs).mongosync!;
    expect(spec({ sourceServerVersion: "5.0.20", keepPaused: true })).toMatchObject({ sourceServerVersion: "5.0.20", keepPaused: true, rollback: "none" });
    expect(spec({ reversible: true, rollback: true }).rollback).toBe("reverse");
    expect(spec({ reversible: true, rollback: true, rollbackCutover: true }).rollback).toBe("commit");
  });
});
