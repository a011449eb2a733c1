import { startFireworksSim } from '/work/main/dist/sim/fireworks.js';
import { startGateway } from '/work/main/dist/test/helpers.js';
import { request } from 'undici';
const fw = await startFireworksSim({ port: 0 });
const { startOpenAICompatibleSim } = await import('/work/main/dist/sim/openai-compatible.js'); const g = await startOpenAICompatibleSim({ flavour: 'groq', port: 0 }); const { server, url } = await startGateway({ GROQ_BASE_URL: g.url, GROQ_API_KEY: 'k', FIREWORKS_BASE_URL: fw.url, FIREWORKS_API_KEY: 'fw_test_key_0123456789', METRICS_MAX_MODELS: '5' });
for (let i = 0; i < 8; i++) { const r = await request(`${url}/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-provider': 'groq' }, body: JSON.stringify({ model: `flood-${i}`, messages: [{ role: 'user', content: 'hi' }] }) }); console.log(r.statusCode, (await r.body.text()).slice(0, 100)); }
const m = await (await request(url.slice(0, -3) + '/metrics')).body.text();
console.log(m.split('\n').filter((l) => l.startsWith('gateway_requests_total') || l.startsWith('gateway_model')).join('\n'));
await server.shutdown(10); await fw.close();
