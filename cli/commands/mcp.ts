import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { Option, type Command } from 'commander';
import type { Readable, Writable } from 'node:stream';
import { action, examples, withCommonOptions, type CliDeps, type Ctx, type RunState } from '../context.js';
import { httpApi } from '../mcp/http-api.js';
import { buildMcpServer } from '../mcp/server.js';

declare const __LOFTBOX_VERSION__: string | undefined;
const VERSION = typeof __LOFTBOX_VERSION__ === 'string' ? __LOFTBOX_VERSION__ : '0.0.0-dev';

export const MCP_CLIENTS = ['claude', 'codex', 'cursor'] as const;
type McpClient = (typeof MCP_CLIENTS)[number];

/**
 * What registers `loftbox mcp` with each client. The key never appears: the stdio server reads it
 * from the CLI config (or LOFTBOX_API_KEY) when the client starts it.
 */
export function mcpConfigSnippet(client: McpClient): string {
  switch (client) {
    case 'claude':
      return 'claude mcp add --scope user loftbox -- loftbox mcp\n';
    case 'codex':
      return '# ~/.codex/config.toml\n[mcp_servers.loftbox]\ncommand = "loftbox"\nargs = ["mcp"]\n';
    case 'cursor':
      return `${JSON.stringify({ mcpServers: { loftbox: { command: 'loftbox', args: ['mcp'] } } }, null, 2)}\n`;
  }
}

/** Serves MCP on stdin/stdout until the client closes stdin or Ctrl-C. */
async function serveStdio(ctx: Ctx, deps: CliDeps): Promise<void> {
  const server = await buildMcpServer(httpApi(ctx.authed(), deps.sleep, deps.signal), VERSION);
  const stdin = deps.stdin as Readable;
  const transport = new StdioServerTransport(stdin, deps.stdout as Writable);
  const closed = new Promise<void>((resolve) => {
    transport.onclose = resolve;
  });
  const stop = () => void server.close();
  stdin.once('end', stop);
  deps.signal.addEventListener('abort', stop, { once: true });
  await server.connect(transport);
  await closed;
  stdin.off('end', stop);
  deps.signal.removeEventListener('abort', stop);
}

export function mcpCommand(program: Command, deps: CliDeps, state: RunState): void {
  const cmd = program
    .command('mcp')
    .description(
      'Run the LoftBox MCP tools over stdio for a local agent (key and server from the CLI config)',
    )
    .addOption(
      new Option(
        '--print-config <client>',
        'print the snippet that registers `loftbox mcp` with a client',
      ).choices(MCP_CLIENTS),
    );
  withCommonOptions(cmd);
  examples(cmd, ['loftbox mcp --print-config claude', 'loftbox mcp --print-config codex', 'loftbox mcp']);
  action(deps, state, cmd, async (ctx) => {
    const { printConfig } = cmd.opts<{ printConfig?: McpClient }>();
    if (!printConfig) return serveStdio(ctx, deps);
    const snippet = mcpConfigSnippet(printConfig);
    ctx.out.data({ client: printConfig, snippet });
    ctx.out.text(snippet.trimEnd());
  });
}
