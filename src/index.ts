// The gateway as a library: createGatewayServer(config, logger) serves it over HTTP in-process.
export { loadConfig, ConfigError, settingNames, type Config } from './config.js';
export { createLogger, type Logger } from './logger.js';
export { createGatewayServer, type GatewayServer } from './server.js';
export { startTelemetry, type Telemetry } from './observe/telemetry.js';
export { Gateway, type Provider, type Exchange } from './gateway.js';
export { GatewayError, normaliseProviderError, type OpenAIErrorBody } from './errors.js';
export { providerSpecs, type ProviderSpec } from './providers/index.js';
