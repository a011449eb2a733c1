// The command line: --config, --help and --version. Settings themselves come from the environment
// and the config file; the help text is made from the settings schema and the provider registry,
// so it cannot fall behind them.
import { parseArgs } from 'node:util';
import { defaultSettings, settingDescriptions, settingNames } from './config.js';
import { providerSpecs } from './providers/index.js';
import { VERSION } from './version.js';

export type Command =
  | { readonly run: 'serve'; /** --config: wins over CONFIG_FILE. */ readonly configFile: string | undefined }
  | { readonly run: 'help' }
  | { readonly run: 'version' }
  | { readonly run: 'usage-error'; readonly message: string };

/** What the command line asks for; anything but --config, --help (-h) and --version (-v) is a usage error. */
export function parseCommand(args: readonly string[]): Command {
  let values: { config?: string; help?: boolean; version?: boolean };
  try {
    ({ values } = parseArgs({
      args: [...args],
      options: {
        config: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean', short: 'v' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    return { run: 'usage-error', message: (err as Error).message };
  }
  if (values.help) return { run: 'help' };
  if (values.version) return { run: 'version' };
  if (values.config === '') return { run: 'usage-error', message: "Option '--config <path>' needs a path" };
  return { run: 'serve', configFile: values.config };
}

/** What `--help` prints. */
export function usage(): string {
  const defaults = defaultSettings();
  const shown = (value: unknown): string => {
    const text = Array.isArray(value) ? value.join(',') : String(value);
    return text === '' ? '(empty)' : text;
  };
  const lines = [
    `ai-gateway ${VERSION}: one HTTP endpoint in front of AI providers`,
    `(${providerSpecs.map((spec) => spec.name).join(', ')}),`,
    'with retries, deadlines, streaming pass-through and JSON request logs. It speaks:',
    "  OpenAI's chat completions  POST /v1/chat/completions (and /v1/completions, /v1/embeddings, GET /v1/models)",
    "  Anthropic's Messages API   POST /v1/messages (Claude Code, the Anthropic SDKs: ANTHROPIC_BASE_URL=http://HOST:PORT)",
    "  OpenAI's Responses API     POST /v1/responses (Codex, client.responses)",
    'each served by any provider: passed through to one that speaks it, translated for the others.',
    'A request picks its provider with the x-provider header or a provider/ prefix on its model',
    '(fireworks/accounts/fireworks/models/...); else a model alias; else DEFAULT_PROVIDER.',
    '',
    'Usage:',
    '  ai-gateway                     start serving (npm start, or npx ai-gateway)',
    '  ai-gateway --config FILE       start serving with the settings and providers of FILE',
    '  ai-gateway --help              print this help',
    '  ai-gateway --version           print the version',
    '',
    'Settings are environment variables (an empty one counts as unset), or entries of "settings:" in',
    'the config file (YAML or JSON; --config FILE, else CONFIG_FILE); the environment wins. Each is',
    'shown with its default.',
    '',
  ];
  for (const name of settingNames) {
    lines.push(`  ${name}=${shown(defaults[name])}`, `      ${settingDescriptions[name]}`);
  }
  lines.push(
    '  CONFIG_FILE=(none)',
    '      Path of the config file (YAML or JSON), read once at start-up; --config wins over it. It has',
    '      "settings:", "providers:" (a built-in provider\'s base_url, api_key or api_key_env, options),',
    '      "custom_providers:" (OpenAI-compatible servers of your own: name, base_url, api_key or',
    '      api_key_env, headers, request_id_header, key_optional), "model_aliases:" (a model name',
    '      clients send, or a pattern with * such as claude-*, and the provider/model that serves it)',
    '      and "default_models:" (per API: chat, anthropic-messages, openai-responses, the model for a',
    '      name no alias matched). See the README.',
    '',
  );
  lines.push('Providers (a request picks one with the x-provider header; else DEFAULT_PROVIDER):');
  for (const spec of providerSpecs) {
    lines.push(
      `  ${spec.name}`,
      `    ${spec.baseUrlEnv}=${spec.defaultBaseUrl ?? '(none: set it to use this provider)'}`,
      `        Base URL of its API; or providers.${spec.name}.base_url in the config file.`,
      `    ${spec.apiKeyEnv}=(none)`,
      `        Server-side key, used when a client sends none; or providers.${spec.name}.api_key (or api_key_env).`,
    );
    for (const [name, option] of Object.entries(spec.options ?? {})) {
      const fallback = option.fallbackEnv === undefined ? '' : ` (else ${option.fallbackEnv})`;
      lines.push(`    ${option.env}=${option.default || '(none)'}${fallback}`, `        ${option.description} Or providers.${spec.name}.options.${name}.`);
    }
  }
  lines.push(
    '  custom providers (custom_providers in the config file)',
    '    NAME_BASE_URL, NAME_API_KEY (the name upper-cased, "-" and "." as "_": VLLM_A_BASE_URL)',
    '        Win over the file\'s base_url and key.',
  );
  lines.push(
    '',
    'Exit codes: 0 after a clean shutdown (SIGTERM, SIGINT) or --help/--version; 1 for invalid',
    'settings or an address it cannot listen on; 2 for an unknown command-line option.',
    '',
  );
  return lines.join('\n');
}
