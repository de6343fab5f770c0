import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { countLines, describeFailure, feed, firstMeaningfulLine, startTool } from './process';

function chunks(count: number, size: number): { stream: Readable; read: () => number } {
  let read = 0;
  const stream = Readable.from(
    (function* () {
      for (let i = 0; i < count; i++) {
        read += size;
        yield Buffer.alloc(size, i % 256);
      }
    })(),
  );
  return { stream, read: () => read };
}

describe('feed', () => {
  test('reads the input to its end even when the tool stops reading early', async () => {
    const tool = startTool('/usr/bin/head', ['-c', '10'], process.env, { stdin: true, stdout: true });
    const output = countLines(tool.stdout!, () => true);
    const input = chunks(256, 64 * 1024); // 16 MiB, far beyond any pipe buffer
    await feed(input.stream, tool.stdin!);
    const exit = await tool.exit;
    assert.equal(exit.code, 0);
    assert.equal(input.read(), 256 * 64 * 1024);
    assert.equal(await output, 1);
  });

  test('passes every byte through when the tool reads everything', async () => {
    const tool = startTool('/usr/bin/wc', ['-c'], process.env, { stdin: true, stdout: true });
    let out = '';
    tool.stdout!.setEncoding('utf8');
    tool.stdout!.on('data', (text: string) => (out += text));
    await feed(chunks(64, 100_000).stream, tool.stdin!);
    await tool.exit;
    assert.equal(out.trim(), '6400000');
  });

  test('rejects with the input error and stops feeding', async () => {
    const tool = startTool('/usr/bin/cat', [], process.env, { stdin: true, stdout: false });
    const failing = new Readable({
      read() {
        this.destroy(new Error('download broke'));
      },
    });
    await assert.rejects(feed(failing, tool.stdin!), /download broke/);
    tool.kill();
    await tool.exit;
  });
});

describe('tool failures', () => {
  test('the error line wins over earlier noise', () => {
    const stderr =
      'pg_dump: warning: something mild\npg_dump: error: connection failed:   FATAL: no\n  more\n';
    assert.equal(firstMeaningfulLine(stderr), 'pg_dump: error: connection failed: FATAL: no');
  });

  test('a silent failure still says how the tool ended', async () => {
    const tool = startTool('/bin/sh', ['-c', 'exit 3'], process.env, { stdin: false, stdout: false });
    assert.equal(describeFailure('sh', await tool.exit), 'sh exited with code 3');
  });

  test('a missing binary is reported, not thrown', async () => {
    const tool = startTool('/nonexistent/pg_dump', [], process.env, { stdin: false, stdout: false });
    assert.match(describeFailure('pg_dump', await tool.exit), /^cannot run pg_dump: .*ENOENT/);
  });
});
