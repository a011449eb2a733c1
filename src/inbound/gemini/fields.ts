// Reading a Gemini API body: Google's JSON mapping takes every field in lowerCamelCase and in its
// proto name (snake_case), and the REST examples use both (`systemInstruction` and
// `system_instruction`, `inlineData` and `inline_data`), so every read looks for either spelling.
import { GatewayError } from '../../errors.js';

export type Json = Record<string, unknown>;

/** Snake-case spellings of the camel-case names read so far: a fixed set, filled once. */
const SNAKE = new Map<string, string>();

export function snakeOf(camel: string): string {
  let snake = SNAKE.get(camel);
  if (snake === undefined) {
    snake = camel.replace(/[A-Z]/g, (letter) => `_${letter.toLowerCase()}`);
    SNAKE.set(camel, snake);
  }
  return snake;
}

/** A field by its camel-case name or its snake-case one; null counts as absent. */
export function field(object: Json, camel: string): unknown {
  const value = object[camel] ?? object[snakeOf(camel)];
  return value === null ? undefined : value;
}

/** A field's name as the API documents it: the camel-case one, whichever the client used. */
export function camelOf(key: string): string {
  return key.includes('_') ? key.replace(/_([a-z])/g, (_all, letter: string) => letter.toUpperCase()) : key;
}

export function invalid(param: string, message: string): GatewayError {
  return new GatewayError(400, `${param}: ${message}`, 'invalid_request', param);
}

export function text(value: unknown, param: string): string {
  if (typeof value !== 'string') throw invalid(param, 'must be a string');
  return value;
}

/**
 * A number, or an integer Google's JSON mapping writes as a string (int64 fields such as
 * `minItems`, and any integer a client quotes).
 */
export function numeric(value: unknown): number | undefined {
  if (typeof value === 'number' && Number.isFinite(value)) return value;
  if (typeof value === 'string' && /^-?\d+(\.\d+)?$/.test(value)) return Number(value);
  return undefined;
}
