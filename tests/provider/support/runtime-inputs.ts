// The Migration inputs the runtime-level suites start from, as the SDK hands them to the provider, and the
// console lines the runtime logs (what `pulumi up` prints), captured per test.
export const SRC = "mongodb://app:s3cretPw@src1.example.com:27017/?replicaSet=rs0";
export const TGT = "mongodb+srv://migrator:t4rgetPw@orders.abcde.mongodb.net/";

export const inputs = (over: Record<string, any> = {}) => ({
  __provider: "serialized-provider-text",
  resourceName: "orders",
  providerVersion: "0.1.0",
  source: { uri: SRC },
  target: { uri: TGT },
  cutover: false,
  ...over,
});

/** The console.log lines of the running test; emptied before each test, console restored after it. */
export function captureLogs(): string[] {
  const lines: string[] = [];
  beforeEach(() => {
    lines.length = 0;
    jest.spyOn(console, "log").mockImplementation((...args: unknown[]) => {
      lines.push(args.join(" "));
    });
  });
  afterEach(() => jest.restoreAllMocks());
  return lines;
}
