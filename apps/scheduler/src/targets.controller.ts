import {
  BadRequestException,
  Controller,
  Get,
  HttpCode,
  Inject,
  NotFoundException,
  Param,
  Post,
} from '@nestjs/common';
import {
  ApiAcceptedResponse,
  ApiBadRequestResponse,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiProperty,
  ApiForbiddenResponse,
  ApiTags,
  ApiUnauthorizedResponse,
} from '@nestjs/swagger';
import { Caller, type Principal } from '@tidemark/api-auth';
import { TIDEMARK_CONFIG, type LoadedConfig } from '@tidemark/config';
import { EventPublisher } from '@tidemark/events';
import { TARGET_ID_PATTERN } from '@tidemark/manifest';
import { Pipeline } from '@tidemark/pipeline';
import { nextRun, policyOf } from '@tidemark/policy';

interface TargetView {
  id: string;
  kind: string;
  policy: string;
  schedule: string;
  timezone: string;
  rpoHours: number;
  nextRun: string;
}

interface BackupRequested {
  backupId: string;
  targetId: string;
  coalesced: boolean;
  message: string;
}

/** OpenAPI descriptions of the responses (the handlers return plain objects). */
class TargetViewDto implements TargetView {
  @ApiProperty({ example: 'orders-db' }) id!: string;
  @ApiProperty({ example: 'postgres' }) kind!: string;
  @ApiProperty({ example: 'standard' }) policy!: string;
  @ApiProperty({ example: '0 2 * * *' }) schedule!: string;
  @ApiProperty({ example: 'UTC' }) timezone!: string;
  @ApiProperty({ example: 25 }) rpoHours!: number;
  @ApiProperty({ example: '2026-11-22T02:00:00.000Z' }) nextRun!: string;
}

class BackupRequestedDto implements BackupRequested {
  @ApiProperty({ example: '20261121T020000Z-k3f9xq' }) backupId!: string;
  @ApiProperty({ example: 'orders-db' }) targetId!: string;
  @ApiProperty({
    description: 'true when a backup of this target was already dumping and this request joined it',
  })
  coalesced!: boolean;
  @ApiProperty({ example: 'backup 20261121T020000Z-k3f9xq started' }) message!: string;
}

@ApiTags('targets')
@ApiUnauthorizedResponse({ description: 'no token, or one that is invalid or expired (problem details)' })
@ApiForbiddenResponse({ description: 'a valid token without the required app role (problem details)' })
@Controller('targets')
export class TargetsController {
  constructor(
    @Inject(TIDEMARK_CONFIG) private readonly config: LoadedConfig,
    private readonly pipeline: Pipeline,
    private readonly events: EventPublisher,
  ) {}

  @Get()
  @ApiOkResponse({ type: [TargetViewDto] })
  list(): TargetView[] {
    const now = new Date();
    return this.config.targets.map((target) => {
      const policy = policyOf(this.config, target);
      return {
        id: target.id,
        kind: target.kind,
        policy: target.policy,
        schedule: policy.schedule,
        timezone: policy.timezone,
        rpoHours: policy.rpoHours,
        nextRun: nextRun(policy.schedule, policy.timezone, now).toISOString(),
      };
    });
  }

  @Post(':id/backups')
  @HttpCode(202)
  @ApiAcceptedResponse({
    type: BackupRequestedDto,
    description: 'the backup was started, or joined the one running',
  })
  @ApiBadRequestResponse({ description: 'a malformed target id or request body (problem details)' })
  @ApiNotFoundResponse({ description: 'no such target in the config (problem details)' })
  async backup(@Param('id') id: string, @Caller() caller: Principal): Promise<BackupRequested> {
    if (!TARGET_ID_PATTERN.test(id))
      throw new BadRequestException(
        `"${id.slice(0, 80)}" is not a target id (lowercase letters, digits and dashes, at most 63)`,
      );
    if (!this.config.targets.some((t) => t.id === id)) throw new NotFoundException(`unknown target "${id}"`);
    const result = await this.pipeline.request(id, 'api');
    await this.events.emit('tidemark.audit.backup_requested', id, result.backupId, {
      actor: caller,
      via: 'api',
      coalesced: result.coalesced,
    });
    return {
      ...result,
      message: result.coalesced
        ? `a backup of ${id} is already running (${result.backupId}); this request joined it`
        : `backup ${result.backupId} started`,
    };
  }
}
