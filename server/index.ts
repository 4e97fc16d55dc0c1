/** The server bundle's public surface: what the loftbox CLI and embedding programs load. */
export { backupDatabase } from './backup.js';
export { runServerCli } from './cli.js';
export { ConfigError, describeSettings, loadConfig, type ServerConfig } from './config.js';
export { startServer, type RunningServer, type StartOptions } from './main.js';
