/**
 * Values from JSON schemas, for every simulator in sim/: a model's tool arguments and its
 * structured output. Hand-written because the libraries that do this (json-schema-faker) are large
 * and random, and the simulators want one deterministic value that holds for the keywords
 * structured-output schemas use. `pattern`, `not`, `if`/`then` and `dependentRequired` are not
 * honoured.
 *
 * Two styles, because a model fills the two differently:
 * - `answer` (structured output): every property near the top, one item per open array, as a
 *   model asked for a JSON document writes it (strict schemas mark every property required anyway).
 * - `arguments` (tool calls): required properties only, booleans false, arrays of `minItems`
 *   items. An agent runs what it is given: optional flags set to true (Claude Code's Bash
 *   `run_in_background: true`) sent Claude Code round a loop of background jobs.
 */

export type SampleStyle = 'answer' | 'arguments';

export function isObject(value: unknown): value is Record<string, any> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

export function nonNegative(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0 ? Math.floor(value) : undefined;
}

/** Deeper than this, answers too keep only required properties and `minItems` items, and unions
 *  take their null branch if they have one: that is how recursive schemas end. */
const SCHEMA_SHALLOW_DEPTH = 6;
/** Deeper than this a schema gives null, for schemas whose every value is infinite. */
const SCHEMA_MAX_DEPTH = 32;
const SCHEMA_MAX_ITEMS = 1000;
const SCHEMA_MAX_LENGTH = 65_536;

