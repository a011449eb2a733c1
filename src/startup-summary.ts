// What the gateway says once it listens: a JSON record for log collectors, or, on a terminal, a few
// lines a person reads (which providers can serve without a client key, which run on this machine,
// and the URLs to try). Neither ever holds a key.
import type { AddressInfo } from 'node:net';
import type { Config } from './config.js';
import { VERSION } from './version.js';

/** Hosts that are this machine: a provider there is one the user runs (Ollama, vLLM, a simulator). */
const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);
/** The most aliases the summary names; the rest are counted. */
const MAX_SHOWN_ALIASES = 10;
/** Addresses that listen on every interface: the URL to try uses loopback instead. */
const ANY_ADDRESS = new Set(['0.0.0.0', '::']);

/** Each provider's base URL without credentials (userinfo, query) and whether a server key is set; never the key. */
export function providerSummary(config: Config): Record<string, { baseUrl: string; serverKey: boolean }> {
  const summary: Record<string, { baseUrl: string; serverKey: boolean }> = {};
  for (const [name, provider] of Object.entries(config.providers)) {
    summary[name] = { baseUrl: shownUrl(provider.baseUrl), serverKey: provider.apiKey !== undefined };
  }
  return summary;
}

function shownUrl(baseUrl: URL): string {
  const url = new URL(baseUrl.href);
  url.username = '';
  url.password = '';
  url.search = '';
  url.hash = '';
  return url.href;
}

/** The origin a person on this machine reaches the gateway at. */
function reachableOrigin(address: Pick<AddressInfo, 'address' | 'port'>): string {
  const host = ANY_ADDRESS.has(address.address) ? '127.0.0.1' : address.address;
  return `http://${host.includes(':') ? `[${host}]` : host}:${address.port}`;
}

/** The start-up lines for a terminal. */
export function startupText(config: Config, address: Pick<AddressInfo, 'address' | 'port'>, workers = 1): string {
  const origin = reachableOrigin(address);
  const listening = ANY_ADDRESS.has(address.address) ? `http://${address.address.includes(':') ? `[${address.address}]` : address.address}:${address.port}` : origin;
  const keyed: string[] = [];
  const local: string[] = [];
  for (const [name, provider] of Object.entries(config.providers)) {
    const label = name === config.DEFAULT_PROVIDER ? `${name} (default)` : name;
    if (provider.apiKey !== undefined) keyed.push(label);
    if (LOOPBACK_HOSTS.has(provider.baseUrl.hostname) || provider.baseUrl.hostname.startsWith('127.')) {
      local.push(`${label} ${shownUrl(provider.baseUrl)}`);
    }
  }
  const lines = [`ai-gateway ${VERSION} listening on ${listening}${workers > 1 ? ` with ${workers} workers` : ''}`];
  if (keyed.length > 0) {
    lines.push(`  Providers with a server key: ${keyed.join(', ')}`);
  } else {
    const spec = config.providerSpecs.find((candidate) => candidate.name === config.DEFAULT_PROVIDER);
    lines.push(`  No provider has a server key: clients send their own, or set ${spec?.apiKeyEnv ?? 'a provider\'s API key'} (see --help)`);
  }
  if (local.length > 0) lines.push(`  On this machine: ${local.join(', ')}`);
  const aliases = [...config.modelAliases.keys()];
  if (aliases.length > 0) {
    const more = aliases.length > MAX_SHOWN_ALIASES ? ` and ${aliases.length - MAX_SHOWN_ALIASES} more` : '';
    lines.push(`  Model aliases: ${aliases.slice(0, MAX_SHOWN_ALIASES).join(', ')}${more}`);
  }
  lines.push(
    `  Try it: curl ${origin}/v1/models`,
    `  OpenAI SDKs: baseURL ${origin}/v1`,
    `  Anthropic SDKs, Claude Code: ANTHROPIC_BASE_URL=${origin}`,
    '  Request logs follow as JSON lines.',
    '',
  );
  return lines.join('\n');
}
