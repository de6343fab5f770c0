export { channelKind, channelKindDescriptors, channelKinds, createChannel } from './registry';
export { backoffMs, DEFAULT_DELIVERY, retryAfterMs } from './delivery';
export { emailHtml, emailSubject } from './kinds/email';
export { PAGERDUTY_EVENTS_URL, pagerDutyPayload } from './kinds/pagerduty';
export { slackPayload } from './kinds/slack';
export { teamsPayload } from './kinds/teams';
export {
  NOTIFICATION_ID_HEADER,
  SIGNATURE_HEADER,
  TIMESTAMP_HEADER,
  webhookEvent,
  webhookSignature,
} from './kinds/webhook';
export { displayTitle, plainText } from './render';
export { testNotification } from './test-notification';
export type {
  Channel,
  ChannelDeps,
  ChannelKind,
  DeliveryPolicy,
  DeliveryResult,
  Notification,
  NotificationFact,
  NotificationKind,
  NotificationSeverity,
  ResolvedChannelConfig,
} from './contract';
