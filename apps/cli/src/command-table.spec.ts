import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Command } from 'commander';
import { registerCommands, requestedCommand } from './command-table';
import type { CliContext } from './context';

const hooks = {
  globals: () => ({}),
  context: (): CliContext => {
    throw new Error('no command runs in these tests');
  },
};

function declared(args: string[]): string[] {
  const program = new Command('tidemark');
  registerCommands(program, args, hooks);
  return program.commands.map((command) => command.name());
}

describe('the command table', () => {
  test('the command is the first word that is neither a global option nor its value', () => {
    assert.equal(requestedCommand(['backup', 'orders']), 'backup');
    assert.equal(requestedCommand(['--config', 'backup', 'list']), 'list');
    assert.equal(requestedCommand(['--json', '--token-file', '/run/token', 'show', 'x']), 'show');
    assert.equal(requestedCommand(['--config=tidemark.yaml', 'targets']), 'targets');
    assert.equal(requestedCommand(['--help']), undefined);
  });

  test('only the module of the command asked for is declared, with every command it holds', () => {
    assert.deepEqual(declared(['backup', 'orders']), ['backup']);
    assert.deepEqual(declared(['show', 'x']), ['targets', 'list', 'show']);
    assert.deepEqual(declared(['unpin', 'x']), ['pin', 'unpin']);
    assert.deepEqual(declared(['drills', 'orders']), ['drill', 'drills']);
  });

  test('no command, or an unknown one, declares them all, so help and "did you mean" list every command', () => {
    const all = declared([]);
    for (const name of [
      'up',
      'backup',
      'restore',
      'retention',
      'wal',
      'api-key',
      'notify',
      'config',
      'events',
      'verify',
      'drill',
      'drills',
    ])
      assert.ok(all.includes(name), `${name} is declared`);
    assert.deepEqual(declared(['bakup']), all);
  });
});
