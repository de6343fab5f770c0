import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { forEachLimit, mapLimit } from './map-limit';

const tick = (ms = 1): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('mapLimit', () => {
  test('returns the results in item order, whatever order the calls finish in', async () => {
    const results = await mapLimit([30, 10, 20, 0], 4, async (ms, index) => {
      await tick(ms);
      return `${index}:${ms}`;
    });
    assert.deepEqual(results, ['0:30', '1:10', '2:20', '3:0']);
  });

  test('never has more than `limit` calls in flight, and uses all of them', async () => {
    let inFlight = 0;
    let most = 0;
    await forEachLimit(
      Array.from({ length: 20 }, (_, i) => i),
      3,
      async () => {
        inFlight++;
        most = Math.max(most, inFlight);
        await tick();
        inFlight--;
      },
    );
    assert.equal(most, 3);
    assert.equal(inFlight, 0);
  });

  test('starts items in order', async () => {
    const started: number[] = [];
    await forEachLimit([0, 1, 2, 3, 4, 5], 2, async (item) => {
      started.push(item);
      await tick(item % 2 === 0 ? 5 : 1);
    });
    assert.deepEqual(started, [0, 1, 2, 3, 4, 5]);
  });

  test('the first error rejects the call and no new item starts after it', async () => {
    const started: number[] = [];
    await assert.rejects(
      mapLimit([0, 1, 2, 3, 4, 5, 6, 7], 2, async (item) => {
        started.push(item);
        await tick();
        if (item === 1) throw new Error('item 1 failed');
        return item;
      }),
      /item 1 failed/,
    );
    await tick(20);
    // 0 and 1 start together; 0 finishes and takes 2 while 1 fails; nothing starts after the failure.
    assert.deepEqual(started, [0, 1, 2]);
  });

  test('an empty list resolves at once, and a limit below 1 is refused', async () => {
    assert.deepEqual(await mapLimit([], 4, () => Promise.resolve(1)), []);
    await assert.rejects(
      mapLimit([1], 0, () => Promise.resolve(1)),
      /limit must be a positive integer, got 0/,
    );
  });
});
