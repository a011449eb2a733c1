// Anthropic's model list in OpenAI's list shape.
// Sources: https://platform.claude.com/docs/en/api/models/list (data: [{type, id, display_name,
// created_at (RFC 3339)}], paged with limit up to 1000, default 20),
// https://platform.openai.com/docs/api-reference/models/list.
import { isRecord } from '../../translate/json.js';

/** One page of up to 1000 models: all of them, where the default page of 20 may not be. */
export const MODELS_PATH = '/v1/models?limit=1000';

export function modelsAnswer(body: string): string {
  const list: unknown = JSON.parse(body);
  if (!isRecord(list) || !Array.isArray(list.data)) throw new Error('Anthropic answered the model list with JSON that is not a list');
  const data = list.data.filter(isRecord).map((model) => {
    const created = typeof model.created_at === 'string' ? Date.parse(model.created_at) : Number.NaN;
    return {
      id: String(model.id),
      object: 'model',
      created: Number.isNaN(created) ? 0 : Math.floor(created / 1000),
      owned_by: 'anthropic',
    };
  });
  return JSON.stringify({ object: 'list', data });
}
