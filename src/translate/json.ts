// The JSON guard and the JSON value types every translation builds with: the provider adapters
// (Anthropic, Bedrock) and the inbound APIs read client and provider bodies through them.
export type Json = string | number | boolean | null | Json[] | { [key: string]: Json };
/** A JSON object: a content block, a tool, a request body as it is built. */
export type Block = { [key: string]: Json };

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
