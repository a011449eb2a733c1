// Secrets never leave the gateway: not in logs, error bodies or metrics. A provider's error may echo
// what it was sent (an Authorization header, a URL with ?key=, a JSON body), so text is redacted by
// context (auth schemes, header, field and query parameter names, URL userinfo), by shape (provider
// key formats) and by value (keys configured at start-up), keeping the scheme or name visible.
//
// V8's regex engine backtracks, so every pattern here is written to scan in linear time: a failed
// attempt either gives up within a bounded number of characters, or can start only at the beginning
// of a token (a lookbehind) and reads no further than that token. test/redact.test.ts holds 1 MB
// adversarial inputs that keep it so.

const CENSOR = '[REDACTED]';
/**
 * Text beyond this is dropped rather than scanned: callers clip messages to 2,000 characters, and a
 * stack is a few thousand. 256 KiB takes the rules 10 to 30 ms whatever it holds.
 */
const MAX_SCANNED_CHARS = 1 << 18;
/**
 * Replacements one rule makes in one text before the rest is dropped: a real message holds a few
 * credentials, and building a text from 100,000 pieces takes the error path 50 ms and more.
 */
const MAX_REPLACEMENTS = 1000;

interface Rule {
  readonly name: string;
  /** Global; a match is never empty. */
  readonly pattern: RegExp;
  /** The text that replaces a match; the match itself to leave it. */
  readonly replace: (match: RegExpExecArray) => string;
}

/** `basic` -> `[Bb][Aa][Ss][Ii][Cc]`: any case, in a pattern that tells cases apart elsewhere. */
function anyCase(word: string): string {
  return word.replace(/[a-z]/g, (c) => `[${c.toUpperCase()}${c}]`);
}

// Schemes whose credential is one token (RFC 7235 token68). Bearer has a rule of its own.
const TOKEN_SCHEMES = ['basic', 'token', 'apikey', 'api-key', 'negotiate', 'ntlm'];
// Schemes whose credential is a list of parameters (Digest username="...", response="...").
const PARAMETER_SCHEMES = 'digest|oauth|aws4-hmac-sha256';
const SCHEMES = `bearer|key|${TOKEN_SCHEMES.join('|')}|${PARAMETER_SCHEMES}`;

// Values. A quoted one ends at its closing quote: a JSON string ("..." with \-escapes), the same
// string escaped once more inside another (\"...\"), or a single-quoted one ('...', as Python prints
// dicts). Groups 3 to 8 are (quote, value) pairs; group 9 is an unquoted value, given per rule.
const QUOTED_VALUE = String.raw`(")((?:[^"\\\r\n]|\\.)+)|(\\")((?:[^"\\\r\n]|\\[^"\r\n])+)|(')((?:[^'\\\r\n]|\\.)+)`;
// An unquoted word that says there is no value (api_key: null).
const NO_VALUE = String.raw`(?:null|undefined|none|true|false)(?![\w-])`;
// A name's optional closing quote, then `:`, `=` or `=>` (JSON, YAML, headers, env files, Ruby), or
// `>` (XML).
const SEPARATOR = String.raw`(\\?["']?[ \t]*(?:=>?|:)[ \t]*|>)`;

// Words that follow "Bearer" in prose ("a Bearer token is required"), left as they are.
const BEARER_PROSE = [
  'token', 'tokens', 'auth', 'authentication', 'authorization', 'authorisation', 'scheme', 'header', 'credentials?', 'keys?',
  'prefix', 'format', 'type', 'value', 'string', 'is', 'was', 'required', 'missing', 'expected', 'must', 'or', 'and', 'in',
  'not', 'with', 'the', 'an?', 'to',
].join('|');
// A word or identifier (Token limit, Basic authentication, Token max_tokens): letters only, each part
// lower case, Capitalised or UPPER CASE. Base64 and keys have digits, or change case within a part.
const WORD = String.raw`(?:[A-Z]?[a-z]+|[A-Z]+)(?:[-_.](?:[A-Z]?[a-z]+|[A-Z]+))*\.*`;
const TOKEN68 = '[A-Za-z0-9._~+/=-]';

