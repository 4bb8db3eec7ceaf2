/**
 * Ctrl-C and SIGTERM for a long command: the first signal aborts the run
 * through an AbortSignal (the libraries stop between batches and iterations,
 * so the command can keep what finished and say so); a second one exits at
 * once. Either way the terminal gets its cursor back (progress bars hide it).
 */
import { restoreTerminal } from './progress.js';

/** Exit code of a run stopped by a signal (128 + SIGINT's 2, as shells report it). */
export const INTERRUPTED_EXIT_CODE = 130;

export class Interrupted extends Error {
  override name = 'Interrupted';
  constructor(readonly signalName: NodeJS.Signals) {
    super(`interrupted by ${signalName}`);
  }
}

export interface InterruptScope {
  signal: AbortSignal;
  /** The signal that stopped the run, if one did. */
  readonly interrupted: NodeJS.Signals | undefined;
  dispose(): void;
}

export function interruptScope(): InterruptScope {
  const controller = new AbortController();
  let received: NodeJS.Signals | undefined;
  const handler = (sig: NodeJS.Signals) => {
    if (received) {
      restoreTerminal();
      process.stderr.write(`\nuae: ${sig} again: stopped at once, without writing what finished\n`);
      process.exit(INTERRUPTED_EXIT_CODE);
    }
    received = sig;
    restoreTerminal();
    controller.abort(new Interrupted(sig));
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return {
    signal: controller.signal,
    get interrupted() {
      return received;
    },
    dispose() {
      process.off('SIGINT', handler);
      process.off('SIGTERM', handler);
    },
  };
}
