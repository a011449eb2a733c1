// What Claude Code sends to /v1/messages that a chat model must be given in its own terms: its
// environment as a system message after the user turn (one leading system message upstream), and
// its tool search (tool_reference blocks in tool results, tools with defer_loading). Driven by the
// Anthropic SDK against the gateway and the Fireworks simulator, whose recorded requests show what
// the provider was sent; the translator's rules for tool search also one by one.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import Anthropic from '@anthropic-ai/sdk';
import { startFireworksSim, type FireworksSim, type RecordedRequest } from '../sim/fireworks.js';
import { GatewayError } from '../src/errors.js';
import { anthropicMessages } from '../src/inbound/anthropic-messages/index.js';
import { ItemMemory } from '../src/inbound/openai-responses/memory.js';
import type { GatewayServer } from '../src/server.js';
import { KEY, MODEL, startGateway } from './helpers.js';

type Json = Record<string, any>;

let fireworks: FireworksSim;
let gateway: GatewayServer;
let anthropic: Anthropic;

before(async () => {
  fireworks = await startFireworksSim({ port: 0 });
  const started = await startGateway({ FIREWORKS_BASE_URL: fireworks.url, FIREWORKS_API_KEY: KEY });
  gateway = started.server;
  anthropic = new Anthropic({ baseURL: started.url.slice(0, -'/v1'.length), apiKey: KEY, defaultHeaders: { 'x-provider': 'fireworks' }, maxRetries: 0 });
});
after(async () => {
  await gateway.shutdown(0);
  await fireworks.close();
});

/** The chat request the Fireworks simulator received since `from`. */
function sentSince(from: number): Json {
  const sent = fireworks.requests.slice(from).find((r: RecordedRequest) => r.path.endsWith('/chat/completions'));
  assert.ok(sent, 'the request reached the Fireworks simulator');
  return sent.json as Json;
}

const ENVIRONMENT = '<env>\nWorking directory: /work/project\nPlatform: linux\n</env>';

const BASH: Anthropic.Tool = {
  name: 'Bash',
  description: 'Executes a bash command.',
  input_schema: { type: 'object', properties: { command: { type: 'string' } }, required: ['command'] },
};

describe("Claude Code's system message after the user turn", () => {
  // As Claude Code 2.1 sends it: the environment block as a system message with cache_control,
  // after the user's turn (Anthropic's mid-conversation system messages).
  const request = {
    model: MODEL,
    max_tokens: 256,
    system: [{ type: 'text' as const, text: "You are Claude Code, Anthropic's official CLI for Claude.", cache_control: { type: 'ephemeral' as const } }],
    messages: [
      { role: 'user' as const, content: [{ type: 'text' as const, text: 'List the files here.' }] },
      { role: 'system' as const, content: [{ type: 'text' as const, text: ENVIRONMENT, cache_control: { type: 'ephemeral' as const } }] },
    ],
    tools: [BASH],
  };

  for (const stream of [false, true]) {
    test(`the provider gets exactly one system message, first, holding both in order (${stream ? 'streamed' : 'whole'})`, async () => {
      const from = fireworks.requests.length;
      if (stream) await anthropic.messages.stream(request).finalMessage();
      else await anthropic.messages.create(request);
      const messages = sentSince(from).messages as Json[];
      assert.deepEqual(
        messages.map((m) => m.role),
        ['system', 'user'],
      );
      assert.equal(messages[0]!.content, `You are Claude Code, Anthropic's official CLI for Claude.\n\n${ENVIRONMENT}`);
      assert.equal(messages[1]!.content, 'List the files here.');
    });
  }

  test('system messages later in the conversation join it too, after the top-level system, in their order', async () => {
    const from = fireworks.requests.length;
    await anthropic.messages.create({
      model: MODEL,
      max_tokens: 64,
      messages: [
        { role: 'user', content: 'a' },
        { role: 'system', content: 'First rule.' },
        { role: 'assistant', content: 'b' },
        { role: 'user', content: 'c' },
        { role: 'system', content: [{ type: 'text', text: 'Second rule.' }] },
      ],
    });
    const messages = sentSince(from).messages as Json[];
    assert.deepEqual(messages, [
      { role: 'system', content: 'First rule.\n\nSecond rule.' },
      { role: 'user', content: 'a' },
      { role: 'assistant', content: 'b' },
      { role: 'user', content: 'c' },
    ]);
  });
});

