// provider/runtime.ts hears the CLI's Ctrl-C through the Cancel RPC by wrapping grpc-js's Server#_retrieveHandler in
// the dynamic-provider host (plugins never get the terminal's SIGINT: the CLI starts them in their own process
// group). That is a grpc-js internal: this offline check fails on a grpc-js upgrade that drops it, before the
// Pulumi-CLI tier (tests/e2e/interrupt.test.ts) would show Ctrl-C waiting for createMinutes again.
import * as path from "path";

test("the grpc-js the dynamic-provider host loads still routes every call through Server#_retrieveHandler", () => {
  const hostDir = path.dirname(require.resolve("@pulumi/pulumi/cmd/dynamic-provider"));
  const grpc = require(require.resolve("@grpc/grpc-js", { paths: [hostDir] }));
  expect(typeof grpc.Server.prototype._retrieveHandler).toBe("function");
  const serverJs = require("fs").readFileSync(path.join(path.dirname(require.resolve("@grpc/grpc-js", { paths: [hostDir] })), "server.js"), "utf8");
  expect(serverJs).toMatch(/this\._retrieveHandler\(path\)/);
});
