// Bundles the dashboard's page (src/admin/dashboard/ui/) with esbuild into dist/ui/: the assets
// under hashed names (a browser may keep them for ever), their gzip forms, index.html naming them,
// and manifest.json, which the gateway reads once at start-up. No CDN: everything the page needs is here.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const source = join(root, 'src/admin/dashboard/ui');
const out = join(root, 'dist/ui');
rmSync(out, { recursive: true, force: true });
mkdirSync(join(out, 'assets'), { recursive: true });

const result = await build({
  entryPoints: { app: join(source, 'app.js') },
  bundle: true,
  minify: true,
  format: 'esm',
  target: ['es2020'],
  entryNames: '[name]-[hash]',
  outdir: join(out, 'assets'),
  metafile: true,
  legalComments: 'eof',
  logLevel: 'warning',
});

const assets = Object.keys(result.metafile.outputs).map((path) => basename(path));
const script = assets.find((name) => name.endsWith('.js'));
const style = assets.find((name) => name.endsWith('.css'));
const page = readFileSync(join(source, 'index.html'), 'utf8')
  .replace('%SCRIPT%', `/ui/assets/${script}`)
  .replace('%STYLE%', `/ui/assets/${style}`);
writeFileSync(join(out, 'index.html'), page);
for (const name of [...assets.map((asset) => join('assets', asset)), 'index.html']) {
  writeFileSync(join(out, `${name}.gz`), gzipSync(readFileSync(join(out, name)), { level: 9 }));
}
writeFileSync(join(out, 'manifest.json'), `${JSON.stringify({ page: 'index.html', assets }, null, 2)}\n`);
