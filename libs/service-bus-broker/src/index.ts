export { startBroker } from './broker';
export type { BrokerHandle, BrokerMessage, SubscriptionOptions } from './broker';
export { compileFilter, type Filter } from './filter';
