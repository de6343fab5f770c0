import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runChaos } from '../chaos/chaos';
import { defaultOptions } from '../chaos/options';

/**
 * The chaos suite's short version (the full one is `test/chaos/run.ts --rounds 100`, run by hand): three kill
 * rounds with a fixed seed, then every outage scenario once with shortened durations, then every invariant.
 */
test('chaos, quick: kills and outages leave every backup verified or failed and nothing half-done', async () => {
  const lines: string[] = [];
  const { summary, violations } = await runChaos({
    ...defaultOptions(true),
    // Draws SIGKILL dumper, SIGKILL uploader, SIGTERM verifier for the three rounds.
    seed: 279,
    log: (line) => lines.push(line),
  });
  process.stdout.write(`${summary}\n`);
  assert.deepEqual(violations, [], `${summary}\n${lines.join('\n')}`);
});
