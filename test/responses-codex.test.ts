// What Codex sends with its default features, on providers the gateway translates the Responses API
// for: a `namespace` tool (a group of function tools, called back as a function_call with `name`
// and `namespace`) and OpenAI's built-in `web_search` tool, which no chat provider runs. The
// namespace's functions reach the provider under flat chat names and come back under the client's;
// web_search is left out and named in x-gateway-dropped-params (RESPONSES_HOSTED_TOOLS=drop, the
// default), or refused (refuse). Driven with the `openai` SDK against the simulators, and the name
// mapping and request translation as pure functions.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import OpenAI, { BadRequestError } from 'openai';
import type { ResponseFunctionToolCall, ResponseInputItem, Tool } from 'openai/resources/responses/responses';
import { ANTHROPIC_SIM_API_KEY, startAnthropicSim, type AnthropicSim } from '../sim/anthropic.js';
import { FAMILY_SIM_API_KEY, startOpenAICompatibleSim, type OpenAICompatibleSim } from '../sim/openai-compatible.js';
import { GatewayError } from '../src/errors.js';
import { openAIResponses } from '../src/inbound/openai-responses/index.js';
import { ItemMemory } from '../src/inbound/openai-responses/memory.js';
import { MAX_CHAT_FUNCTION_NAME_CHARS, ToolNames } from '../src/inbound/openai-responses/tool-names.js';
import type { GatewayServer } from '../src/server.js';
import { collectLines, startGateway } from './helpers.js';

const CHAT_NAME = /^[a-zA-Z0-9_-]{1,64}$/;

/** Codex's multi-agent tools as it sends them: a namespace of function tools. */
const MULTI_AGENT = {
  type: 'namespace',
  name: 'multi_agent_v1',
  description: 'Spawn and coordinate sub-agents.',
  tools: [
    {
      type: 'function',
      name: 'spawn_agent',
      description: 'Start a sub-agent on a task.',
      strict: false,
      parameters: { type: 'object', properties: { task: { type: 'string' } }, required: ['task'], additionalProperties: false },
    },
    {
      type: 'function',
      name: 'wait',
      description: 'Wait for sub-agents to finish.',
      strict: false,
      parameters: { type: 'object', properties: { ids: { type: 'array', items: { type: 'string' } } }, required: ['ids'], additionalProperties: false },
    },
  ],
} as unknown as Tool;
const WEB_SEARCH = { type: 'web_search', external_web_access: false } as unknown as Tool;
const SHELL: Tool = {
  type: 'function',
  name: 'shell',
  description: 'Run a command.',
  strict: false,
  parameters: { type: 'object', properties: { command: { type: 'array', items: { type: 'string' } } }, required: ['command'], additionalProperties: false },
};
/** As Codex orders them: the namespace first, so that the simulator (which calls the first tool) calls into it. */
const CODEX_TOOLS: Tool[] = [MULTI_AGENT, SHELL, WEB_SEARCH];

