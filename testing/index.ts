// pulumi-atlas-migration/testing: what we use to test this package, offered to users for their own tests.
// MemoryCluster makes `memory://<name>` a working source or target in the same process; the emulators are
// local HTTP servers that behave like the Atlas Admin API and mongosync's API.
export {};
