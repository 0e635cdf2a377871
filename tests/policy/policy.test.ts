// The CrossGuard rules (policy/index.ts), on stacks shaped as AtlasMigration registers them, and through the
// @pulumi/policy callback shapes (validateStack / validateResource with reportViolation).
import {
  atlasMigrationPolicies,
  checkCutoverReadiness,
  checkFullVerification,
  checkMigrationUserRemoved,
  checkNoAllowAllAfterCutover,
  checkTerminationProtection,
  TYPES,
  type StackResource,
} from "../../policy";
import type { ResourceValidationPolicy, StackValidationPolicy } from "@pulumi/policy";

const NOW = Date.parse("2026-06-01T12:00:00Z");
const urn = (chain: string[], name: string) => `urn:pulumi:prod::orders::${chain.join("$")}::${name}`;

/** A stack as AtlasMigration("orders") registers it. */
function stack(opts: { cutover?: boolean; phase?: string; allowAllTemporary?: boolean; migrationUser?: boolean; termination?: boolean; tier?: string; migration?: Record<string, any> } = {}) {
  const component: StackResource = { type: TYPES.component, urn: urn([TYPES.component], "orders"), name: "orders", props: {} };
  const child = (type: string, name: string, props: Record<string, any>, parent = component): StackResource => ({
    type, name, props, parent, urn: urn([TYPES.component, ...(parent === component ? [] : [parent.type]), type], name),
  });
  const target: StackResource = child(TYPES.targetCluster, "orders-target", {});
  const resources: StackResource[] = [
    component,
    target,
    child(TYPES.advancedCluster, "orders-target-cluster", {
      terminationProtectionEnabled: opts.termination ?? true,
      replicationSpecs: [{ regionConfigs: [{ electableSpecs: { instanceSize: opts.tier ?? "M10" } }] }],
    }, target),
    child(TYPES.accessList, "orders-access-203.0.113.0/24", { cidrBlock: "203.0.113.0/24" }),
    child(TYPES.migration, "orders-migration", {
      cutover: opts.cutover ?? false,
      phase: opts.phase,
      engine: "builtin",
      dropsAtCutover: { temporaryAccessEntries: 1, accessEntries: opts.allowAllTemporary === false ? [] : ["0.0.0.0/0"], migrationUser: true },
      ...opts.migration,
    }),
  ];
  if (!(opts.cutover && opts.allowAllTemporary !== false)) resources.push(child(TYPES.accessList, "orders-access-0.0.0.0/0", { cidrBlock: "0.0.0.0/0" }));
  if (opts.migrationUser) resources.push(child(TYPES.databaseUser, "orders-migration-user", { username: "migrator" }));
  return resources;
}
const migrationOf = (resources: StackResource[]) => resources.find((r) => r.type === TYPES.migration)!;

describe("no 0.0.0.0/0 that outlives the cutover", () => {
  test("a temporary allow-all entry while syncing: fine", () => {
    expect(checkNoAllowAllAfterCutover(stack())).toEqual([]);
  });
  test("an allow-all entry that is not temporary: refused", () => {
    const findings = checkNoAllowAllAfterCutover(stack({ allowAllTemporary: false }));
    expect(findings.map((f) => f.message)).toEqual([expect.stringMatching(/orders-access-0\.0\.0\.0\/0 allows 0\.0\.0\.0\/0 and is not temporary, so it outlives the cutover: mark it temporary: true/)]);
  });
  test("allow-all still there when the update cuts over or after COMPLETE: refused", () => {
    expect(checkNoAllowAllAfterCutover(stack({ cutover: true, allowAllTemporary: false }))[0].message).toMatch(/is cut over by this update/);
    expect(checkNoAllowAllAfterCutover(stack({ phase: "COMPLETE", cutover: false }))[0].message).toMatch(/is COMPLETE/);
  });
});

describe("verificationMode full in production", () => {
  test("default (full) passes; counts is refused in production, allowed elsewhere; atlas-push is not judged", () => {
    expect(checkFullVerification(migrationOf(stack()), true)).toEqual([]);
    const counts = migrationOf(stack({ migration: { verificationMode: "counts" } }));
    expect(checkFullVerification(counts, true)).toEqual([{ urn: counts.urn, message: expect.stringMatching(/verificationMode "counts"; production stacks .* set verificationMode: "full"/) }]);
    expect(checkFullVerification(counts, false)).toBe("not-applicable");
    expect(checkFullVerification(migrationOf(stack({ migration: { engine: "atlas-push" } })), true)).toBe("not-applicable");
  });
});

describe("termination protection on the target", () => {
  const cluster = (s: StackResource[]) => s.find((r) => r.type === TYPES.advancedCluster)!;
  test("on: fine; off: refused; M0 (not offered) and clusters outside a migration: not judged", () => {
    expect(checkTerminationProtection(cluster(stack()))).toEqual([]);
    expect((checkTerminationProtection(cluster(stack({ termination: false }))) as any)[0].message).toMatch(/without termination protection: keep deletionProtection on/);
    expect(checkTerminationProtection(cluster(stack({ termination: false, tier: "M0" })))).toBe("not-applicable");
    expect(checkTerminationProtection({ type: TYPES.advancedCluster, urn: urn([TYPES.advancedCluster], "other"), name: "other", props: {} })).toBe("not-applicable");
  });
});