describe("Claude Code's tool search on a chat provider", () => {
  const schema = (property: string): Anthropic.Tool.InputSchema => ({ type: 'object', properties: { [property]: { type: 'string' } }, required: [property] });
  // Claude Code with many MCP tools: its own ToolSearch tool, the MCP tools deferred, and a
  // deferred placeholder that stands for them.
  const tools: Anthropic.Tool[] = [
    { name: 'ToolSearch', description: 'Fetches full schema definitions for deferred tools so they can be called.', input_schema: schema('query') },
    { name: 'mcp__files__read', description: 'Reads a file.', input_schema: schema('path'), defer_loading: true },
    { name: 'mcp__files__write', description: 'Writes a file.', input_schema: schema('path'), defer_loading: true },
    { name: 'DeferredToolPlaceholder', description: 'Reserved placeholder. Never call this.', input_schema: { type: 'object', properties: {} }, defer_loading: true },
  ];
  const names = (chat: Json): string[] => ((chat.tools ?? []) as Json[]).map((tool) => tool.function.name as string);

  test('before any search, deferred tools and the placeholder are not offered; ToolSearch is', async () => {
    const from = fireworks.requests.length;
    await anthropic.messages.create({ model: MODEL, max_tokens: 64, tools, messages: [{ role: 'user', content: 'Read README.md' }] });
    assert.deepEqual(names(sentSince(from)), ['ToolSearch']);
  });

  for (const stream of [false, true]) {
    test(`a tool_reference in a tool result is answered (${stream ? 'streamed' : 'whole'}): the tool it names is offered from then on, the result says it loaded`, async () => {
      const from = fireworks.requests.length;
      const request: Anthropic.MessageCreateParamsNonStreaming = {
        model: MODEL,
        max_tokens: 64,
        tools,
        messages: [
          { role: 'user', content: 'Read README.md' },
          { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_1', name: 'ToolSearch', input: { query: 'select:mcp__files__read' } }] },
          {
            role: 'user',
            content: [{ type: 'tool_result', tool_use_id: 'toolu_1', content: [{ type: 'tool_reference', tool_name: 'mcp__files__read' }] }],
          },
        ],
      };
      const message = stream ? await anthropic.messages.stream(request).finalMessage() : await anthropic.messages.create(request);
      assert.equal(message.type, 'message');
      const chat = sentSince(from);
      assert.deepEqual(names(chat), ['ToolSearch', 'mcp__files__read']);
      const result = (chat.messages as Json[]).find((m) => m.role === 'tool');
      assert.deepEqual(result, { role: 'tool', tool_call_id: 'toolu_1', content: 'Tool loaded: mcp__files__read' });
    });
  }
});

describe('tool search, the translation', () => {
  const KEPT = { model: MODEL, client: () => '', outputItems: new ItemMemory(), bodyBytes: 0, maxBodyBytes: Infinity, thinking: 'effort' as const };
  const input_schema = { type: 'object' };
  const deferred = [
    { name: 'search', input_schema },
    { name: 'a', input_schema, defer_loading: true },
    { name: 'b', input_schema, defer_loading: true },
  ];
  const translate = (body: Json): Json => anthropicMessages.toChat({ model: MODEL, max_tokens: 16, messages: [{ role: 'user', content: 'hi' }], ...body }, KEPT).chat;
  const names = (chat: Json): string[] | undefined => (chat.tools as Json[] | undefined)?.map((tool) => tool.function.name as string);
  const withResult = (content: unknown[]): Json[] => [
    { role: 'user', content: 'hi' },
    { role: 'assistant', content: [{ type: 'tool_use', id: 't1', name: 'search', input: {} }] },
    { role: 'user', content: [{ type: 'tool_result', tool_use_id: 't1', content }] },
  ];

  test('several references load several tools, in the order of tools; text beside them stays', () => {
    const chat = translate({
      tools: deferred,
      messages: withResult([
        { type: 'text', text: 'Found 2 tools.' },
        { type: 'tool_reference', tool_name: 'b' },
        { type: 'tool_reference', tool_name: 'a' },
      ]),
    });
    assert.deepEqual(names(chat), ['search', 'a', 'b']);
    assert.equal((chat.messages as Json[]).at(-1)!.content, 'Found 2 tools.\n\nTool loaded: b\n\nTool loaded: a');
  });

  test('a tool_choice that names a deferred tool offers it; with every tool deferred, no tools and no tool_choice', () => {
    assert.deepEqual(names(translate({ tools: deferred, tool_choice: { type: 'tool', name: 'b' } })), ['search', 'b']);
    const allDeferred = translate({ tools: deferred.slice(1), tool_choice: { type: 'auto' } });
    assert.equal(allDeferred.tools, undefined);
    assert.equal(allDeferred.tool_choice, undefined);
    assert.throws(() => translate({ tools: deferred, tool_choice: { type: 'tool', name: 'c' } }), /no tool named "c" is in tools/);
  });

  test('defer_loading is read, not reported as dropped; a tool_reference without a tool name is refused', () => {
    assert.deepEqual(anthropicMessages.toChat({ model: MODEL, max_tokens: 16, tools: deferred, messages: withResult([{ type: 'tool_reference', tool_name: 'a' }]) }, KEPT).dropped, []);
    assert.throws(
      () => translate({ tools: deferred, messages: withResult([{ type: 'tool_reference' }]) }),
      (error: unknown) => error instanceof GatewayError && error.status === 400 && error.param === 'messages.2.content.0.content.0.tool_name',
    );
  });
});
