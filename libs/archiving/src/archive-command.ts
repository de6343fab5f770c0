/**
 * The server's `archive_command` for `pitr.route: archive-command`: only a copy into the spool, with stock tools,
 * so it returns in milliseconds and starts no Node on the server's hot path. The copy goes to a dot-file (which
 * the archiver never reads), is flushed, and is renamed into place, so a file under its own name is whole. A file
 * already there with the same bytes is success (PostgreSQL retries after a crash); with other bytes it fails, and
 * PostgreSQL keeps the segment and retries. The spool is a path the config schema keeps free of shell syntax.
 */
export function archiveCommand(spool: string): string {
  const dir = spool.replace(/\/+$/, '');
  const temp = `${dir}/.%f.tmp`;
  return `test ! -f ${dir}/%f && cp %p ${temp} && sync ${temp} && mv ${temp} ${dir}/%f || cmp -s %p ${dir}/%f`;
}

/** The postgresql.conf lines to paste, quoted as the file needs them. */
export function archiveCommandSettings(spool: string): string[] {
  return ['archive_mode = on', `archive_command = '${archiveCommand(spool)}'`];
}