describe("the migration user is removed after COMPLETE", () => {
  test("still declared when COMPLETE (or cut over by this update): refused; while syncing: fine", () => {
    expect(checkMigrationUserRemoved(stack({ migrationUser: true }))).toEqual([]);
    expect(checkMigrationUserRemoved(stack({ migrationUser: true, phase: "COMPLETE" }))[0].message).toMatch(/orders-migration-user \(the migration's database user\) still exists although the migration is COMPLETE/);
  });
});

describe("cutover readiness", () => {
  const fresh = new Date(NOW - 5 * 60_000).toISOString();
  test("READY_FOR_CUTOVER, fresh status, small lag: passes; copying: refused with the percentage", () => {
    expect(checkCutoverReadiness(migrationOf(stack({ cutover: true, phase: "READY_FOR_CUTOVER", migration: { lagSeconds: 1, statusCheckedAt: fresh } })), NOW)).toEqual([]);
    const copying = checkCutoverReadiness(migrationOf(stack({ cutover: true, phase: "COPYING", migration: { statusCheckedAt: fresh, progress: { percent: 63 } } })), NOW);
    expect((copying as any)[0].message).toBe(
      "orders-migration: cutover not ready (NOT_READY): the migration is COPYING (63 % copied) — wait for the initial copy: 63 % copied; run `pulumi up` (or let the scheduled job run) and `pulumi refresh`, then preview again",
    );
  });
  test("no cutover asked, or no stored status (a create): not judged", () => {
    expect(checkCutoverReadiness(migrationOf(stack()), NOW)).toBe("not-applicable");
    expect(checkCutoverReadiness(migrationOf(stack({ cutover: true })), NOW)).toBe("not-applicable");
  });
});

describe("the policies as @pulumi/policy runs them", () => {
  const policies = atlasMigrationPolicies();
  const byName = (n: string) => policies.find((p) => p.name === n)!;
  const toPolicyResources = (resources: StackResource[]) => resources.map((r) => ({ ...r, opts: {}, dependencies: [], propertyDependencies: {} })) as any[];

  test("five mandatory policies, each named atlas-migration-*", () => {
    expect(policies.map((p) => [p.name, p.enforcementLevel])).toEqual([
      ["atlas-migration-no-allow-all-after-cutover", "mandatory"],
      ["atlas-migration-full-verification-in-production", "mandatory"],
      ["atlas-migration-target-termination-protection", "mandatory"],
      ["atlas-migration-migration-user-removed", "mandatory"],
      ["atlas-migration-cutover-readiness", "mandatory"],
    ]);
  });

  test("validateStack reports each violation with the resource's URN", async () => {
    const violations: Array<[string, string | undefined]> = [];
    const resources = stack({ allowAllTemporary: false, migrationUser: true, phase: "COMPLETE" });
    for (const name of ["atlas-migration-no-allow-all-after-cutover", "atlas-migration-migration-user-removed"]) {
      await (byName(name) as StackValidationPolicy).validateStack(
        { resources: toPolicyResources(resources), stackTags: new Map(), getConfig: () => ({}) as any, notApplicable: (() => { throw new Error("n/a"); }) as any },
        (message, u) => violations.push([message, u]),
      );
    }
    expect(violations.map(([, u]) => u)).toEqual([urn([TYPES.component, TYPES.accessList], "orders-access-0.0.0.0/0"), urn([TYPES.component, TYPES.databaseUser], "orders-migration-user")]);
  });

  test("validateResource: production from config, else from the `environment` stack tag", async () => {
    const migration = migrationOf(stack({ migration: { verificationMode: "none" } }));
    const run = async (config: object, tags: Map<string, string>) => {
      const found: string[] = [];
      try {
        await ((byName("atlas-migration-full-verification-in-production") as ResourceValidationPolicy).validateResource as (a: any, r: (m: string) => void) => Promise<void>)(
          { ...migration, opts: {} as any, stackTags: tags, getConfig: () => config as any, isType: () => false, asType: () => undefined, notApplicable: ((r: string) => { throw new Error(`n/a: ${r}`); }) as any },
          (m) => found.push(m),
        );
      } catch (e) {
        found.push((e as Error).message);
      }
      return found;
    };
    expect(await run({}, new Map())).toEqual([expect.stringMatching(/verificationMode "none"/)]);
    expect(await run({}, new Map([["environment", "staging"]]))).toEqual([expect.stringMatching(/^n\/a: not a production stack/)]);
    expect(await run({ production: true }, new Map([["environment", "staging"]]))).toHaveLength(1);
  });
});
