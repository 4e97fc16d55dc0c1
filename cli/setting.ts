/** Where a resolved CLI setting came from (CLI.md precedence: flag > env > config file > default). */
export type Source = 'flag' | 'env' | 'config' | 'default' | 'unset';

export interface Setting<T = string | undefined> {
  value: T;
  source: Source;
}

/** The server an invocation talks to, and where that choice came from (CLI.md "resolved target"). */
export interface ServerTarget {
  baseUrl: string;
  source: Setting['source'];
  /** `flag --base-url`, `env LOFTBOX_BASE_URL`, `config <path>` or `default`. */
  from: string;
}
