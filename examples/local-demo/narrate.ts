// Printing the demo's story: numbered steps, indented details, the provider's own lines, and tables.
import { NAMESPACES, type Summaries } from "./data";

const started = Date.now();

export function seconds(): string {
  return `${((Date.now() - started) / 1000).toFixed(1)} s`;
}

export function step(title: string): void {
  console.log(`\n▸ ${title}`);
}

export function detail(line: string): void {
  console.log(`  ${line}`);
}

/** A line the provider printed inside Pulumi's provider host (what `pulumi up` shows as info lines). */
export function providerLine(line: string): void {
  if (line.trim() !== "") console.log(`    │ ${line}`);
}

export function percent(n: number | undefined | null): string {
  return typeof n === "number" ? `${n}%` : "—";
}

export interface MigrationOutputs {
  phase?: string;
  lagSeconds?: number | null;
  progress?: { copiedDocuments?: number; totalDocuments?: number; percent?: number } | null;
  verification?: { passed: boolean; summary: string; mode: string } | null;
  cutoverCompletedAt?: string | null;
  warnings?: string[];
  reason?: string | null;
}

export function describeOutputs(outs: MigrationOutputs): string {
  const parts = [`phase ${outs.phase ?? "?"}`];
  const p = outs.progress;
  if (p && p.totalDocuments !== undefined) parts.push(`${p.copiedDocuments ?? 0}/${p.totalDocuments} documents copied (${percent(p.percent)})`);
  parts.push(outs.lagSeconds === null || outs.lagSeconds === undefined ? "lag unknown" : `lag ${outs.lagSeconds} s`);
  return parts.join(" · ");
}

/** Per-collection counts on both sides and whether the exact BSON matches. Returns the problems found. */
export function countsTable(summaries: Summaries): string[] {
  const problems: string[] = [];
  const rows = [["namespace", "source", "target", "content"]];
  for (const ns of NAMESPACES) {
    const name = `${ns.db}.${ns.coll}`;
    const { source, target } = summaries[name];
    let content: string;
    if (!ns.migrated) {
      content = target.count === 0 ? "excluded (scratch.*), not copied" : "EXCLUDED BUT COPIED";
      if (target.count !== 0) problems.push(`${name} is excluded but has ${target.count} documents on the target`);
    } else if (source.count === target.count && source.digest === target.digest) {
      content = `identical BSON (sha256 ${source.digest}…)`;
    } else {
      content = source.count === target.count ? "SAME COUNT, DIFFERENT BSON" : "DIFFERENT COUNT";
      problems.push(`${name}: source ${source.count} documents (${source.digest}), target ${target.count} (${target.digest})`);
    }
    rows.push([name, String(source.count), String(target.count), content]);
  }
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  for (const row of rows) detail(row.map((cell, c) => (c === 1 || c === 2 ? cell.padStart(widths[c]) : cell.padEnd(widths[c]))).join("   ").trimEnd());
  return problems;
}

/** The top-level inputs that differ, as the CLI shows them after an update's name: "[diff: ~cutover]". */
export function changedInputs(olds: Record<string, unknown>, news: Record<string, unknown>): string[] {
  const keys = new Set([...Object.keys(olds), ...Object.keys(news)]);
  keys.delete("__provider");
  return [...keys].filter((k) => JSON.stringify(olds[k]) !== JSON.stringify(news[k])).sort();
}
