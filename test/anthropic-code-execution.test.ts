// An Anthropic answer whose tool_use blocks were called by code execution (programmatic tool
// calling: `caller.type` `code_execution_...`) is not a request to the client to run them: they ran
// in Anthropic's container. Recorded answers and streams in the shape of Anthropic's programmatic
// tool calling docs, served by a bare upstream, read by the `openai` SDK through the gateway
// (chat completions out to Anthropic), by a Responses API client (the same translation, then the
// Responses one) and by a Messages API client (passed through).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';
import { request } from 'undici';
import { answerJson, startRawStack, type RawStack } from './raw-upstream.js';

type Block = Record<string, unknown>;

const CODE_CALLER = { type: 'code_execution_20260120', tool_id: 'srvtoolu_01' };
const SQL_WEST = { sql: "SELECT revenue FROM sales WHERE region = 'West'" };
const SQL_EAST = { sql: "SELECT revenue FROM sales WHERE region = 'East'" };

/** The code's run: the server tool call, the client tool it called twice, its result. */
const CODE_RUN: Block[] = [
  { type: 'server_tool_use', id: 'srvtoolu_01', name: 'code_execution', input: { code: 'for r in regions: query_database(r)' }, caller: { type: 'direct' } },
  { type: 'tool_use', id: 'toolu_w', name: 'query_database', input: SQL_WEST, caller: CODE_CALLER },
  { type: 'tool_use', id: 'toolu_e', name: 'query_database', input: SQL_EAST, caller: CODE_CALLER },
  {
    type: 'code_execution_tool_result',
    tool_use_id: 'srvtoolu_01',
    content: { type: 'code_execution_result', stdout: 'West: 1200\nEast: 900', stderr: '', return_code: 0, content: [] },
  },
];

/** Code execution ran, then the model answered: end_turn. */
const ANSWERED: Block[] = [{ type: 'text', text: "I'll query each region." }, ...CODE_RUN, { type: 'text', text: 'West had the highest revenue.' }];
/** The same, and then a tool call of the model's own for the client: tool_use. */
const THEN_DIRECT: Block[] = [...ANSWERED, { type: 'tool_use', id: 'toolu_d', name: 'send_report', input: { region: 'West' }, caller: { type: 'direct' } }];

function message(content: Block[], stopReason: string): string {
  return JSON.stringify({
    id: 'msg_01',
    type: 'message',
    role: 'assistant',
    model: 'claude-opus-4-6',
    content,
    stop_reason: stopReason,
    stop_sequence: null,
    usage: { input_tokens: 50, output_tokens: 20 },
    container: { id: 'container_01', expires_at: '2026-01-01T00:00:00Z' },
  });
}

/** The same message as Anthropic streams it: each block started, its text or input in two deltas, stopped. */
function stream(content: Block[], stopReason: string): string {
  const event = (data: Block): string => `event: ${String(data.type)}\ndata: ${JSON.stringify(data)}\n\n`;
  let out = event({
    type: 'message_start',
    message: { id: 'msg_01', type: 'message', role: 'assistant', model: 'claude-opus-4-6', content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: 50, output_tokens: 0 } },
  });
  content.forEach((block, index) => {
    if (block.type === 'text') {
      out += event({ type: 'content_block_start', index, content_block: { type: 'text', text: '' } });
      const text = block.text as string;
      for (const piece of [text.slice(0, 5), text.slice(5)]) out += event({ type: 'content_block_delta', index, delta: { type: 'text_delta', text: piece } });
    } else if (block.type === 'tool_use' || block.type === 'server_tool_use') {
      out += event({ type: 'content_block_start', index, content_block: { ...block, input: {} } });
      const input = JSON.stringify(block.input);
      for (const piece of [input.slice(0, 7), input.slice(7)]) out += event({ type: 'content_block_delta', index, delta: { type: 'input_json_delta', partial_json: piece } });
    } else {
      out += event({ type: 'content_block_start', index, content_block: block });
    }
    out += event({ type: 'content_block_stop', index });
  });
  out += event({ type: 'message_delta', delta: { stop_reason: stopReason, stop_sequence: null }, usage: { output_tokens: 20 } });
  return out + event({ type: 'message_stop' });
}

/** What the upstream answers next. */
let served = { content: ANSWERED, stopReason: 'end_turn' };
let stack: RawStack;
let openai: OpenAI;

before(async () => {
  stack = await startRawStack((req, res) => {
    let text = '';
    req.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
    req.on('end', () => {
      if ((JSON.parse(text) as { stream?: boolean }).stream === true) {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.end(stream(served.content, served.stopReason));
      } else answerJson(res, message(served.content, served.stopReason));
    });
  });
  openai = new OpenAI({ baseURL: `${stack.origin}/v1`, apiKey: 'use-server-key', defaultHeaders: { 'x-provider': 'anthropic' }, maxRetries: 0 });
});
after(() => stack.close());

