// The production engines, by name. Each is loaded only when used, so a stack that never talks to Atlas never
// loads the Atlas client. There is deliberately no way to register another engine here: tests drive the
// real engines against MemoryCluster and the local emulators (pulumi-atlas-migration/testing).
import type { EngineName, MigrationEngine } from "./engine";

export function engineFor(name: EngineName): MigrationEngine {
  switch (name) {
    case "builtin":
      return (require("./builtin") as typeof import("./builtin")).createBuiltinEngine();
    case "mongosync":
      return (require("./mongosync") as typeof import("./mongosync")).createMongosyncEngine();
    case "atlas-push":
      return (require("./atlas") as typeof import("./atlas")).createAtlasPushEngine();
    default: {
      const unknown: never = name;
      throw new Error(`unknown engine ${String(unknown)}`);
    }
  }
}
