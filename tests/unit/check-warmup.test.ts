// `check` latency (issue 11): the first check of a provider process paid for loading zod and the input schema
// and for zod compiling its parsers on their first parse (measured 174–345 ms; bench/index.ts prints it now).
// The Pulumi dynamic-provider host calls `configure` once before the first `check` (@pulumi/pulumi
// cmd/dynamic-provider/index.js getProvider), so configure pays it. Nothing here is timed: the test checks that
// configure runs the warm-up, and that the warm-up inputs walk both the passing and the failing paths.
describe("check warm-up", () => {
  test("configure loads the input schema and warms validation, once", () => {
    jest.isolateModules(() => {
      // eslint-disable-next-line @typescript-eslint/no-var-requires
      const isolatedSchema = require("../../provider/schema") as typeof import("../../provider/schema");
      const validate = jest.spyOn(isolatedSchema.migrationInputsSchema, "safeParse");
      // eslint-disable-next-line @typescript-eslint/no-var-requires
      const runtime = require("../../provider/runtime") as typeof import("../../provider/runtime");
      runtime.configure({ get: () => undefined });
      const warmed = validate.mock.calls.length;
      expect(warmed).toBeGreaterThan(0);
      const results = validate.mock.results.map((r) => (r.value as { success: boolean }).success);
      expect(results).toContain(true);
      expect(results).toContain(false);
      runtime.configure({ get: () => undefined });
      expect(validate.mock.calls.length).toBe(warmed);
    });
  });
});
