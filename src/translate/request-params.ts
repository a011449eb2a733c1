// The transforms of the request fields that are renames, as the Anthropic and Bedrock adapters'
// tables of parameters use them: each checks the client's value and gives it in the provider's
// terms, or throws a 400 naming the field; setPath puts it where the provider wants it.
import { invalid } from './errors.js';
import { isRecord, type Block, type Json } from './json.js';

export const integerAtLeast =
  (min: number) =>
  (value: unknown, param: string): Json => {
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
      throw invalid(`${param} must be an integer of at least ${min}`, param, typeof value === 'number' ? 'invalid_value' : 'invalid_type');
    }
    return value;
  };

export const numberWithin =
  (min: number, max: number) =>
  (value: unknown, param: string): Json => {
    if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
      throw invalid(`${param} must be a number from ${min} to ${max}`, param, typeof value === 'number' ? 'invalid_value' : 'invalid_type');
    }
    return value;
  };

/**
 * OpenAI's temperature runs 0-2, Anthropic's and Converse's 0-1. Above 1 is clamped to 1 rather
 * than refused: a client tuned for "more random" gets the provider's most random, where a 400 would
 * break clients that hard-code such a value. Scaling (t/2) would halve the common 0.7 instead, so
 * it is not done.
 */
export function temperature(value: unknown, param: string): Json {
  return Math.min(numberWithin(0, 2)(value, param) as number, 1);
}

export function stopSequences(value: unknown, param: string): Json {
  if (typeof value === 'string') return [value];
  if (Array.isArray(value) && value.every((item) => typeof item === 'string')) return value as string[];
  throw invalid(`${param} must be a string or an array of strings`, param, 'invalid_type');
}

export function text(value: unknown, param: string): Json {
  if (typeof value !== 'string') throw invalid(`${param} must be a string`, param, 'invalid_type');
  return value;
}

export function setPath(into: Block, path: string, value: Json): void {
  const dot = path.indexOf('.');
  if (dot === -1) {
    into[path] = value;
    return;
  }
  const head = path.slice(0, dot);
  const existing = into[head];
  const child: Block = isRecord(existing) ? (existing as Block) : {};
  into[head] = child;
  setPath(child, path.slice(dot + 1), value);
}
