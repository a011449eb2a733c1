// Start-up: config, logger, server, signals; nothing else.
import { ConfigError, loadConfig, type Config } from './config.js';
import { createLogger } from './logger.js';
import { createGatewayServer } from './server.js';
import { VERSION } from './version.js';

let config: Config;
try {
  config = loadConfig();
} catch (err) {
  if (err instanceof ConfigError) {
    process.stderr.write(`ai-gateway: invalid configuration: ${err.message}\n`);
    process.exit(1);
  }
  throw err;
}

const logger = createLogger(config.LOG_LEVEL);
const gateway = createGatewayServer(config, logger);

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);
const serverKeys = Object.entries(config.providers).filter(([, p]) => p.apiKey).map(([name]) => name);
if (!LOOPBACK.has(config.HOST) && serverKeys.length > 0) {
  logger.warn(
    { host: config.HOST, providersWithServerKey: serverKeys },
    'listening beyond loopback while a server-side API key is set: anyone who can reach this port can spend that key',
  );
}

try {
  const address = await gateway.listen();
  logger.info(
    { version: VERSION, host: address.address, port: address.port, defaultProvider: config.DEFAULT_PROVIDER },
    `ai-gateway listening on http://${address.address}:${address.port}`,
  );
  logger.flush();
} catch (err) {
  logger.fatal({ err: (err as Error).message }, 'could not listen');
  process.exit(1);
}

let stopping = false;
const stop = (signal: NodeJS.Signals) => {
  if (stopping) return;
  stopping = true;
  logger.info({ signal, graceMs: config.SHUTDOWN_GRACE_MS }, 'shutting down: finishing in-flight requests');
  gateway.shutdown().then(
    () => {
      logger.info('stopped');
      logger.flush();
      process.exit(0);
    },
    (err: unknown) => {
      logger.error({ err: String(err) }, 'shutdown failed');
      process.exit(1);
    },
  );
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
