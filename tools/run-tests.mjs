#!/usr/bin/env node
// Runs one project's *.spec.ts files with Node's test runner (TypeScript through @swc-node/register)
// and leaves a pass/fail count in tmp/test-results/ for tools/test-all.mjs to total.
import { spawnSync } from 'node:child_process';
import { mkdirSync, globSync } from 'node:fs';
import { join, resolve } from 'node:path';

const root = process.argv[2];
if (!root) {
  console.error('usage: node tools/run-tests.mjs <project-root>');
  process.exit(2);
}
const files = globSync(join(root, '**/*.spec.ts'), { exclude: (p) => p.includes('node_modules') }).sort();
if (files.length === 0) {
  console.log(`${root}: no spec files`);
  process.exit(0);
}
const resultsDir = resolve('tmp/test-results');
mkdirSync(resultsDir, { recursive: true });
const summary = join(resultsDir, `${root.replaceAll('/', '_')}.json`);
const result = spawnSync(
  process.execPath,
  [
    '--require',
    resolve('tools/register.js'),
    '--enable-source-maps',
    '--test',
    '--test-timeout=600000',
    '--test-reporter=spec',
    '--test-reporter-destination=stdout',
    '--test-reporter=./tools/summary-reporter.mjs',
    `--test-reporter-destination=${summary}`,
    ...files,
  ],
  { stdio: 'inherit', env: process.env },
);
process.exit(result.status ?? 1);
