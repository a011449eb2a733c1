// A Gemini `Schema` (an OpenAPI 3.0 subset: https://ai.google.dev/api/caching#Schema) as JSON
// Schema, for chat `tools[].function.parameters` and `response_format.json_schema.schema`.
// - `type` is an enum in upper case (`STRING`, `OBJECT`); JSON Schema's names are lower case, and
//   TYPE_UNSPECIFIED is no type at all;
// - `nullable: true` is OpenAPI's way to allow null: JSON Schema lists `null` among the types;
// - int64 fields (`minItems`, `maxLength`, ...) may come as strings in Google's JSON mapping;
// - `format` on numbers (`int32`, `float`, `double`) is an OpenAPI notion JSON Schema does not
//   define: left out; on strings (`date-time`, `enum`) it is kept, except `enum`, which the
//   `enum` list already says;
// - `propertyOrdering` and `example` steer Google's decoder only: left out.
import { isRecord } from '../../translate/json.js';
import { invalid, numeric, type Json } from './fields.js';

const TYPES: Readonly<Record<string, string>> = {
  STRING: 'string',
  NUMBER: 'number',
  INTEGER: 'integer',
  BOOLEAN: 'boolean',
  ARRAY: 'array',
  OBJECT: 'object',
  NULL: 'null',
};

/** Counts and bounds, written as numbers whatever the client wrote. */
const NUMERIC_KEYS = ['minItems', 'maxItems', 'minLength', 'maxLength', 'minProperties', 'maxProperties', 'minimum', 'maximum'] as const;
const SNAKE_NUMERIC: Readonly<Record<string, string>> = {
  min_items: 'minItems',
  max_items: 'maxItems',
  min_length: 'minLength',
  max_length: 'maxLength',
  min_properties: 'minProperties',
  max_properties: 'maxProperties',
};
/** Deeper than this is no tool schema a model can use, and a recursion the gateway will not follow. */
export const MAX_SCHEMA_DEPTH = 64;

/** A Gemini Schema as a JSON Schema object; throws a 400 naming `at` for one that is not a Schema. */
export function toJsonSchema(schema: unknown, at: string, depth = 0): Json {
  if (!isRecord(schema)) throw invalid(at, 'must be a Schema object');
  if (depth > MAX_SCHEMA_DEPTH) throw invalid(at, `nests deeper than ${MAX_SCHEMA_DEPTH} levels`);
  const out: Json = {};
  let type: string | undefined;
  if (schema.type !== undefined && schema.type !== null) {
    if (typeof schema.type !== 'string') throw invalid(`${at}.type`, 'must be a type name such as "STRING" or "OBJECT"');
    const upper = schema.type.toUpperCase();
    if (upper !== 'TYPE_UNSPECIFIED') {
      type = TYPES[upper];
      if (type === undefined) throw invalid(`${at}.type`, `must be one of ${Object.keys(TYPES).join(', ')}`);
    }
  }
  if (type !== undefined) out.type = schema.nullable === true && type !== 'null' ? [type, 'null'] : type;
  for (const [key, value] of Object.entries(schema)) {
    if (value === undefined || value === null) continue;
    switch (key) {
      case 'type':
      case 'nullable':
      case 'propertyOrdering':
      case 'property_ordering':
      case 'example':
        break;
      case 'format':
        if (type === 'string' && value !== 'enum') out.format = value;
        break;
      case 'properties': {
        if (!isRecord(value)) throw invalid(`${at}.properties`, 'must be an object of Schemas');
        const properties: Json = {};
        for (const [name, property] of Object.entries(value)) properties[name] = toJsonSchema(property, `${at}.properties.${name}`, depth + 1);
        out.properties = properties;
        break;
      }
      case 'items':
        out.items = toJsonSchema(value, `${at}.items`, depth + 1);
        break;
      case 'anyOf':
      case 'any_of':
        if (!Array.isArray(value)) throw invalid(`${at}.anyOf`, 'must be a list of Schemas');
        out.anyOf = value.map((item, i) => toJsonSchema(item, `${at}.anyOf.${i}`, depth + 1));
        break;
      default: {
        const name = SNAKE_NUMERIC[key] ?? key;
        if ((NUMERIC_KEYS as readonly string[]).includes(name)) {
          const number = numeric(value);
          if (number === undefined) throw invalid(`${at}.${name}`, 'must be a number');
          out[name] = number;
        } else out[name] = value;
      }
    }
  }
  return out;
}