const TOOLS: OpenAI.ChatCompletionTool[] = [
  { type: 'function', function: { name: 'query_database', parameters: { type: 'object', properties: { sql: { type: 'string' } } } } },
  { type: 'function', function: { name: 'send_report', parameters: { type: 'object', properties: { region: { type: 'string' } } } } },
];
const ASK = { model: 'claude-opus-4-6', max_tokens: 256, tools: TOOLS, messages: [{ role: 'user' as const, content: 'Which region had the highest revenue?' }] };

/** A streamed answer read back: its text, tool calls (by index) and finish reason. */
async function streamed(): Promise<{ text: string; calls: { id?: string; name?: string; args: string }[]; finish: string | null }> {
  const chunks = await openai.chat.completions.create({ ...ASK, stream: true });
  let text = '';
  const calls: { id?: string; name?: string; args: string }[] = [];
  let finish: string | null = null;
  for await (const chunk of chunks) {
    const choice = chunk.choices[0];
    if (!choice) continue;
    text += choice.delta.content ?? '';
    for (const call of choice.delta.tool_calls ?? []) {
      const slot = (calls[call.index] ??= { args: '' });
      if (call.id) slot.id = call.id;
      if (call.function?.name) slot.name = call.function.name;
      slot.args += call.function?.arguments ?? '';
    }
    finish = choice.finish_reason ?? finish;
  }
  return { text, calls, finish };
}

describe('tool_use blocks called by code execution, chat completions out', () => {
  test('an end_turn answer whose tool calls code execution made is a stop with its text and no tool_calls', async () => {
    served = { content: ANSWERED, stopReason: 'end_turn' };
    const completion = await openai.chat.completions.create(ASK);
    const choice = completion.choices[0]!;
    assert.equal(choice.finish_reason, 'stop');
    assert.equal(choice.message.tool_calls, undefined);
    assert.equal(choice.message.content, "I'll query each region.West had the highest revenue.");
  });

  test('streamed: the same, no tool call chunk, finish_reason stop', async () => {
    served = { content: ANSWERED, stopReason: 'end_turn' };
    const { text, calls, finish } = await streamed();
    assert.equal(finish, 'stop');
    assert.deepEqual(calls, []);
    assert.equal(text, "I'll query each region.West had the highest revenue.");
  });

  test("the model's own call beside them is the one tool call, at index 0, finish_reason tool_calls", async () => {
    served = { content: THEN_DIRECT, stopReason: 'tool_use' };
    const completion = await openai.chat.completions.create(ASK);
    const choice = completion.choices[0]!;
    assert.equal(choice.finish_reason, 'tool_calls');
    assert.deepEqual(
      choice.message.tool_calls?.map((call) => call.type === 'function' && [call.id, call.function.name, JSON.parse(call.function.arguments)]),
      [['toolu_d', 'send_report', { region: 'West' }]],
    );
    const live = await streamed();
    assert.equal(live.finish, 'tool_calls');
    assert.deepEqual(
      live.calls.map((call) => [call.id, call.name, JSON.parse(call.args)]),
      [['toolu_d', 'send_report', { region: 'West' }]],
    );
  });
});

describe('the same answers through the other inbound APIs', () => {
  test('Messages API in, to Anthropic: passed through as Anthropic sent it, the callers kept for the client', async () => {
    served = { content: THEN_DIRECT, stopReason: 'tool_use' };
    const res = await request(`${stack.origin}/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-provider': 'anthropic', 'x-api-key': 'use-server-key', 'anthropic-version': '2023-06-01' },
      body: JSON.stringify({ model: 'claude-opus-4-6', max_tokens: 256, messages: [{ role: 'user', content: 'Which region had the highest revenue?' }] }),
    });
    assert.equal(await res.body.text(), message(THEN_DIRECT, 'tool_use'));
  });


  for (const stream of [false, true]) {
    test(`no function_call item for what code execution called (${stream ? 'streamed' : 'whole'})`, async () => {
      served = { content: ANSWERED, stopReason: 'end_turn' };
      const res = await request(`${stack.origin}/v1/responses`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-provider': 'anthropic', authorization: 'Bearer use-server-key' },
        body: JSON.stringify({ model: 'claude-opus-4-6', input: 'Which region had the highest revenue?', tools: [{ type: 'function', name: 'query_database', parameters: { type: 'object' } }], stream }),
      });
      const text = await res.body.text();
      assert.equal(res.statusCode, 200, text);
      // Whole: the response object; streamed: the last event's response (response.completed).
      const response = stream ? (JSON.parse(text.trim().split('\n').at(-1)!.slice('data: '.length)) as { response: any }).response : JSON.parse(text);
      assert.equal(response.status, 'completed');
      assert.deepEqual(
        (response.output as { type: string }[]).map((item) => item.type),
        ['message'],
      );
      assert.doesNotMatch(text, /toolu_w|toolu_e/);
    });
  }
});
