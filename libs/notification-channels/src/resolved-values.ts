import { z } from 'zod';

const LOOPBACK = /^(localhost|127(?:\.\d{1,3}){3}|\[::1\])$/;

/**
 * An https URL; plain http only to this machine (a local relay or a test receiver), since the URL carries the
 * channel's key. The message never repeats the value.
 */
export const httpsUrl = z.string().refine(
  (value) => {
    if (!URL.canParse(value)) return false;
    const url = new URL(value);
    return url.protocol === 'https:' || (url.protocol === 'http:' && LOOPBACK.test(url.hostname));
  },
  { error: 'not a valid https URL' },
);

/** An smtp:// (STARTTLS when offered) or smtps:// (TLS) URL, e.g. smtp://user:password@mail.example.com:587. */
export const smtpUrl = z
  .string()
  .refine((value) => URL.canParse(value) && ['smtp:', 'smtps:'].includes(new URL(value).protocol), {
    error: 'not a valid smtp:// or smtps:// URL',
  });

export const nonEmptySecret = z.string().min(1, { error: 'is empty' });
