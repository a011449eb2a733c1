/**
 * `npm run sim`: the simulators as standalone servers, for working offline.
 * SIM_HOST (default 127.0.0.1) and SIM_PORT (default 3001) choose where the Fireworks simulator
 * listens (not HOST and PORT, which are the gateway's: one shell may start both);
 * ANTHROPIC_SIM_PORT (default 3002) the Anthropic one's; FAMILY_PORT (default 3003) and
 * SIM_FLAVOUR (default openai) the OpenAI-compatible family's; BEDROCK_SIM_PORT (default 3004)
 * the Bedrock one's. SIM_DEFAULT_FAULT (a JSON object, e.g. `{"parallel_tools":true}`) is the fault
 * of every request that carries none, on every simulator (sim/control.ts); `POST /__sim/next` on
 * one simulator sets the fault of its next requests.
 */
import { ANTHROPIC_SIM_API_KEY, startAnthropicSim } from './anthropic.js';
import { BEDROCK_SIM_ACCESS_KEY_ID, BEDROCK_SIM_SECRET_ACCESS_KEY, startBedrockSim } from './bedrock.js';
import { SIM_API_KEY, startFireworksSim } from './fireworks.js';
import { SIM_FLAVOURS, simApiKey, startOpenAICompatibleSim } from './openai-compatible.js';

const host = process.env.SIM_HOST || '127.0.0.1';

function portOf(name: string, fallback: number): number {
  const port = Number(process.env[name] || fallback);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`${name} must be an integer between 0 and 65535, got ${JSON.stringify(process.env[name])}`);
    process.exit(1);
  }
  return port;
}

const port = portOf('SIM_PORT', 3001);
if (process.env.PORT && !process.env.SIM_PORT) {
  console.log(`PORT=${process.env.PORT} is the gateway's setting; the Fireworks simulator reads SIM_PORT (default 3001)`);
}
const anthropicPort = portOf('ANTHROPIC_SIM_PORT', 3002);
const familyPort = portOf('FAMILY_PORT', 3003);
const bedrockPort = portOf('BEDROCK_SIM_PORT', 3004);
const flavour = (process.env.SIM_FLAVOUR || 'openai').toLowerCase();

function defaultFaultOf(name: string): object | undefined {
  const raw = process.env[name];
  if (!raw) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    value = undefined;
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    console.error(`${name} must be a JSON object such as {"status":529}, got ${JSON.stringify(raw)}`);
    process.exit(1);
  }
  return value;
}
const defaultFault = defaultFaultOf('SIM_DEFAULT_FAULT');
if (SIM_FLAVOURS[flavour] === undefined) {
  console.error(`SIM_FLAVOUR must be one of ${Object.keys(SIM_FLAVOURS).join(', ')}, got ${JSON.stringify(process.env.SIM_FLAVOUR)}`);
  process.exit(1);
}

// A long-running server keeps no request log, or memory would grow without bound.
const sim = await startFireworksSim({ host, port, record: false, defaultFault }).catch((err: Error) => {
  console.error(`Fireworks simulator could not listen on ${host}:${port}: ${err.message}`);
  process.exit(1);
});
const anthropic = await startAnthropicSim({ host, port: anthropicPort, record: false, defaultFault }).catch((err: Error) => {
  console.error(`Anthropic simulator could not listen on ${host}:${anthropicPort}: ${err.message}`);
  process.exit(1);
});
const family = await startOpenAICompatibleSim({ flavour, host, port: familyPort, record: false, defaultFault }).catch((err: Error) => {
  console.error(`OpenAI-compatible simulator (${flavour}) could not listen on ${host}:${familyPort}: ${err.message}`);
  process.exit(1);
});

const bedrock = await startBedrockSim({ host, port: bedrockPort, record: false, defaultFault }).catch((err: Error) => {
  console.error(`Bedrock simulator could not listen on ${host}:${bedrockPort}: ${err.message}`);
  process.exit(1);
});

console.log(`Fireworks simulator listening on ${sim.url}`);
console.log(`Point the gateway at it: FIREWORKS_BASE_URL=${sim.url} FIREWORKS_API_KEY=${SIM_API_KEY} npm start`);
console.log(`Anthropic simulator listening on ${anthropic.url} (routes under /v1)`);
console.log(`Point the gateway at it: ANTHROPIC_BASE_URL=${anthropic.url} ANTHROPIC_API_KEY=${ANTHROPIC_SIM_API_KEY} npm start`);
const upper = flavour.toUpperCase();
console.log(`OpenAI-compatible simulator (${flavour}) listening on ${family.url}`);
console.log(`Point the gateway at it: ${upper}_BASE_URL=${family.url} ${upper}_API_KEY=${simApiKey(flavour)} npm start`);

console.log(`Bedrock simulator listening on ${bedrock.url} (Converse and ConverseStream)`);
if (defaultFault !== undefined) console.log(`Every request without a fault of its own gets SIM_DEFAULT_FAULT=${JSON.stringify(defaultFault)}`);
console.log(`Point the gateway at it: BEDROCK_BASE_URL=${bedrock.url} AWS_ACCESS_KEY_ID=${BEDROCK_SIM_ACCESS_KEY_ID} AWS_SECRET_ACCESS_KEY=${BEDROCK_SIM_SECRET_ACCESS_KEY} npm start`);

let stopping = false;
function stop(signal: NodeJS.Signals): void {
  if (stopping) return;
  stopping = true;
  console.log(`${signal}: closing the simulators`);
  Promise.all([sim.close(), anthropic.close(), family.close(), bedrock.close()]).then(() => process.exit(0), () => process.exit(1));
}
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
