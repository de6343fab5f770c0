import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { SourceError, type SourceErrorCode } from './source';

describe('SourceError.retryable', () => {
  test('failures no retry mends are permanent', () => {
    const permanent: SourceErrorCode[] = [
      'source-auth',
      'source-missing-database',
      'tool-missing',
      'tool-too-old',
      'unsupported-kind',
      'invalid-url',
      'invalid-settings',
    ];
    for (const code of permanent) assert.equal(new SourceError(code, 'x').retryable, false, code);
  });

  test('an unreachable source, a broken dump or a busy target may succeed next time', () => {
    const transient: SourceErrorCode[] = [
      'source-unreachable',
      'dump-failed',
      'restore-failed',
      'target-not-empty',
      'target-busy',
      'hook-failed',
    ];
    for (const code of transient) assert.equal(new SourceError(code, 'x').retryable, true, code);
  });
});
