// Ctrl-C in the provider host: the host's Cancel RPC is a no-op (@pulumi/pulumi cmd/dynamic-provider), so only the
// signal reaches us. After requestStop (what SIGINT/SIGTERM call in the host) a create that would otherwise poll
// for createMinutes returns at its next safe point as a partial initialization: the resource is kept, the next
// `pulumi up` resumes it. The mongosync emulator never progresses here, so without the stop this test would
// wait out the 30-minute create budget (and fail on jest's timeout) whatever the machine's speed.
import * as runtime from "../../provider/runtime";
import { MongosyncEmulator } from "../../testing/mongosync-emulator";

let mongosync: MongosyncEmulator;
beforeAll(async () => {
  mongosync = await MongosyncEmulator.start({ version: "1.19.0", advanceOnProgress: false });
});
afterAll(async () => {
  runtime.clearStopRequest();
  await mongosync?.stop();
});

test("a stop request ends a long create at its next poll, kept as partial, saying so and how to resume", async () => {
  const log = jest.spyOn(console, "log").mockImplementation(() => undefined);
  try {
    const inputs = {
      __provider: "p",
      resourceName: "orders",
      providerVersion: "0.1.0",
      engine: "mongosync",
      source: { uri: "mongodb://app:pw-1@src1.example:27017/?replicaSet=rs0" },
      target: { uri: "mongodb+srv://m:pw-2@c.abcde.mongodb.net" },
      mongosync: { urls: [mongosync.url], version: "1.19.0" },
      cutover: false,
      timeouts: { createMinutes: 30, pollSeconds: 5 },
    };
    const created = runtime.create(inputs).then(
      () => undefined,
      (e) => e,
    );
    // Ask for the stop once the sync has started and is being polled.
    while (mongosync.count("progress") < 2) await new Promise((r) => setTimeout(r, 20));
    runtime.requestStop("SIGINT");
    const rejection: any = await created;
    expect(rejection.id).toMatch(/^orders-/);
    expect(rejection.message).toMatch(/interrupted \(SIGINT\)/);
    expect(rejection.message).toMatch(/pulumi up/);
    expect(rejection.properties.handle.engine).toBe("mongosync");
    expect(mongosync.count("start")).toBe(1);
    expect(log.mock.calls.join("\n")).toMatch(/SIGINT received: stopping each migration at its next safe point/);
  } finally {
    log.mockRestore();
  }
});
