// Gated suites: `describeTier(mongodTier(), "…", () => { … })` runs where the tier exists and otherwise
// registers a skipped suite whose title carries the reason.
import type { Tier } from "./tier-detect";
export { mongodTier, ferretdbTier, pulumiCliTier, atlasTier, mongosyncTier } from "./tier-detect";
export type { Tier } from "./tier-detect";

export function describeTier(tier: Tier, title: string, body: () => void): void {
  if (tier.enabled) describe(`${title} [${tier.reason}]`, body);
  else describe.skip(`${title} [skipped: ${tier.reason}]`, body);
}
