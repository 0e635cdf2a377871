// A Heroku app whose database was an mLab add-on (a sandbox standalone or a small replica set) moves to a
// free Atlas M0 (or a FLEX) cluster. This is what the old mLab → Atlas wizard did, written as a program:
// project, cluster, access list, the app's database user, the copy, and at cutover the source users are made
// read-only so no write can land on the old database after the app switched.
//
// Engine: "auto" resolves to the builtin engine, the only one that can write into M0/FLEX clusters (Atlas
// live migration and mongosync refuse shared tiers). A standalone source is copied as a snapshot and
// reconciled at cutover; a replica set is copied and then followed through its change stream.
import * as pulumi from "@pulumi/pulumi";
import { AtlasMigration } from "pulumi-atlas-migration";

const cfg = new pulumi.Config();

/** The database the app uses: on Heroku's mLab add-on it is named like "heroku_b4k80p49". */
const database = cfg.require("database");
/** The source user the app writes with, also in "heroku_…" (mLab kept users in the app's database). */
const sourceUser = cfg.require("sourceUser");
const tier = (cfg.get("tier") ?? "M0").toUpperCase();
if (tier !== "M0" && tier !== "FLEX") throw new Error(`tier must be "M0" or "FLEX" for this example, not "${tier}"`);

// Where the app's connections come from after cutover. Heroku Common Runtime dynos have no fixed egress IPs,
// which is why the old wizard ticked "Allow All". With Private Spaces or a static-IP add-on, list those here.
const appCidrs = cfg.getObject<string[]>("appCidrs") ?? [];
// Where `pulumi up` runs: the builtin engine copies from this machine, so it needs access only while migrating.
const migrationHostIp = cfg.get("migrationHostIp");

const accessList = [
  ...appCidrs.map((cidr) => ({ cidr, comment: "Heroku app egress" })),
  migrationHostIp
    ? { ip: migrationHostIp, comment: "machine running pulumi up (builtin engine)", temporary: true }
    : {
        cidr: "0.0.0.0/0",
        comment: "allow-all, as the mLab wizard set it",
        // Without the app's own ranges, the app still needs allow-all after cutover: keep it then.
        temporary: appCidrs.length > 0,
      },
];
if (!migrationHostIp && appCidrs.length === 0) {
  pulumi.log.warn(
    "the access list allows 0.0.0.0/0 and keeps it after cutover (the app has no fixed IPs). " +
      "Narrow it: set appCidrs (Private Space or static-IP add-on ranges) and migrationHostIp.",
  );
}

const appPassword = cfg.requireSecret("appPassword");

const migration = new AtlasMigration("heroku-db", {
  // A new project, as the wizard's step 1 did; use `projectId` instead to migrate into an existing one.
  project: { orgId: cfg.require("atlasOrgId"), name: cfg.get("projectName") ?? "heroku-app" },
  source: { uri: cfg.requireSecret("sourceUri") },
  target: {
    cluster: {
      name: cfg.get("clusterName") ?? "heroku-app",
      tier,
      provider: cfg.get("cloudProvider") ?? "AWS",
      region: cfg.get("region") ?? "US_EAST_1",
    },
  },
  accessList,
  // The wizard imported the source users with their passwords, so the app kept its credentials. Atlas keeps
  // users in "admin"; the role scopes the user to the app's database as before.
  databaseUsers: [
    {
      username: sourceUser,
      password: appPassword,
      roles: [{ roleName: "readWrite", databaseName: database }],
    },
  ],
  // The user the builtin engine writes to the target with (readWriteAnyDatabase on this cluster only).
  migrationUser: { username: "pulumi-migrator", password: cfg.requireSecret("migratorPassword") },
  migration: {
    engine: "auto",
    cutover: cfg.getBoolean("cutover") ?? false,
    namespaces: { include: [`${database}.*`] },
    // mLab sandboxes are standalones or old versions without setUserWriteBlockMode: the wizard's approach,
    // making the app's source user read-only, is the one that works everywhere.
    writeBlocking: { mode: "readOnlyUsers", readOnlyUsers: [`${sourceUser}@${database}`] },
    verificationMode: "full",
  },
});

/** What the app connects to after cutover: same user and password as before, new host. A secret. */
export const mongodbUri = pulumi.secret(
  pulumi.all([migration.connectionString, appPassword]).apply(([srv, password]) => {
    const host = srv.replace(/^mongodb\+srv:\/\//, "");
    const credentials = `${encodeURIComponent(sourceUser)}:${encodeURIComponent(password)}`;
    return `mongodb+srv://${credentials}@${host.replace(/\/$/, "")}/${database}?retryWrites=true&w=majority`;
  }),
);
export const phase = migration.phase;
export const lagSeconds = migration.lagSeconds;
export const cutoverCompletedAt = migration.cutoverCompletedAt;
export const verification = migration.verification;
export const warnings = migration.migration.warnings;
export const clusterName = migration.clusterName;
