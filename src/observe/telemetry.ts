// What the request path knows of OpenTelemetry: two small interfaces and the switch that loads it.
// The SDK lives in otel.ts and is imported only when an OTLP endpoint is configured, so a gateway
// without one loads no @opentelemetry module and its request path pays one `undefined` check.
import type { AttemptName } from '../attempt.js';
import type { Config } from '../config.js';
import type { Exchange, Provider } from '../exchange.js';
import type { Logger } from '../logger.js';
import type { AttemptRecord, ModelLabels, RequestRecord } from './records.js';

/** A request's server span, kept on its Exchange (`trace`) once its first attempt starts. */
export interface RequestTrace {
  /** Whether its spans are recorded (the trace sampled); a trace not recorded costs the SDK nothing. */
  readonly recorded: boolean;
}

/** One attempt's client span, from its dispatch to its end. */
export interface AttemptTrace {
  /** Whether its span is recorded (sampled): only then is the answer read for its id, model and finish reasons. */
  readonly recording: boolean;
  /** The headers that carry the span's context to the provider (`traceparent`, `tracestate`), [name, value, ...]. */
  readonly headers: readonly string[];
  /** Ends the span from the attempt's record (undefined: none was made, the client left first). */
  end(ex: Exchange, record: AttemptRecord | undefined): void;
}

export interface Telemetry {
  /** A whole answer up to this many bytes is kept for its content to be captured (0: content capture is off). */
  readonly keepAnswerBytes: number;
  /** Which model names its metrics' attributes may carry (shared with the Prometheus metrics when they are on). */
  useModelLabels(models: ModelLabels): void;
  /** Starts an attempt's client span (and the request's server span with the first attempt). */
  attemptStarted(ex: Exchange, name: AttemptName, provider: Provider, origin: string): AttemptTrace;
  /** Ends the request's server span (made now for a request that reached no attempt) and records its metrics. */
  requestEnded(ex: Exchange, record: RequestRecord, secrets: readonly string[]): void;
  /** Sends what is pending and stops the exporters. */
  shutdown(): Promise<void>;
}

/** Whether any OTLP endpoint is configured: otherwise OpenTelemetry stays unloaded. */
export function telemetryConfigured(config: Config): boolean {
  return (
    config.OTEL_EXPORTER_OTLP_ENDPOINT !== undefined ||
    config.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT !== undefined ||
    config.OTEL_EXPORTER_OTLP_METRICS_ENDPOINT !== undefined
  );
}

/** The telemetry an OTLP endpoint asks for, its SDK imported now; undefined (and nothing loaded) without one. */
export async function startTelemetry(config: Config, logger: Logger): Promise<Telemetry | undefined> {
  if (!telemetryConfigured(config)) return undefined;
  const { createTelemetry } = await import('./otel.js');
  return createTelemetry(config, logger);
}
