import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Client } from 'pg';
import { type ScratchCluster, startScratchCluster } from './scratch-cluster';

describe('startScratchCluster', () => {
  let cluster: ScratchCluster;
  before(async () => {
    cluster = await startScratchCluster();
  });
  after(async () => {
    await cluster.remove();
  });

  it('runs a cluster of its own with WAL for replication and a REPLICATION role with a password', async () => {
    const [level] = await cluster.query<{ wal_level: string }>('SHOW wal_level');
    assert.equal(level?.wal_level, 'replica');
    const client = new Client({ connectionString: cluster.replicationUrl });
    await client.connect();
    const { rows } = await client.query<{ rolreplication: boolean }>(
      'SELECT rolreplication FROM pg_roles WHERE rolname = current_user',
    );
    await client.end();
    assert.equal(rows[0]?.rolreplication, true);
    const wrong = new Client({
      connectionString: cluster.replicationUrl.replace(/:[0-9a-f]{24}@/, ':nope@'),
    });
    await assert.rejects(wrong.connect(), /password authentication failed/);
  });

  it('restarts keeping its data', async () => {
    await cluster.query('CREATE TABLE kept (id int)');
    await cluster.restart();
    assert.deepEqual(await cluster.query("SELECT to_regclass('kept')::text AS t"), [{ t: 'kept' }]);
  });
});
