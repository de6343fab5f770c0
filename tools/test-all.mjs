#!/usr/bin/env node
// The README's test command: formatting, lint, typecheck and every project's tests, then one closing count.
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';

const resultsDir = 'tmp/test-results';
rmSync(resultsDir, { recursive: true, force: true });

const run = (cmd, args) => spawnSync(cmd, args, { stdio: 'inherit', env: process.env }).status ?? 1;
const nx = join('node_modules', '.bin', 'nx');
let failedSteps = 0;
failedSteps +=
  run(join('node_modules', '.bin', 'prettier'), ['--check', '--log-level', 'warn', '.']) === 0 ? 0 : 1;
failedSteps += run(nx, ['run-many', '-t', 'lint', 'typecheck', '--output-style=stream']) === 0 ? 0 : 1;
// Tests share one PostgreSQL, Redis and machine: projects run one at a time.
failedSteps += run(nx, ['run-many', '-t', 'test', '--parallel=1', '--output-style=stream']) === 0 ? 0 : 1;

const totals = { passed: 0, failed: 0, skipped: 0 };
for (const file of readdirSync(resultsDir, { withFileTypes: true })) {
  if (!file.isFile()) continue;
  const counts = JSON.parse(readFileSync(join(resultsDir, file.name), 'utf8'));
  for (const key of Object.keys(totals)) totals[key] += counts[key] ?? 0;
}
if (failedSteps > 0 && totals.failed === 0) totals.failed = failedSteps;
console.log(`\ntests: ${totals.passed} passed, ${totals.failed} failed, ${totals.skipped} skipped`);
process.exit(failedSteps > 0 || totals.failed > 0 ? 1 : 0);
