// The command line: --help and --version. Settings themselves come from the environment (and
// CONFIG_FILE); the help text is made from the settings schema and the provider registry, so it
// cannot fall behind them.
import { parseArgs } from 'node:util';
import { defaultSettings, settingDescriptions, settingNames } from './config.js';
import { providerSpecs } from './providers/index.js';
import { VERSION } from './version.js';

export type Command =
  | { readonly run: 'serve' | 'help' | 'version' }
  | { readonly run: 'usage-error'; readonly message: string };

/** What the command line asks for; anything but --help (-h) and --version (-v) is a usage error. */
export function parseCommand(args: readonly string[]): Command {
  let values: { help?: boolean; version?: boolean };
  try {
    ({ values } = parseArgs({
      args: [...args],
      options: { help: { type: 'boolean', short: 'h' }, version: { type: 'boolean', short: 'v' } },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    return { run: 'usage-error', message: (err as Error).message };
  }
  if (values.help) return { run: 'help' };
  if (values.version) return { run: 'version' };
  return { run: 'serve' };
}

/** What `--help` prints. */
export function usage(): string {
  const defaults = defaultSettings();
  const shown = (value: unknown): string => {
    const text = Array.isArray(value) ? value.join(',') : String(value);
    return text === '' ? '(empty)' : text;
  };
  const lines = [
    `ai-gateway ${VERSION}: one OpenAI-compatible HTTP endpoint (/v1/chat/completions, /v1/completions,`,
    `/v1/embeddings, /v1/models, ...) in front of AI providers (${providerSpecs.map((spec) => spec.name).join(', ')}),`,
    'with retries, deadlines, streaming pass-through and JSON request logs.',
    '',
    'Usage:',
    '  ai-gateway              start serving (npm start, or npx ai-gateway)',
    '  ai-gateway --help       print this help',
    '  ai-gateway --version    print the version',
    '',
    'Settings are environment variables (an empty one counts as unset), or the "settings" object of',
    'the JSON file named by CONFIG_FILE; the environment wins. Each is shown with its default.',
    '',
  ];
  for (const name of settingNames) {
    lines.push(`  ${name}=${shown(defaults[name])}`, `      ${settingDescriptions[name]}`);
  }
  lines.push('  CONFIG_FILE=(none)', '      Path of a JSON file with "settings" and "providers", read once at start-up.', '');
  lines.push('Providers (a request picks one with the x-provider header; else DEFAULT_PROVIDER):');
  for (const spec of providerSpecs) {
    lines.push(
      `  ${spec.name}`,
      `    ${spec.baseUrlEnv}=${spec.defaultBaseUrl}`,
      `        Base URL of its API; or providers.${spec.name}.baseUrl in CONFIG_FILE.`,
      `    ${spec.apiKeyEnv}=(none)`,
      `        Server-side key, used when a client sends none; or providers.${spec.name}.apiKey in CONFIG_FILE.`,
    );
  }
  lines.push(
    '',
    'Exit codes: 0 after a clean shutdown (SIGTERM, SIGINT) or --help/--version; 1 for invalid',
    'settings or an address it cannot listen on; 2 for an unknown command-line option.',
    '',
  );
  return lines.join('\n');
}
