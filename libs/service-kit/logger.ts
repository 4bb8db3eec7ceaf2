/**
 * pino logger factory: one JSON object per line on stderr (stdout stays free
 * for anything a service prints deliberately), ISO timestamps, level names
 * instead of numbers, secrets redacted.
 */
import pino from 'pino';
import type { LogLevel } from './config.js';

export type Logger = pino.Logger;

export interface LoggerOptions {
  /** The service name, bound to every line as `service`. */
  service: string;
  level: LogLevel;
  /** Where lines go; default stderr (fd 2, synchronous writes). */
  destination?: pino.DestinationStream;
}

export function createLogger(opts: LoggerOptions): Logger {
  return pino(
    {
      level: opts.level,
      base: { service: opts.service, pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: {
        paths: ['token', '*.token', 'auth.token', 'authorization', '*.authorization', 'metadata.authorization'],
        censor: '[redacted]',
      },
    },
    opts.destination ?? pino.destination({ dest: 2, sync: true }),
  );
}