// Names that denote a credential wherever they stand: x-api-key, apiKey, FIREWORKS_API_KEY, client_secret.
const CREDENTIAL_NAMES = [
  'api[_-]?(?:key|secret|token)',
  'secret[_-]?access[_-]?key',
  '(?:secret|private)[_-]?key',
  'client[_-]?secret',
  '(?:access|refresh|id|auth|session|security|bearer)[_-]?token',
  'passw(?:or)?d',
  'secret',
].join('|');
// Query parameters that carry a credential (key=, code=), which max_tokens= does not.
const CREDENTIAL_PARAMETERS = [
  'x-(?:goog-)?api-key',
  'api[_-]?key',
  'key',
  '(?:access|refresh|id|auth|session)[_-]?token',
  'token',
  'auth',
  '(?:client[_-]?)?secret',
  'passw(?:or)?d',
  'pwd',
  'sig',
  'signature',
  'code',
  'x-amz-(?:signature|credential|security-token)',
  'x-goog-(?:signature|credential)',
].join('|');
// Characters that end an unquoted value.
const VALUE_END = String.raw`\s"'\x60\\,;&<>()[\]{}`;

const AUTHORIZATION_SCHEME = new RegExp(`^(?:${SCHEMES})[ \\t]+`, 'i');

/** An Authorization value with its scheme kept: `Basic [REDACTED]`. */
function censorAuthorization(value: string): string {
  const scheme = AUTHORIZATION_SCHEME.exec(value);
  return scheme === null ? CENSOR : scheme[0] + CENSOR;
}

/** The value of a name=value match: quoted, with its opening quote, or not. */
function quotedValue(match: RegExpExecArray): { quote: string; value: string } {
  for (let i = 3; i < 9; i += 2) {
    if (match[i] !== undefined) return { quote: match[i]!, value: match[i + 1]! };
  }
  return { quote: '', value: match[9]! };
}

// Provider key formats, matched only as whole tokens. Names are for the tests.
const KEY_SHAPES: readonly (readonly [name: string, source: string])[] = [
  // OpenAI sk-, sk-proj-; Anthropic sk-ant-; OpenRouter sk-or-.
  ['sk', 'sk-[A-Za-z0-9_-]{8,}'],
  ['groq', 'gsk_[A-Za-z0-9]{8,}'],
  ['fireworks', 'fw[_-][A-Za-z0-9_-]{6,}'],
  ['xai', 'xai-[A-Za-z0-9_-]{8,}'],
  ['google', 'AIza[A-Za-z0-9_-]{30,}'],
  ['perplexity', 'pplx-[A-Za-z0-9]{8,}'],
  ['huggingface', 'hf_[A-Za-z0-9]{20,}'],
  // Together: tgp_v1_ keys, and the older 64 hex digits.
  ['together', 'tgp_v1_[A-Za-z0-9_-]{8,}|[0-9a-fA-F]{64}(?![A-Za-z0-9_-])'],
  // Bedrock API keys: long-term ABSK + base64, short-term bedrock-api-key-.
  ['bedrock', 'ABSK[A-Za-z0-9+/]{20,}={0,2}|bedrock-api-key-[A-Za-z0-9+/=%_-]{20,}'],
  ['aws-access-key-id', '(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Za-z0-9])'],
  ['jwt', String.raw`(?<!\.)eyJ[A-Za-z0-9_-]+\.eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*`],
];

/**
 * `[class]{n,}` written as `[class]{n}[class]*`: the same language, but V8 took 100 to 280 ms over a
 * 1 MB token in the first form and a few ms in the second.
 */
function linearLoops(source: string): string {
  return source.replace(/(\[[^\]]*\])\{(\d+),\}/g, '$1{$2}$1*');
}

function keyShapes(shapes: typeof KEY_SHAPES): RegExp {
  // A key starts where a word cannot go on, or right after a percent-escape (`key%3Dfw_...`).
  return new RegExp(
    linearLoops(`(?:(?<![A-Za-z0-9_-])|(?<=%[0-9A-Fa-f]{2}))(?:${shapes.map(([, source]) => source).join('|')})`),
    'g',
  );
}

