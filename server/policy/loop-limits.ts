import { z } from 'zod';
import type { OrganizationRow } from '../db/repos/organizations.js';
import type { ServerConfig } from '../config.js';

/** The loop guard's limits as one organization sees them: the server settings, then its overrides. */
export const LoopLimits = z
  .object({
    thread_max_messages: z.number().int().min(1).max(100_000),
    thread_window_seconds: z
      .number()
      .int()
      .min(1)
      .max(365 * 86_400),
    automated_replies_per_sender: z.number().int().min(1).max(100_000),
    automated_reply_window_seconds: z
      .number()
      .int()
      .min(1)
      .max(365 * 86_400),
    max_hops: z.number().int().min(1).max(100_000),
  })
  .meta({ id: 'LoopLimits' });

export type LoopLimitsT = z.infer<typeof LoopLimits>;

/** What an organization may override; `null` for a key returns it to the server setting. */
export const LoopLimitsOverride = z
  .object(
    Object.fromEntries(
      Object.entries(LoopLimits.shape).map(([key, schema]) => [key, schema.nullable().optional()]),
    ) as { [K in keyof LoopLimitsT]: z.ZodOptional<z.ZodNullable<(typeof LoopLimits.shape)[K]>> },
  )
  .strict();

export type LoopLimitsOverrideT = Partial<LoopLimitsT>;

export function serverLoopLimits(config: ServerConfig): LoopLimitsT {
  return {
    thread_max_messages: config.loopThreadMaxMessages,
    thread_window_seconds: Math.max(1, Math.round(config.loopThreadWindow / 1000)),
    automated_replies_per_sender: config.loopAutomatedRepliesPerSender,
    automated_reply_window_seconds: Math.max(1, Math.round(config.loopAutomatedReplyWindow / 1000)),
    max_hops: config.loopMaxHops,
  };
}

/** The stored overrides; a value that no longer validates is ignored rather than trusted. */
export function orgLoopOverrides(org: OrganizationRow): LoopLimitsOverrideT {
  if (!org.loop_limits) return {};
  let stored: unknown;
  try {
    stored = JSON.parse(org.loop_limits);
  } catch {
    return {};
  }
  const parsed = LoopLimits.partial().safeParse(stored);
  return parsed.success ? parsed.data : {};
}

export function effectiveLoopLimits(config: ServerConfig, org: OrganizationRow): LoopLimitsT {
  return { ...serverLoopLimits(config), ...orgLoopOverrides(org) };
}
