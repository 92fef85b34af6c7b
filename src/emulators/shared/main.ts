/**
 * Runs an emulator's command-line entry point: a failure to start is printed
 * and exits 1; once started, SIGINT or SIGTERM close the emulator and exit.
 */
export function runUntilSignal(start: () => Promise<{ close(): Promise<void> }>): void {
  const fail = (err: unknown) => {
    console.error(err);
    process.exit(1);
  };
  start().then((emulator) => {
    const stop = () => {
      emulator.close().then(() => process.exit(0), fail);
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  }, fail);
}
