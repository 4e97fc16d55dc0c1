import { z } from 'zod';

/**
 * Shared request and response building blocks. Optional request fields are `nullish`: the hosted
 * SDKs send every key, and null means absent (CONTRACT §1).
 */
export const opt = <T extends z.ZodType>(schema: T) => schema.nullish().transform((v) => v ?? undefined);

export const timestamp = z.string().meta({ format: 'date-time', example: '2030-01-01T09:00:00Z' });

export const uuidParam = z.string().min(1).max(100);

/** `?limit=`: 1–100, default 20 (applied by the handler); larger values are clamped, not refused. */
export const limitParam = opt(
  z.coerce
    .number()
    .int()
    .min(1)
    .transform((n) => Math.min(n, 100)),
).meta({ description: 'Page size, 1–100 (default 20); larger values are clamped to 100.' });

export const pageQuery = z.object({
  limit: limitParam,
  cursor: opt(z.string().max(200)).meta({ description: 'The next_cursor of the previous page.' }),
});

export const pageOf = <T extends z.ZodType>(item: T) =>
  z.object({ data: z.array(item), next_cursor: z.string().nullable() });

export const errorBody = z
  .object({
    error: z.object({
      code: z.string(),
      message: z.string(),
      status: z.number().int(),
      request_id: z.string(),
      retry_after: z.number().int().optional(),
      details: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
    }),
  })
  .meta({ id: 'Error' });

export const metadata = z
  .record(z.string(), z.unknown())
  .refine((v) => JSON.stringify(v).length <= 16_384, 'metadata must serialise to at most 16 KiB');

export const email = z
  .string()
  .trim()
  .max(254)
  .pipe(z.email())
  .transform((v) => v.toLowerCase());
