/** Documented exit codes (CLI.md); keep the set small and stable. */
export const EXIT = {
  ok: 0,
  failure: 1,
  usage: 2,
  actionRequired: 3,
  auth: 4,
  interrupted: 130,
} as const;