describe('flat chat names for namespaced functions', () => {
  test('<namespace>__<name> when valid and free; mapped back to the name and namespace', () => {
    const names = new ToolNames();
    names.reserve('shell');
    const flat = names.flatten('multi_agent_v1', 'spawn_agent');
    assert.equal(flat, 'multi_agent_v1__spawn_agent');
    assert.deepEqual(names.unflatten(flat), { name: 'spawn_agent', namespace: 'multi_agent_v1' });
    assert.deepEqual(names.unflatten('shell'), { name: 'shell', namespace: undefined });
    assert.deepEqual(names.unflatten('made_up'), { name: 'made_up', namespace: undefined });
    assert.equal(names.flatten('multi_agent_v1', 'spawn_agent'), flat, 'the same pair, the same name');
  });

  test('names too long or with characters chat refuses get a valid name of at most 64 characters, unique per pair', () => {
    const names = new ToolNames();
    const longNamespace = 'n'.repeat(50);
    const pairs: [string, string][] = [
      [longNamespace, 'x'.repeat(40) + 'a'],
      [longNamespace, 'x'.repeat(40) + 'b'],
      ['mcp.server/github', 'create_issue'],
      ['mcp_server_github', 'create.issue'],
      ['ünïcode', 'tool'],
      ['a'.repeat(200), 'b'.repeat(200)],
    ];
    const flats = pairs.map(([namespace, name]) => names.flatten(namespace, name));
    for (const flat of flats) {
      assert.match(flat, CHAT_NAME);
      assert.ok(flat.length <= MAX_CHAT_FUNCTION_NAME_CHARS);
    }
    assert.equal(new Set(flats).size, flats.length, flats.join(', '));
    pairs.forEach(([namespace, name], i) => assert.deepEqual(names.unflatten(flats[i]!), { name, namespace }));
    // Another request with the same tools names them alike: a call sent back in history maps to its tool.
    const again = new ToolNames();
    assert.deepEqual(pairs.map(([namespace, name]) => again.flatten(namespace, name)), flats);
  });

  test('a joined name another tool has already is not reused', () => {
    const names = new ToolNames();
    names.reserve('crm__lookup');
    const flat = names.flatten('crm', 'lookup');
    assert.notEqual(flat, 'crm__lookup');
    assert.match(flat, CHAT_NAME);
    assert.deepEqual(names.unflatten(flat), { name: 'lookup', namespace: 'crm' });
    assert.deepEqual(names.unflatten('crm__lookup'), { name: 'crm__lookup', namespace: undefined });
    // Two pairs whose joined names are equal ('a__b' + '__c' and 'a' + '__b__c').
    const first = names.flatten('a__b', 'c');
    const second = names.flatten('a', 'b__c');
    assert.notEqual(first, second);
    assert.deepEqual(names.unflatten(first), { name: 'c', namespace: 'a__b' });
    assert.deepEqual(names.unflatten(second), { name: 'b__c', namespace: 'a' });
  });
});

