import { Module } from '@nestjs/common';
import { NotifyingModule } from '@tidemark/notifying';
import { ServiceRuntimeModule } from '@tidemark/pipeline';
import { NotifierProcessor } from './notifier.processor';

/** Events to people's channels (routed, deduplicated, resolved) and the digests of digest routes. */
@Module({
  imports: [ServiceRuntimeModule.forService('notifier'), NotifyingModule],
  providers: [NotifierProcessor],
})
export class NotifierAppModule {}
