import controlPlane from './0001_control_plane.sql';

/** Numbered migrations, applied in order, each in its own transaction. Never edit a shipped one. */
export const migrations: { version: number; name: string; sql: string }[] = [
  { version: 1, name: 'control_plane', sql: controlPlane },
];