describe('a Codex-shaped request as a chat request', () => {
  const KEPT = { outputItems: new ItemMemory(), bodyBytes: 0, maxBodyBytes: Infinity, thinking: 'effort' } as const;
  const translate = (body: Record<string, unknown>, hostedTools?: 'drop' | 'refuse') =>
    openAIResponses.toChat({ model: 'm', ...body }, { model: 'm', client: () => '', ...KEPT, hostedTools });

  test("a namespace's functions are flat chat functions; web_search is left out and named", () => {
    const translation = translate({ input: 'hi', tools: CODEX_TOOLS });
    const tools = translation.chat.tools as { function: { name: string; description?: string } }[];
    assert.deepEqual(tools.map((tool) => tool.function.name), ['multi_agent_v1__spawn_agent', 'multi_agent_v1__wait', 'shell']);
    assert.equal(tools[0]!.function.description, 'Start a sub-agent on a task.');
    assert.deepEqual(translation.refused, ['tools[web_search]']);
    assert.ok(translation.dropped.includes('tools[web_search]'), 'in the debug log too');
  });

  test('a function_call sent back with its namespace is a tool call under the flat name', () => {
    const translation = translate({
      tools: CODEX_TOOLS,
      input: [
        { role: 'user', content: 'Split the work.' },
        { type: 'function_call', call_id: 'call_1', name: 'spawn_agent', namespace: 'multi_agent_v1', arguments: '{"task":"a"}' },
        { type: 'function_call_output', call_id: 'call_1', output: 'agent-1' },
      ],
    });
    const messages = translation.chat.messages as Record<string, any>[];
    assert.equal(messages[1]!.tool_calls[0].function.name, 'multi_agent_v1__spawn_agent');
  });

  test('tool_choice names a namespaced function by namespace and name, <namespace>.<name>, or its own name alone', () => {
    const chosen = { type: 'function', function: { name: 'multi_agent_v1__wait' } };
    assert.deepEqual(translate({ input: 'x', tools: CODEX_TOOLS, tool_choice: { type: 'function', name: 'wait', namespace: 'multi_agent_v1' } }).chat.tool_choice, chosen);
    assert.deepEqual(translate({ input: 'x', tools: CODEX_TOOLS, tool_choice: { type: 'function', name: 'multi_agent_v1.wait' } }).chat.tool_choice, chosen);
    assert.deepEqual(translate({ input: 'x', tools: CODEX_TOOLS, tool_choice: { type: 'function', name: 'wait' } }).chat.tool_choice, chosen);
    assert.deepEqual(translate({ input: 'x', tools: CODEX_TOOLS, tool_choice: { type: 'function', name: 'shell' } }).chat.tool_choice, { type: 'function', function: { name: 'shell' } });
    const allowed = translate({ input: 'x', tools: CODEX_TOOLS, tool_choice: { type: 'allowed_tools', mode: 'required', tools: [{ type: 'function', name: 'multi_agent_v1.spawn_agent' }, { type: 'web_search' }] } });
    assert.deepEqual((allowed.chat.tools as { function: { name: string } }[]).map((tool) => tool.function.name), ['multi_agent_v1__spawn_agent']);
    const wholeNamespace = translate({ input: 'x', tools: CODEX_TOOLS, tool_choice: { type: 'allowed_tools', mode: 'auto', tools: [{ type: 'namespace', name: 'multi_agent_v1' }] } });
    assert.deepEqual((wholeNamespace.chat.tools as { function: { name: string } }[]).map((tool) => tool.function.name), ['multi_agent_v1__spawn_agent', 'multi_agent_v1__wait']);
    assert.throws(() => translate({ input: 'x', tools: CODEX_TOOLS, tool_choice: { type: 'function', name: 'other.wait' } }), /not among tools/);
    // Its tool left out, a built-in tool choice is too: the model chooses among the rest.
    const hosted = translate({ input: 'x', tools: CODEX_TOOLS, tool_choice: { type: 'web_search' } });
    assert.equal(hosted.chat.tool_choice, undefined);
    assert.deepEqual(hosted.refused, ['tools[web_search]', 'tool_choice']);
  });

  test('RESPONSES_HOSTED_TOOLS=refuse: a built-in tool is a 400 naming it; a custom tool is a 400 whatever the setting', () => {
    const refusal = (body: Record<string, unknown>, hostedTools: 'drop' | 'refuse', param: string, pattern: RegExp) =>
      assert.throws(
        () => translate(body, hostedTools),
        (error: unknown) => error instanceof GatewayError && error.status === 400 && error.param === param && pattern.test(error.message),
      );
    refusal({ input: 'x', tools: CODEX_TOOLS }, 'refuse', 'tools[2].type', /"web_search" tool.*RESPONSES_HOSTED_TOOLS=refuse/);
    refusal({ input: 'x', tools: [{ type: 'custom', name: 'apply_patch' }] }, 'drop', 'tools[0].type', /custom tool/);
    refusal({ input: 'x', tools: [{ type: 'namespace', name: 'ns', tools: [{ type: 'custom', name: 'c' }] }] }, 'drop', 'tools[0].tools[0].type', /custom tool/);
    // A type no built-in tool has is not quietly dropped.
    refusal({ input: 'x', tools: [{ type: 'Web Search\n' }] }, 'drop', 'tools[0].type', /chat completions/);
  });
});

