import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { declaredTargets, targetUrlPath } from './declared-targets';

describe('declaredTargets', () => {
  test('lists the targets whose url can be checked, with their position', () => {
    const raw = {
      targets: [
        { id: 'a', kind: 'postgres', url: '${A}' },
        'not a mapping',
        { id: 'b', kind: 'oracle', url: 'x' },
        { id: 'c', kind: 'sqlite', url: '' },
        { id: 7, kind: 'sqlite', url: '/data/app.db' },
        { id: 'd', kind: 'directory', url: '/srv/d', policy: 'whatever' },
      ],
    };
    // The known kinds come from the caller (libs/config passes the registry's names).
    assert.deepEqual(declaredTargets(raw, ['postgres', 'sqlite', 'directory']), [
      { index: 0, id: 'a', kind: 'postgres', url: '${A}' },
      { index: 5, id: 'd', kind: 'directory', url: '/srv/d' },
    ]);
    assert.deepEqual(
      declaredTargets(raw).map((target) => target.id),
      ['a', 'b', 'd'],
    );
  });

  test('input without a list of targets has none', () => {
    for (const raw of [undefined, null, 'text', [], { targets: {} }])
      assert.deepEqual(declaredTargets(raw), []);
  });

  test('the path of a url problem names the index and the id', () => {
    assert.equal(targetUrlPath({ index: 2, id: 'orders-db' }), 'targets[2].url (orders-db)');
  });
});
