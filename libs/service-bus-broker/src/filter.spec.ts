import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { compileFilter } from './filter';

describe('compileFilter', () => {
  test('IN, =, <>, AND, OR, NOT, parentheses and IS NULL on application properties', () => {
    const alerts = compileFilter("severity IN ('error','critical')");
    assert.equal(alerts({ severity: 'error' }), true);
    assert.equal(alerts({ severity: 'critical' }), true);
    assert.equal(alerts({ severity: 'info' }), false);
    assert.equal(alerts({}), false);

    const verified = compileFilter(
      "type = 'tidemark.backup.verified' AND NOT (targetId <> 'a' OR size > 10)",
    );
    assert.equal(verified({ type: 'tidemark.backup.verified', targetId: 'a', size: 3 }), true);
    assert.equal(verified({ type: 'tidemark.backup.verified', targetId: 'b', size: 3 }), false);
    assert.equal(verified({ type: 'tidemark.backup.verified', targetId: 'a', size: 11 }), false);

    assert.equal(compileFilter('1=1')({}), true);
    assert.equal(compileFilter("severity NOT IN ('info')")({ severity: 'warning' }), true);
    assert.equal(compileFilter('backupId IS NULL')({}), true);
    assert.equal(compileFilter('backupId IS NOT NULL')({}), false);
    assert.equal(compileFilter("name = 'it''s'")({ name: "it's" }), true);
  });

  test('rejects what it cannot parse', () => {
    assert.throws(() => compileFilter("severity IN ('error'"), /expected \)/);
    assert.throws(() => compileFilter('severity'), /expected a comparison/);
    assert.throws(() => compileFilter("a = 'x' b"), /unexpected input/);
  });
});
