import { z } from 'zod';

/** The target keys of a directory target beside id, kind, url and policy. */
export const directorySettings = z.object({
  /** Glob patterns (matched on the relative path and the base name) left out of the tar; default `*.tmp`, `*.lock`, `*.pid`. */
  exclude: z.array(z.string().min(1)).optional(),
  /** Shell commands run before the tar starts and after it ends (pause writes, checkpoint). */
  pre: z.string().min(1).optional(),
  post: z.string().min(1).optional(),
});

export type DirectorySettings = z.infer<typeof directorySettings>;
