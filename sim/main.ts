/**
 * `npm run sim`: the Fireworks simulator as a standalone server, for working offline.
 * HOST (default 127.0.0.1) and PORT (default 3001) choose where it listens.
 */
import { SIM_API_KEY, startFireworksSim } from './fireworks.js';

const host = process.env.HOST || '127.0.0.1';
const port = Number(process.env.PORT || 3001);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`PORT must be an integer between 0 and 65535, got ${JSON.stringify(process.env.PORT)}`);
  process.exit(1);
}

// A long-running server keeps no request log, or memory would grow without bound.
const sim = await startFireworksSim({ host, port, record: false }).catch((err: Error) => {
  console.error(`Fireworks simulator could not listen on ${host}:${port}: ${err.message}`);
  process.exit(1);
});

console.log(`Fireworks simulator listening on ${sim.url}`);
console.log(`Point the gateway at it: FIREWORKS_BASE_URL=${sim.url} FIREWORKS_API_KEY=${SIM_API_KEY} npm start`);

let stopping = false;
function stop(signal: NodeJS.Signals): void {
  if (stopping) return;
  stopping = true;
  console.log(`${signal}: closing the Fireworks simulator`);
  sim.close().then(() => process.exit(0), () => process.exit(1));
}
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
