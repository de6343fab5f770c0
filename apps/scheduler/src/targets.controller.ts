import { Controller, Get, HttpCode, Inject, NotFoundException, Param, Post } from '@nestjs/common';
import {
  ApiAcceptedResponse,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiProperty,
  ApiTags,
} from '@nestjs/swagger';
import { TIDEMARK_CONFIG, type LoadedConfig } from '@tidemark/config';
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
@Controller('targets')
export class TargetsController {
  constructor(
    @Inject(TIDEMARK_CONFIG) private readonly config: LoadedConfig,
    private readonly pipeline: Pipeline,
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
  @ApiNotFoundResponse({ description: 'no such target in the config' })
  async backup(@Param('id') id: string): Promise<BackupRequested> {
    if (!this.config.targets.some((t) => t.id === id)) throw new NotFoundException(`unknown target "${id}"`);
    const result = await this.pipeline.request(id, 'api');
    return {
      ...result,
      message: result.coalesced
        ? `a backup of ${id} is already running (${result.backupId}); this request joined it`
        : `backup ${result.backupId} started`,
    };
  }
}
