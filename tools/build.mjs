#!/usr/bin/env node
// Compiles apps/ and libs/ to dist/ with SWC (decorator metadata, tsconfig paths rewritten to relative requires),
// so services can run as plain JavaScript: no compiler in the process, less memory, faster start.
import { transformFile } from '@swc/core';
import { copyFileSync, globSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const out = join(root, 'dist');
const tsconfig = JSON.parse((await import('node:fs')).readFileSync(join(root, 'tsconfig.base.json'), 'utf8'));
const files = globSync(['apps/*/src/**/*.ts', 'libs/*/src/**/*.ts'], { cwd: root }).filter(
  (f) => !f.endsWith('.spec.ts'),
);
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
}
// Files read at run time relative to the sources.
copyFileSync(join(root, 'package.json'), join(out, 'package.json'));
console.log(`compiled ${files.length} files to dist/`);