function pad2(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

// One sample per `format`; `v` (an array item's index) keeps items of one array apart.
const STRING_FORMATS: Record<string, (v: number) => string> = {
  'date-time': (v) => `2024-01-${pad2(1 + (v % 28))}T00:00:00Z`,
  date: (v) => `2024-01-${pad2(1 + (v % 28))}`,
  time: (v) => `12:00:${pad2(v % 60)}Z`,
  duration: (v) => `P${v + 1}D`,
  email: (v) => `sim${v || ''}@example.com`,
  hostname: (v) => `sim${v || ''}.example.com`,
  uri: (v) => `https://example.com/sim${v || ''}`,
  url: (v) => `https://example.com/sim${v || ''}`,
  'uri-reference': (v) => `/sim${v || ''}`,
  iri: (v) => `https://example.com/sim${v || ''}`,
  uuid: (v) => `00000000-0000-4000-8000-${String(v).padStart(12, '0')}`,
  ipv4: (v) => `192.0.2.${1 + (v % 254)}`,
  ipv6: (v) => `2001:db8::${(v + 1).toString(16)}`,
};

/** Sets an own property, even one named `__proto__` (a schema may name any property). */
function setOwn(target: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

/** The schema a local `$ref` (`#`, `#/$defs/X`, `#/definitions/X`, any JSON pointer) names. */
function resolveRef(root: unknown, ref: string): unknown {
  if (!ref.startsWith('#')) return undefined;
  let node: unknown = root;
  for (const raw of ref.slice(1).split('/').slice(1)) {
    let key: string;
    try {
      key = decodeURIComponent(raw).replace(/~1/g, '/').replace(/~0/g, '~');
    } catch {
      return undefined;
    }
    if (node === null || typeof node !== 'object' || !Object.hasOwn(node, key)) return undefined;
    node = (node as Record<string, unknown>)[key];
  }
  return node;
}

function finite(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

function sampleNumber(schema: Record<string, any>, integer: boolean, variant: number): number {
  const min = finite(schema.minimum);
  const max = finite(schema.maximum);
  // Draft 4 spelled exclusive bounds as booleans beside minimum/maximum.
  const xmin = schema.exclusiveMinimum === true ? min : finite(schema.exclusiveMinimum);
  const xmax = schema.exclusiveMaximum === true ? max : finite(schema.exclusiveMaximum);
  const low = xmin ?? min;
  let value = (xmin !== undefined ? xmin + 1 : min ?? 1) + variant;
  if (integer) value = Math.ceil(value);
  const step = finite(schema.multipleOf);
  const onStep = (n: number, round: (x: number) => number): number => {
    if (step === undefined || step <= 0) return n;
    return Number((round(n / step) * step).toPrecision(12));
  };
  value = onStep(value, Math.ceil);
  if (max !== undefined && value > max) value = onStep(integer ? Math.floor(max) : max, Math.floor);
  if (xmax !== undefined && value >= xmax) {
    if (integer) value = onStep(Math.ceil(xmax) - 1, Math.floor);
    else value = low !== undefined && low < xmax ? (low + xmax) / 2 : xmax - 1;
  }
  return value;
}

function sampleString(schema: Record<string, any>, variant: number): string {
  const format = typeof schema.format === 'string' && Object.hasOwn(STRING_FORMATS, schema.format) ? STRING_FORMATS[schema.format] : undefined;
  let text = format ? format(variant) : variant > 0 ? `sim${variant}` : 'sim';
  const min = Math.min(nonNegative(schema.minLength) ?? 0, SCHEMA_MAX_LENGTH);
  if (text.length < min) {
    // Lengthen where the format allows it: an email's local part, otherwise the end.
    const at = schema.format === 'email' ? text.indexOf('@') : text.length;
    text = text.slice(0, at) + 'm'.repeat(min - text.length) + text.slice(at);
  }
  const max = nonNegative(schema.maxLength);
  if (max !== undefined && text.length > max) text = text.slice(0, max);
  return text;
}

/**
 * One value that satisfies `schema`, in `style`. `root` resolves `$ref`s; `variant` (an array
 * item's index) makes items differ, for `uniqueItems`. Unions take their first branch.
 */
export function sampleFromSchema(schema: unknown, style: SampleStyle, root: unknown = schema, depth = 0, variant = 0): unknown {
  if (schema === true || schema === undefined) return sampleString({}, variant);
  if (!isObject(schema) || depth > SCHEMA_MAX_DEPTH) return null;
  const next = (sub: unknown, v = 0): unknown => sampleFromSchema(sub, style, root, depth + 1, v);
  const shallow = depth < SCHEMA_SHALLOW_DEPTH;
  // Optional properties and array items beyond minItems: an answer's, near the top; never an argument's.
  const full = shallow && style === 'answer';

  if (typeof schema.$ref === 'string') return next(resolveRef(root, schema.$ref), variant);
  if ('const' in schema) return schema.const;
  if (Array.isArray(schema.enum) && schema.enum.length > 0) return schema.enum[variant % schema.enum.length];
  for (const union of ['anyOf', 'oneOf'] as const) {
    const branches = schema[union];
    if (Array.isArray(branches) && branches.length > 0) {
      const pick = shallow ? branches[0] : branches.find((b) => isObject(b) && b.type === 'null') ?? branches[0];
      return next(pick, variant);
    }
  }
  if (Array.isArray(schema.allOf) && schema.allOf.length > 0) {
    // Every part must hold; the parts are usually object schemas, so their samples are merged.
    const { allOf, ...rest } = schema;
    let merged: unknown;
    for (const part of [...allOf, rest]) {
      const value = next(part, variant);
      if (merged === undefined) merged = value;
      else if (isObject(merged) && isObject(value)) for (const key of Object.keys(value)) setOwn(merged, key, value[key]);
    }
    return merged;
  }

  const types: unknown[] = Array.isArray(schema.type) ? schema.type : schema.type === undefined ? [] : [schema.type];
  let type = types.find((t) => t !== 'null') ?? types[0];
  if (type === undefined) {
    if (isObject(schema.properties) || Array.isArray(schema.required)) type = 'object';
    else if (schema.items !== undefined || Array.isArray(schema.prefixItems)) type = 'array';
  }
  switch (type) {
    case 'object': {
      const out: Record<string, unknown> = {};
      const props: Record<string, unknown> = isObject(schema.properties) ? schema.properties : {};
      const required: unknown[] = Array.isArray(schema.required) ? schema.required : [];
      for (const key of Object.keys(props)) if (full || required.includes(key)) setOwn(out, key, next(props[key]));
      const extra = isObject(schema.additionalProperties) ? schema.additionalProperties : true;
      for (const key of required) if (typeof key === 'string' && !Object.hasOwn(out, key)) setOwn(out, key, next(extra));
      return out;
    }
    case 'array': {
      // Tuples: `prefixItems` (2020-12) or an `items` list (draft 4-2019); the rest follow `items`.
      const prefix: unknown[] = Array.isArray(schema.prefixItems) ? schema.prefixItems : Array.isArray(schema.items) ? schema.items : [];
      const rest = Array.isArray(schema.items) ? schema.additionalItems : schema.items;
      const open = rest !== undefined && rest !== false;
      const min = Math.min(nonNegative(schema.minItems) ?? 0, SCHEMA_MAX_ITEMS);
      let count = full ? Math.max(min, prefix.length, open ? 1 : 0) : min;
      count = Math.min(count, nonNegative(schema.maxItems) ?? count);
      const out: unknown[] = [];
      for (let i = 0; i < count; i++) out.push(next(i < prefix.length ? prefix[i] : open ? rest : true, i));
      return out;
    }
    case 'integer': return sampleNumber(schema, true, variant);
    case 'number': return sampleNumber(schema, false, variant);
    // An argument's flag is off unless items must differ; an answer's first is true.
    case 'boolean': return style === 'arguments' ? variant % 2 === 1 : variant % 2 === 0;
    case 'null': return null;
    default: return sampleString(schema, variant);
  }
}

/** A JSON object for `schema` (tool arguments, `json_object`): other values are wrapped as `result`. */
export function sampleObject(schema: unknown, style: SampleStyle, fallback: () => Record<string, unknown>): string {
  const value = schema === undefined ? fallback() : sampleFromSchema(schema, style);
  return JSON.stringify(value !== null && typeof value === 'object' && !Array.isArray(value) ? value : { result: value });
}
