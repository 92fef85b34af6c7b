import { pino, type Logger as PinoLogger, type DestinationStream } from 'pino';
import sonicBoom, { type SonicBoom } from 'sonic-boom';

// sonic-boom is CommonJS: its class is the default export at run time.
const SonicBoomStream = sonicBoom as unknown as typeof SonicBoom;

export type Logger = PinoLogger;

/** Field paths that may carry secrets; pino replaces their values before a line is written. */
export const redactPaths = [
  'password',
  'secret',
  'client_secret',
  'clientSecret',
  'token',
  'access_token',
  'authorization',
  'cookie',
  '*.password',
  '*.secret',
  '*.client_secret',
  '*.clientSecret',
  '*.token',
  '*.access_token',
  '*.authorization',
  '*.cookie',
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.authorization',
  'headers.cookie',
];

/**
 * Standard output, written asynchronously so a slow reader never stalls
 * requests. Unlike pino's own destination it registers no flush at exit (that
 * flush loops forever when the reader is gone or stops reading); processes
 * call flushLogs with a deadline before they exit instead. A write that fails
 * for good (the reader closed the pipe) turns logging off rather than
 * crashing the process.
 */
export function standardOutput(fd = 1): SonicBoom {
  const stream = new SonicBoomStream({ fd, sync: false });
  stream.on('error', () => {
    stream.write = () => true;
    stream.flush = (cb?: (err?: Error) => unknown) => void cb?.();
  });
  return stream;
}

/**
 * Writes out buffered log lines and closes the output, waiting at most
 * timeoutMs (the reader may never read them). For a process about to exit.
 */
export function flushLogs(logger: Logger, timeoutMs: number): Promise<void> {
  const stream = (logger as unknown as Record<symbol, unknown>)[pino.symbols.streamSym];
  if (!(stream instanceof SonicBoomStream)) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, timeoutMs);
    const done = () => {
      clearTimeout(timer);
      resolve();
    };
    stream.once('close', done);
    stream.once('error', done);
    try {
      stream.end();
    } catch {
      done();
    }
  });
}

export function createLogger(
  options: { level: string; name?: string },
  destination: DestinationStream = standardOutput(),
): Logger {
  return pino(
    {
      name: options.name ?? 'gradebridge',
      level: options.level,
      redact: { paths: redactPaths, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
}