describe('Codex with its default tools, through the gateway, with the openai SDK', () => {
  let deepseek: OpenAICompatibleSim;
  let anthropic: AnthropicSim;
  let gateway: GatewayServer;
  let refusing: GatewayServer;
  let baseURL: string;
  let refusingURL: string;
  const logLines: string[] = [];

  before(async () => {
    deepseek = await startOpenAICompatibleSim({ flavour: 'deepseek', port: 0 });
    anthropic = await startAnthropicSim({ port: 0 });
    const env = { DEEPSEEK_BASE_URL: deepseek.url, DEEPSEEK_API_KEY: FAMILY_SIM_API_KEY, ANTHROPIC_BASE_URL: anthropic.url, ANTHROPIC_API_KEY: ANTHROPIC_SIM_API_KEY };
    ({ server: gateway, url: baseURL } = await startGateway({ ...env, LOG_LEVEL: 'debug' }, collectLines(logLines)));
    ({ server: refusing, url: refusingURL } = await startGateway({ ...env, RESPONSES_HOSTED_TOOLS: 'refuse' }));
  });
  after(async () => {
    await gateway.shutdown(0);
    await refusing.shutdown(0);
    await Promise.all([deepseek.close(), anthropic.close()]);
  });

  const client = (provider: string, url = baseURL) => new OpenAI({ baseURL: url, apiKey: 'use-server-key', defaultHeaders: { 'x-provider': provider }, maxRetries: 0 });

  for (const backend of [{ provider: 'deepseek', model: 'deepseek-chat' }, { provider: 'anthropic', model: 'claude-haiku-4-5' }]) {
    test(`${backend.provider}: the namespaced call comes back with its name and namespace; web_search is named in x-gateway-dropped-params`, async () => {
      const request = { model: backend.model, input: 'Split the work between two agents.', tools: CODEX_TOOLS, tool_choice: 'required', max_output_tokens: 256 } as const;
      const { data: created, response } = await client(backend.provider).responses.create(request).withResponse();
      assert.equal(response.headers.get('x-gateway-dropped-params'), 'tools[web_search]');
      const call = created.output.find((item): item is ResponseFunctionToolCall => item.type === 'function_call');
      assert.ok(call, JSON.stringify(created.output));
      assert.equal(call.name, 'spawn_agent');
      assert.equal(call.namespace, 'multi_agent_v1');
      assert.equal(typeof JSON.parse(call.arguments).task, 'string');
      assert.ok(
        logLines.some((line) => line.includes('request fields not translated') && line.includes('tools[web_search]')),
        'the debug log names the dropped tool',
      );

      const streamed = await client(backend.provider).responses.create({ ...request, stream: true }).withResponse();
      assert.equal(streamed.response.headers.get('x-gateway-dropped-params'), 'tools[web_search]');
      const added: Record<string, unknown>[] = [];
      const done: Record<string, unknown>[] = [];
      let completed: ResponseFunctionToolCall | undefined;
      for await (const event of streamed.data) {
        if (event.type === 'response.output_item.added' && event.item.type === 'function_call') added.push(event.item as never);
        if (event.type === 'response.output_item.done' && event.item.type === 'function_call') done.push(event.item as never);
        if (event.type === 'response.completed') completed = event.response.output.find((item): item is ResponseFunctionToolCall => item.type === 'function_call');
      }
      for (const item of [...added, ...done, completed]) {
        assert.equal(item?.name, 'spawn_agent', JSON.stringify(item));
        assert.equal(item?.namespace, 'multi_agent_v1');
      }

      // Codex sends the call back with its namespace, and the tool's output: the provider sees its flat name.
      const input: ResponseInputItem[] = [
        { role: 'user', content: 'Split the work between two agents.' },
        { type: 'function_call', call_id: call.call_id, name: call.name, namespace: call.namespace, arguments: call.arguments } as ResponseInputItem,
        { type: 'function_call_output', call_id: call.call_id, output: 'agent-1 started' },
      ];
      const second = await client(backend.provider).responses.create({ model: backend.model, input, tools: CODEX_TOOLS, max_output_tokens: 256 });
      assert.equal(second.status, 'completed');
      assert.ok(second.output_text.length > 0);
      if (backend.provider === 'deepseek') {
        const sent = deepseek.requests.at(-1)!.json as Record<string, any>;
        assert.equal(sent.messages[1].tool_calls[0].function.name, 'multi_agent_v1__spawn_agent');
        assert.deepEqual(sent.tools.map((tool: { function: { name: string } }) => tool.function.name), ['multi_agent_v1__spawn_agent', 'multi_agent_v1__wait', 'shell']);
      }
    });
  }

  test('RESPONSES_HOSTED_TOOLS=refuse: the SDK gets a 400 naming web_search', async () => {
    const refused = await client('deepseek', refusingURL)
      .responses.create({ model: 'deepseek-chat', input: 'hi', tools: CODEX_TOOLS })
      .catch((error: unknown) => error);
    assert.ok(refused instanceof BadRequestError, String(refused));
    assert.equal(refused.param, 'tools[2].type');
    assert.match(refused.message, /web_search/);
  });
});
