import type { Notification } from '@tidemark/notification-channels';

/** A backup that failed for good, as the notifier would describe it: what the benches send and picture. */
export const SAMPLE_FAILURE: Notification = {
  id: 'b7f9d0c2-5a1e-4c57-9a55-1d8e1f0c3a21',
  kind: 'raise',
  dedupKey: 'orders-db|tidemark.backup.failed|dump-failed',
  severity: 'error',
  title: 'orders-db: backup failed (dump-failed)',
  summary:
    'The nightly backup of orders-db failed for good at the dump stage after 3 attempts: pg_dump could not connect (connection refused). The last verified backup is 1 day 2 h old.',
  targetId: 'orders-db',
  eventType: 'tidemark.backup.failed',
  occurredAt: '2026-12-07T02:04:11Z',
  facts: [
    { label: 'Target', value: 'orders-db (postgres)' },
    { label: 'Stage', value: 'dump' },
    { label: 'Error', value: 'dump-failed: connection to server at "orders.internal" refused' },
    { label: 'Attempts', value: '3 of 3' },
    { label: 'Last verified', value: '2026-12-06T00:01:52Z (1 d 2 h ago)' },
    { label: 'Backup', value: '20261207T020000Z-k3f9xq' },
  ],
  commands: ['tidemark show 20261207T020000Z-k3f9xq', 'tidemark backup orders-db --wait'],
  links: [
    { label: 'Dashboard', url: 'https://grafana.example.com/d/tidemark?var-target=orders-db' },
    {
      label: 'Runbook',
      url: 'https://github.com/example/tidemark/blob/main/deploy/runbooks.md#backup-failed',
    },
  ],
};
