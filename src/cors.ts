// CORS, for browser apps that call the gateway directly; off unless CORS_ORIGINS is set. The
// gateway answers preflights itself (a provider never sees one) and marks answers to an allowed
// origin as readable by its scripts. Hand-written: the `cors` packages are Express/Connect
// middleware, and this is a few set lookups on headers already parsed.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Config } from './config.js';

export interface Cors {
  /**
   * Called at the very start of every request. Sets the CORS headers of the answer; returns true
   * when it has answered the request itself (an OPTIONS that carries an Origin: a preflight, or
   * one from an origin not allowed), false when the request goes on as usual.
   */
  handle(req: IncomingMessage, res: ServerResponse): boolean;
}

/** Answer headers a script may read: ids, retry hints, and the rate limits Fireworks sends. */
const EXPOSED_HEADERS = [
  'x-request-id',
  'x-upstream-request-id',
  'retry-after',
  'retry-after-ms',
  'x-should-retry',
  'x-ratelimit-limit-requests',
  'x-ratelimit-remaining-requests',
  'x-ratelimit-limit-tokens-prompt',
  'x-ratelimit-remaining-tokens-prompt',
  'x-ratelimit-limit-tokens-generated',
  'x-ratelimit-remaining-tokens-generated',
].join(', ');

const VARY = 'origin';
const PREFLIGHT_VARY = 'origin, access-control-request-method, access-control-request-headers';
const NOT_ALLOWED = Object.freeze({ vary: VARY, 'content-length': '0' });
const PREFLIGHT_NOT_ALLOWED = Object.freeze({ vary: PREFLIGHT_VARY, 'content-length': '0' });

/** The CORS handler for `config`, or undefined when CORS_ORIGINS is empty (CORS off). */
export function createCors(config: Config): Cors | undefined {
  if (config.CORS_ORIGINS.length === 0) return undefined;
  const anyOrigin = config.CORS_ORIGINS.includes('*');
  const origins = new Set(config.CORS_ORIGINS);
  const headerNames = new Set(config.CORS_ALLOW_HEADERS.filter((name) => !name.endsWith('*')));
  const headerPrefixes = config.CORS_ALLOW_HEADERS.filter((name) => name.endsWith('*')).map((name) => name.slice(0, -1));
  const methods = new Set(config.CORS_ALLOW_METHODS);
  const allowMethods = config.CORS_ALLOW_METHODS.join(', ');
  const maxAge = String(config.CORS_MAX_AGE_S);

  const headerAllowed = (name: string): boolean =>
    headerNames.has(name) || headerPrefixes.some((prefix) => name.startsWith(prefix));

  /**
   * The preflight's requested headers that are allowed. When one is not, the browser refuses the
   * request and its console names that header: clearer than an answer without any CORS headers.
   */
  function allowedOf(requested: string): string {
    let allowed = '';
    for (const raw of requested.split(',')) {
      const name = raw.trim().toLowerCase();
      if (name !== '' && headerAllowed(name)) allowed = allowed === '' ? name : `${allowed}, ${name}`;
    }
    return allowed;
  }

  return {
    handle(req, res) {
      const origin = req.headers.origin;
      const allowed = origin !== undefined && (anyOrigin || origins.has(origin));
      if (req.method !== 'OPTIONS' || origin === undefined) {
        // Answers differ by Origin, so every one says so, for caches between here and browsers.
        res.setHeader('vary', VARY);
        if (allowed) {
          res.setHeader('access-control-allow-origin', origin);
          res.setHeader('access-control-expose-headers', EXPOSED_HEADERS);
        }
        return false;
      }

      const requestedMethod = req.headers['access-control-request-method'];
      if (requestedMethod === undefined) {
        // An OPTIONS that is not a preflight: nothing for a provider to answer.
        res.writeHead(204, allowed ? { vary: VARY, 'access-control-allow-origin': origin, 'content-length': '0' } : NOT_ALLOWED);
        res.end();
        return true;
      }
      // A browser lets GET, HEAD and POST through whatever allow-methods says, so a method not
      // allowed, like an origin not allowed, gets no allow headers at all.
      if (!allowed || !methods.has(requestedMethod)) {
        res.writeHead(204, PREFLIGHT_NOT_ALLOWED);
        res.end();
        return true;
      }
      const headers: Record<string, string> = {
        vary: PREFLIGHT_VARY,
        'access-control-allow-origin': origin,
        'access-control-allow-methods': allowMethods,
        'access-control-max-age': maxAge,
        'content-length': '0',
      };
      const requestedHeaders = req.headers['access-control-request-headers'];
      const allowedHeaders = requestedHeaders === undefined ? '' : allowedOf(requestedHeaders);
      if (allowedHeaders !== '') headers['access-control-allow-headers'] = allowedHeaders;
      res.writeHead(204, headers);
      res.end();
      return true;
    },
  };
}
