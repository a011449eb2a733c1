// Builds another commit of the gateway for the bench to run beside the current build
// (BENCH_BASELINE=<commit>[,<commit>...]), so that a change's cost shows in one run, side by side.
// Each commit's tree is exported with `git archive` into a folder under the system's temporary
// directory, keyed by its full hash (a later run reuses the build), and compiled with the project's
// TypeScript. It uses the current node_modules when that holds its runtime dependencies at their
// versions (its tests may not type-check, which does not matter here), and otherwise installs its
// own from npm's cache (`npm ci --offline`).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const git = (root, ...args) => execFileSync('git', args, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();

/** The path of `ref`'s dist/src/main.js, built if it is not yet; `ref` is anything git can resolve. */
export function buildBaseline(root, ref) {
  const commit = git(root, 'rev-parse', '--verify', `${ref}^{commit}`);
  const folder = join(tmpdir(), 'ai-gateway-bench', commit);
  const main = join(folder, 'dist/src/main.js');
  const done = join(folder, '.built');
  if (existsSync(done)) return { commit, main };

  process.stderr.write(`building ${ref} (${commit.slice(0, 9)}) in ${folder} ... `);
  rmSync(folder, { recursive: true, force: true });
  mkdirSync(folder, { recursive: true });
  const archive = execFileSync('git', ['archive', '--format=tar', commit], { cwd: root, maxBuffer: 1 << 30 });
  execFileSync('tar', ['-x', '-C', folder], { input: archive });

  if (hasItsDependencies(root, folder)) symlinkSync(realpathSync(join(root, 'node_modules')), join(folder, 'node_modules'));
  else execFileSync('npm', ['ci', '--offline', '--ignore-scripts', '--no-audit', '--no-fund'], { cwd: folder, stdio: ['ignore', 2, 2] });

  // A type error in an old commit's tests still leaves its JavaScript emitted; only main.js matters.
  try {
    execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'], { cwd: folder, stdio: 'pipe' });
  } catch (error) {
    if (!existsSync(main)) throw new Error(`${ref} did not build:\n${error.stdout ?? ''}${error.stderr ?? ''}`);
  }
  writeFileSync(done, `${new Date().toISOString()}\n`);
  process.stderr.write('done\n');
  return { commit, main };
}

/** Whether the current node_modules holds every runtime dependency of the build in `folder`, at its version. */
function hasItsDependencies(root, folder) {
  const { dependencies = {} } = JSON.parse(readFileSync(join(folder, 'package.json'), 'utf8'));
  return Object.entries(dependencies).every(([name, version]) => {
    const installed = join(root, 'node_modules', name, 'package.json');
    return existsSync(installed) && JSON.parse(readFileSync(installed, 'utf8')).version === version;
  });
}
