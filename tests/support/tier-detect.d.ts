export interface Tier {
  name: string;
  enabled: boolean;
  /** Why it is skipped and how to switch it on (or what it runs against). */
  reason: string;
  binary?: string;
}
export function mongodTier(): Tier;
export function ferretdbTier(): Tier;
export function pulumiCliTier(): Tier;
export function atlasTier(): Tier;
export function mongosyncTier(): Tier;
export function allTiers(): Tier[];
