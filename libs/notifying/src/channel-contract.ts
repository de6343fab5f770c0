/*
 * What the notifier hands a channel and gets back (libs/notification-channels) and what it is configured with
 * (libs/policy's `notifications:`), named here once for the notifier's files.
 */
export type {
  Channel,
  DeliveryResult,
  Notification,
  NotificationKind,
  NotificationSeverity,
} from '@tidemark/notification-channels';
export type { NotificationRoute, NotificationsConfig as NotificationsSettings } from '@tidemark/policy';
