#!/usr/bin/env node
// Compiles apps/ and libs/ to dist/ with SWC (decorator metadata, tsconfig paths rewritten to relative requires),
// so services can run as plain JavaScript: no compiler in the process, less memory, faster start.
// Test support stays out: projects tagged type:testing, specs, fixtures and spec helpers are not compiled, and a
// production file that requires one of them fails the build.
import { transformFile } from '@swc/core';
import { copyFileSync, globSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const out = join(root, 'dist');
const tsconfig = JSON.parse(readFileSync(join(root, 'tsconfig.base.json'), 'utf8'));

/** Project roots (apps/x, libs/x) whose project.json tags them type:testing. */
const testingRoots = globSync(['apps/*/project.json', 'libs/*/project.json'], { cwd: root })
  .filter((p) => (JSON.parse(readFileSync(join(root, p), 'utf8')).tags ?? []).includes('type:testing'))
  .map((p) => dirname(p));

/** Specs and the files only specs use: `fixtures/` directories, `spec-support.ts`, `*-fake.ts`. */
const isSpecSupport = (file) =>
  file.endsWith('.spec.ts') ||
  /(^|\/)fixtures\//.test(file) ||
  /(^|\/)spec-support\.ts$/.test(file) ||
  /-fake\.ts$/.test(file);

const files = globSync(['apps/*/src/**/*.ts', 'libs/*/src/**/*.ts'], { cwd: root }).filter(
  (f) => !isSpecSupport(f) && !testingRoots.some((r) => f.startsWith(`${r}/`)),
);
const compiled = new Set();
for (const file of files) {
  const { code } = await transformFile(join(root, file), {
    filename: file,
    sourceMaps: false,
    module: { type: 'commonjs' },
    jsc: {
      target: 'es2023',
      baseUrl: root,
      paths: tsconfig.compilerOptions.paths,
      parser: { syntax: 'typescript', decorators: true },
      transform: { legacyDecorator: true, decoratorMetadata: true },
      keepClassNames: true,
    },
  });
  const target = join(out, file.replace(/\.ts$/, '.js'));
  mkdirSync(dirname(target), { recursive: true });
  writeFileSync(target, code);
  compiled.add(target);
}
// Every relative require of a compiled file resolves to another compiled file (not to skipped test support).
const missing = [];
for (const target of compiled) {
  for (const [, spec] of readFileSync(target, 'utf8').matchAll(/require\("(\.{1,2}\/[^"]*)"\)/g)) {
    const base = resolve(dirname(target), spec);
    const found = [base, `${base}.js`, join(base, 'index.js')].some((c) => compiled.has(c));
    if (!found) missing.push(`${relative(out, target)} requires ${spec}`);
  }
}
if (missing.length > 0) {
  console.error(
    `build: production code requires files that are not built (test support?):\n  ${missing.join('\n  ')}`,
  );
  process.exit(1);
}
// Compiled files whose source is gone or now skipped (test support from an earlier build) are removed; the rest
// are left in place, since services started by running tests may be reading them.
for (const stale of globSync(['apps/*/src/**/*.js', 'libs/*/src/**/*.js'], { cwd: out }))
  if (!compiled.has(join(out, stale))) rmSync(join(out, stale));
// Files read at run time relative to the sources.
copyFileSync(join(root, 'package.json'), join(out, 'package.json'));
console.log(
  `compiled ${files.length} files to dist/ (skipped type:testing projects: ${testingRoots.join(', ')})`,
);
