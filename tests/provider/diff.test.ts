// diff: what a reviewer sees in `pulumi preview`.
import { diff, read } from "../../provider/runtime";
import { UNKNOWN } from "../../provider/schema";

const SRC = "mongodb://app:s3cretPw@src1.example.com:27017,src2.example.com:27017/?replicaSet=rs0";
const TGT = "mongodb+srv://migrator:t4rgetPw@orders.abcde.mongodb.net/";

const news = (over: Record<string, any> = {}) => ({
  __provider: "p",
  resourceName: "orders",
  providerVersion: "0.1.0",
  source: { uri: SRC },
  target: { uri: TGT },
  cutover: false,
  ...over,
});

/** Outputs as stored after a create (inputs + computed). */
const olds = (over: Record<string, any> = {}, computed: Record<string, any> = {}) => ({
  ...news(over),
  migrationId: "orders-abc",
  engine: "builtin",
  requestedEngine: null,
  phase: "READY_FOR_CUTOVER",
  lagSeconds: 1,
  statusCheckedAt: new Date().toISOString(), // create, update and refresh record their status read
  handle: { engine: "builtin", id: "orders-abc", startedAt: "t", data: {} },
  warnings: [],
  ...computed,
});

describe("diff", () => {
  test("unchanged ⇒ no changes", () => {
    expect(diff("id", olds(), news())).toEqual({ changes: false, replaces: [], deleteBeforeReplace: false });
  });

  test("a different __provider alone is not a change (the providerVersion input carries upgrades)", () => {
    expect(diff("id", olds(), { ...news(), __provider: "other text" }).changes).toBe(false);
  });

  test("cutover false → true ⇒ update, not replace", () => {
    expect(diff("id", olds(), news({ cutover: true }))).toEqual({ changes: true, replaces: [], deleteBeforeReplace: false });
  });

  test.each([
    ["source", { source: { uri: "mongodb://app:s3cretPw@other.example.com:27017/?replicaSet=rs1" } }],
    ["target", { target: { uri: "mongodb+srv://migrator:t4rgetPw@other.abcde.mongodb.net/" } }],
    ["engine", { engine: "mongosync", mongosync: { urls: ["http://127.0.0.1:27182"] } }],
    ["namespaces", { namespaces: { exclude: ["logs.*"] } }],
  ])("changing %s before cutover ⇒ replace, deleting the old migration first", (key, change) => {
    const result = diff("id", olds(), news(change));
    expect(result.changes).toBe(true);
    expect(result.replaces).toContain(key);
    expect(result.deleteBeforeReplace).toBe(true);
  });

  test("a rotated password (same hosts) ⇒ update, not a restart", () => {
    const result = diff("id", olds(), news({ source: { uri: SRC.replace("s3cretPw", "n3wPassword") } }));
    expect(result).toEqual({ changes: true, replaces: [], deleteBeforeReplace: false });
  });

  test("host order in the URI does not matter", () => {
    const reordered = "mongodb://app:s3cretPw@src2.example.com:27017,src1.example.com:27017/?replicaSet=rs0";
    expect(diff("id", olds(), news({ source: { uri: reordered } })).replaces).toEqual([]);
  });

  test("explicit engine equal to what auto resolved ⇒ no replace", () => {
    expect(diff("id", olds(), news({ engine: "builtin" })).replaces).toEqual([]);
  });

  test("namespace order does not matter", () => {
    const o = olds({ namespaces: { include: ["a.x", "b.*"] } });
    expect(diff("id", o, news({ namespaces: { include: ["b.*", "a.x"] } })).replaces).toEqual([]);
  });

  test("options (timeouts, verification) ⇒ update", () => {
    expect(diff("id", olds(), news({ timeouts: { cutoverMinutes: 60 } }))).toEqual({ changes: true, replaces: [], deleteBeforeReplace: false });
    expect(diff("id", olds(), news({ verificationMode: "counts" })).changes).toBe(true);
  });

  test("provider upgrade ⇒ update (so read/delete run the new code)", () => {
    expect(diff("id", olds(), news({ providerVersion: "0.2.0" }))).toEqual({ changes: true, replaces: [], deleteBeforeReplace: false });
  });

  test("cutover true → false after COMPLETE ⇒ a clear error", () => {
    const done = olds({ cutover: true }, { phase: "COMPLETE" });
    expect(() => diff("id", done, news({ cutover: false }))).toThrow(/COMPLETE and cannot be undone/);
  });

  test("cutover true → false while CUTTING_OVER ⇒ a clear error", () => {
    const cutting = olds({ cutover: true }, { phase: "CUTTING_OVER" });
    expect(() => diff("id", cutting, news({ cutover: false }))).toThrow(/cannot be called off/);
  });

  test("cutover true → false before the cutover started (create still catching up) is allowed", () => {
    const catchingUp = olds({ cutover: true }, { phase: "COPYING" });
    expect(diff("id", catchingUp, news({ cutover: false })).changes).toBe(true);
  });

  test("after COMPLETE, source/target edits are ignored (nothing left to migrate); an upgrade is stored", () => {
    const done = olds({ cutover: true }, { phase: "COMPLETE" });
    expect(diff("id", done, news({ cutover: true, target: { uri: "mongodb+srv://migrator:x@other.abcde.mongodb.net/" } }))).toEqual({
      changes: false,
      replaces: [],
      deleteBeforeReplace: false,
    });
    expect(diff("id", done, news({ cutover: true, providerVersion: "0.2.0" })).changes).toBe(true);
  });

  test("unknown values in preview: no throw, and an unknown URI is never previewed as a replacement", () => {
    // The target cluster changes in the same run: its connection string is unknown at preview. The real `up`
    // diffs again with it known; a delete-before-replace previewed here may never happen.
    const cutoverFlip = diff("id", olds(), news({ cutover: true, target: { uri: UNKNOWN } }));
    expect(cutoverFlip).toEqual({ changes: true, replaces: [], deleteBeforeReplace: false });
    expect(diff("id", olds(), news({ source: { uri: UNKNOWN } })).replaces).toEqual([]);
    expect(diff("id", olds(), news({ target: UNKNOWN })).replaces).toEqual([]);
    expect(() => diff("id", olds(), news({ cutover: UNKNOWN }))).not.toThrow();
    expect(() => diff("id", olds(), news({ namespaces: UNKNOWN, engine: UNKNOWN, target: UNKNOWN }))).not.toThrow();
    expect(diff("id", olds(), news({ timeouts: UNKNOWN })).changes).toBe(true);
  });

  test("a known difference next to an unknown part is still a replacement", () => {
    const o = olds({ target: { uri: TGT, atlas: { projectId: "p1", clusterName: "orders" } } });
    const moved = news({ target: { uri: UNKNOWN, atlas: { projectId: "p1", clusterName: "orders-v2" } } });
    expect(diff("id", o, moved).replaces).toEqual(["target"]);
  });

  describe("unfinished work (init errors are cleared by `pulumi refresh`, so the stored phase decides)", () => {
    test.each(["PENDING", "COPYING", "SYNCING", "FAILED"])("cutover: false, stored phase %s ⇒ update (resume)", (phase) => {
      expect(diff("id", olds({}, { phase }), news())).toEqual({ changes: true, replaces: [], deleteBeforeReplace: false });
    });

    test.each(["PENDING", "COPYING", "SYNCING", "READY_FOR_CUTOVER", "CUTTING_OVER"])(
      "cutover: true, stored phase %s ⇒ update (resume the cutover)",
      (phase) => {
        expect(diff("id", olds({ cutover: true }, { phase }), news({ cutover: true })).changes).toBe(true);
      },
    );

    test("cutover: false at READY_FOR_CUTOVER and cutover: true at COMPLETE are the desired states ⇒ no change", () => {
      expect(diff("id", olds(), news()).changes).toBe(false);
      expect(diff("id", olds({ cutover: true }, { phase: "COMPLETE" }), news({ cutover: true })).changes).toBe(false);
    });

    test("the reason is said in words (the preview's diagnostics)", () => {
      const log = jest.spyOn(console, "log").mockImplementation(() => undefined);
      try {
        diff("id", olds({}, { phase: "COPYING", progress: { percent: 63 }, lagSeconds: null }), news());
        expect(log.mock.calls.map((c) => c.join(" ")).join("\n")).toMatch(/\[orders\] the sync has not caught up yet \(COPYING, 63% copied\); `pulumi up` resumes it/);
      } finally {
        log.mockRestore();
      }
    });
  });

  describe("pulumi refresh calls diff right after read, with the stored inputs as news (RefreshStep.Apply): it must not throw", () => {
    test("completed outside Pulumi while the program still says cutover: false ⇒ no change, no error, now and in the next up", async () => {
      const refreshed = (await read("id", olds({ cutover: false }, { phase: "COMPLETE" }))).props;
      expect(diff("id", refreshed, news({ cutover: false }))).toEqual({ changes: false, replaces: [], deleteBeforeReplace: false });
      expect(diff("id", refreshed, news({ cutover: false }))).toEqual({ changes: false, replaces: [], deleteBeforeReplace: false });
    });

    test("a cutover that ran out of time: the stored inputs still say false (partial update), the refresh succeeds", async () => {
      // Outputs from the partial cutover (cutover: true), inputs as the engine kept them (cutover: false).
      const refreshed = (await read("id", olds({ cutover: true }, { phase: "CUTTING_OVER", handle: null }))).props;
      expect(() => diff("id", refreshed, news({ cutover: false }))).not.toThrow();
      // The `up` that follows (same outputs, the program's inputs) is not the refresh: it refuses the un-flip…
      expect(() => diff("id", refreshed, news({ cutover: false }))).toThrow(/cannot be called off/);
      // …and resumes with cutover: true.
      expect(diff("id", refreshed, news({ cutover: true })).changes).toBe(true);
    });

    test("a cutover started outside Pulumi: refresh fine; the up says to set cutover: true", async () => {
      const refreshed = (await read("id", olds({ cutover: false }, { phase: "CUTTING_OVER", handle: null }))).props;
      expect(() => diff("id", refreshed, news({ cutover: false }))).not.toThrow();
      expect(() => diff("id", refreshed, news({ cutover: false }))).toThrow(/set cutover: true and run `pulumi up` to let Pulumi finish it/);
    });
  });
});