// In order: the contextual rules first, so that the name or scheme in front of a key stays visible.
const RULES: readonly Rule[] = [
  {
    // https://user:pass@host/: the whole userinfo, which may be a key on its own (https://KEY@host).
    name: 'url-userinfo',
    pattern: /(?<![A-Za-z0-9+.-])([A-Za-z][A-Za-z0-9+.-]*:\/\/)[^\s/?#@"'`<>\\[\]]+@/g,
    replace: (match) => `${match[1]}${CENSOR}@`,
  },
  {
    // Authorization: Basic dXNl..., "authorization":"Bearer ...", Cookie: a=b: to the end of the line
    // or the closing quote, keeping the scheme.
    name: 'authorization-header',
    pattern: new RegExp(
      String.raw`(?<![\w-])((?:proxy-)?authorization|(?:set-)?cookie)${SEPARATOR}` +
        // Left alone: a scheme without a credential, a null, and what is already redacted. (No optional
        // run of blanks next to another: backtracking between them would be quadratic.)
        String.raw`(?=[^ \t])(?!(?:\\?["']|(?!["'\\]))(?:(?:${SCHEMES})(?![\w-]))?[ \t]*(?:\[REDACTED\][ \t]*)?` +
        String.raw`(?:[\r\n"'\x60\\]|$)|${NO_VALUE})(?:${QUOTED_VALUE}|([^\s"'\x60\\][^\r\n"'\x60\\]*))`,
      'gi',
    ),
    replace: (match) => {
      const { quote, value } = quotedValue(match);
      return `${match[1]}${match[2]}${quote}${censorAuthorization(value)}`;
    },
  },
  {
    // x-api-key: ..., "apiKey":"...", FIREWORKS_API_KEY=..., <SecretAccessKey>...<: a name that denotes
    // a credential, as a word of its own or the last parts of a snake_case or kebab-case name.
    name: 'named-credential',
    pattern: new RegExp(
      `(?<![A-Za-z0-9])(${CREDENTIAL_NAMES})${SEPARATOR}(?!${NO_VALUE})(?:${QUOTED_VALUE}|([^${VALUE_END}]+))`,
      'gi',
    ),
    replace: (match) => `${match[1]}${match[2]}${quotedValue(match).quote}${CENSOR}`,
  },
  {
    // ?api_key=, &key=, ;api_key= (path parameters), and the same URL-encoded (%3Fapi_key%3D, %26key%3D),
    // for parameter names that denote credentials only (max_tokens=100 stays).
    name: 'query-parameter',
    pattern: new RegExp(
      // The value ends at a delimiter, or an encoded one (%26 &, %23 #, %3B ;). Lazy: a greedy loop over
      // `[^%]|%(?!26)` took V8 over 100 ms on a 1 MB value, this a few ms.
      `([?&;]|%3F|%26|%3B)(${CREDENTIAL_PARAMETERS})(=|%3D)[^#${VALUE_END}]+?(?=%2[36]|%3B|[#${VALUE_END}]|$)`,
      'gi',
    ),
    replace: (match) => `${match[1]}${match[2]}${match[3]}${CENSOR}`,
  },
  {
    // Digest username="...", response="..."; OAuth oauth_signature="..."; AWS4-HMAC-SHA256
    // Credential=..., Signature=...: the parameters, to the end of the line.
    name: 'parameter-scheme',
    pattern: new RegExp(String.raw`(?<![\w-])(${PARAMETER_SCHEMES})([ \t]+)(?=[A-Za-z][\w-]*[ \t]*=)[^\r\n]+`, 'gi'),
    replace: (match) => `${match[1]}${match[2]}${CENSOR}`,
  },
  {
    // Bearer and whatever follows it, unless a word of prose ("a Bearer token is required").
    name: 'bearer',
    pattern: new RegExp(
      String.raw`(?<![\w-])(bearer)(\s+)(?!(?:${BEARER_PROSE}|\[REDACTED\])[.:!?)]*(?![^\s"'\x60,;\\]))[^\s"'\x60,;\\]+`,
      'gi',
    ),
    replace: (match) => `${match[1]}${match[2]}${CENSOR}`,
  },
  {
    // Basic dXNlcjpwYXNz, Token abc123def456, ApiKey ...: 8+ token characters that are not a word, so
    // that "Token limit exceeded" and "Basic authentication failed" stay. Case-sensitive, for WORD.
    name: 'token-scheme',
    pattern: new RegExp(
      String.raw`(?<![\w-])(${TOKEN_SCHEMES.map(anyCase).join('|')})(\s+)(?=${TOKEN68}{8})(?!${WORD}(?!${TOKEN68}))${TOKEN68}+`,
      'g',
    ),
    replace: (match) => `${match[1]}${match[2]}${CENSOR}`,
  },
  { name: 'key-shape', pattern: keyShapes(KEY_SHAPES), replace: () => CENSOR },
  {
    // Keys without a prefix (DeepInfra, Mistral, Cohere, ...): a standalone run of 32+ letters and
    // digits mixing lower case, upper case and digits, as ids and words do not.
    name: 'random-token',
    pattern: new RegExp(
      linearLoops(
        '(?<![A-Za-z0-9_-])(?=[A-Za-z0-9]{32})(?=[A-Za-z0-9]*[a-z])(?=[A-Za-z0-9]*[A-Z])(?=[A-Za-z0-9]*[0-9])' +
          '[A-Za-z0-9]{32,}(?![A-Za-z0-9_-])',
      ),
      'g',
    ),
    replace: () => CENSOR,
  },
];

/**
 * A gateway's configured secrets (provider keys, routes' keys, signing secrets): redacted by value
 * wherever that gateway tells of something, whatever their shape. Per gateway, never shared: a
 * process may run many gateways (the tests do), each with its own keys.
 */
export function configuredSecrets(candidates: readonly (string | undefined)[]): readonly string[] {
  const secrets = new Set<string>();
  for (const secret of candidates) if (secret && secret.length >= 4) secrets.add(secret);
  return Object.freeze([...secrets]);
}

/** A URL that may carry credentials (REDIS_URL), and its password (or lone username), in the forms an error could quote them. */
export function urlSecrets(url: string): readonly string[] {
  const secrets = [url];
  try {
    const parsed = new URL(url);
    const secret = parsed.password !== '' ? parsed.password : parsed.username;
    if (secret !== '') {
      // Kept as written first: a '%' that is no escape makes decoding throw, and the password must stay.
      secrets.push(secret);
      try {
        secrets.push(decodeURIComponent(secret));
      } catch {
        // no decoded form to redact besides the written one
      }
    }
  } catch {
    // not a URL: redacted whole, as it is.
  }
  return secrets;
}

/** The part of `text` that is scanned: all of it, or its start cut before the token that straddles the bound. */
function bounded(text: string): string {
  if (text.length <= MAX_SCANNED_CHARS) return text;
  let end = MAX_SCANNED_CHARS;
  const floor = end - 4096;
  while (end > floor && text.charCodeAt(end - 1) > 0x20) end--;
  return `${text.slice(0, end)} [${text.length - end} more characters not shown]`;
}

function redactWith(rules: readonly Rule[], text: string): string {
  let out = bounded(text);
  for (const rule of rules) out = replaceMatches(out, rule);
  return out;
}

/**
 * String.prototype.replace with a function, as a loop: V8 calls a replacer from native code at about
 * 0.5 µs a match, several times what this costs. After MAX_REPLACEMENTS the rest of the text is dropped.
 */
function replaceMatches(text: string, { pattern, replace }: Rule): string {
  pattern.lastIndex = 0;
  let out = '';
  let last = 0;
  let replaced = 0;
  for (let match = pattern.exec(text); match !== null; match = pattern.exec(text)) {
    const replacement = replace(match);
    if (replacement === match[0]) continue;
    out += text.slice(last, match.index) + replacement;
    last = pattern.lastIndex;
    if (++replaced === MAX_REPLACEMENTS && last < text.length) return `${out} [${text.length - last} more characters not shown]`;
  }
  return last === 0 ? text : out + text.slice(last);
}

/**
 * The text with every occurrence of `secret` (a credential of this request, whatever its shape)
 * redacted, plain or percent-encoded.
 */
export function redactValue(text: string, secret: string | undefined): string {
  if (secret === undefined || secret.length < 4) return text;
  let out = text.includes(secret) ? text.split(secret).join(CENSOR) : text;
  const encoded = encodeURIComponent(secret);
  if (encoded !== secret && out.includes(encoded)) out = out.split(encoded).join(CENSOR);
  return out;
}

/** What a failure's text becomes before an event, an error body or a log line is made of it. */
export type Redactor = (text: string) => string;

/**
 * A text with `credentials` (a request's own, and its gateway's configured secrets) redacted by
 * value, then as redactSecrets does (credential patterns). By value first: a pattern may match only
 * the start of a credential (a session token's run of letters before its first "/"), and what it
 * leaves would then no longer be found whole.
 */
export function redactCredentials(text: string, credentials: readonly (string | undefined)[], configured: readonly string[] = NO_SECRETS): string {
  let out = text;
  for (const credential of credentials) out = redactValue(out, credential);
  for (const secret of configured) out = redactValue(out, secret);
  return redactSecrets(out);
}

const NO_SECRETS: readonly string[] = Object.freeze([]);

/** Replaces every credential in `text` with `[REDACTED]`, keeping the scheme or name in front of it. */
export function redactSecrets(text: string): string {
  return redactWith(RULES, text);
}

/** The names of the rules and key shapes, and redaction without one of them: for the tests. */
export const redactionRuleNames: readonly string[] = [
  ...RULES.map((rule) => rule.name),
  ...KEY_SHAPES.map(([name]) => `key-shape:${name}`),
];
export function redactSecretsWithout(ruleName: string): (text: string) => string {
  const shapes = KEY_SHAPES.filter(([name]) => `key-shape:${name}` !== ruleName);
  const rules = RULES.filter((rule) => rule.name !== ruleName).map((rule) =>
    rule.name === 'key-shape' ? { ...rule, pattern: keyShapes(shapes) } : rule,
  );
  return (text) => redactWith(rules, text);
}

const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;

/**
 * A client's header value for one of the gateway's own error messages: quoted when it is short,
 * printable ASCII and nothing like a credential; otherwise only its length.
 */
export function safeEcho(value: string | string[] | undefined, maxChars = 64): string {
  if (value === undefined) return '(none)';
  const text = typeof value === 'string' ? value : value.join(', ');
  if (text.length <= maxChars && PRINTABLE_ASCII.test(text) && redactSecrets(text) === text) return JSON.stringify(text);
  return `(a value of ${text.length} character${text.length === 1 ? '' : 's'}, not shown)`;
}

/**
 * Any value a client sent in a JSON body (a type, an id, a name), for an error message: a string
 * as safeEcho shows it, anything else by its kind only. Bounded whatever the client sent.
 */
export function safeEchoValue(value: unknown, maxChars = 64): string {
  if (typeof value === 'string') return safeEcho(value, maxChars);
  if (value === undefined || value === null) return '(none)';
  if (typeof value === 'number' || typeof value === 'boolean') return String(value).slice(0, maxChars);
  return Array.isArray(value) ? '(a list)' : '(an object)';
}

/**
 * Paths redacted by the logger in every record, whatever the level. Explicit paths only: pino's
 * wildcard redaction costs about 10 µs a line, and records never nest headers deeper than this.
 */
export const redactedLogPaths = [
  'authorization',
  'cookie',
  'apiKey',
  'headers.authorization',
  'headers.cookie',
  'headers["set-cookie"]',
  'headers["x-api-key"]',
  'headers["api-key"]',
  'headers["x-goog-api-key"]',
  'headers["x-aws-access-key-id"]',
  'headers["x-aws-secret-access-key"]',
  'headers["x-aws-session-token"]',
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-api-key"]',
  'req.headers["api-key"]',
  'req.headers["x-goog-api-key"]',
  'req.headers["x-aws-access-key-id"]',
  'req.headers["x-aws-secret-access-key"]',
  'req.headers["x-aws-session-token"]',
];
export const REDACTION_CENSOR = CENSOR;
