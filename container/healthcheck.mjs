// The image's HEALTHCHECK: node itself, as slim images have no curl. Healthy when /health answers
// 200; a draining gateway answers 503, so a stopping container is no longer sent traffic.
const TIMEOUT_MS = 2000;
const port = process.env.PORT || '3000';
try {
  const response = await fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(TIMEOUT_MS) });
  process.exitCode = response.status === 200 ? 0 : 1;
} catch {
  process.exitCode = 1;
}
