/** Terminal progress for long stages: a bar on a TTY, a line every few seconds otherwise, nothing with --quiet/--json. */
import cliProgress from 'cli-progress';

/** The bar on screen (it hides the cursor while it runs). */
let activeBar: cliProgress.SingleBar | undefined;

/** Stops a bar on screen and shows the cursor again (interruption, exit). */
export function restoreTerminal(): void {
  if (!activeBar) return;
  const bar = activeBar;
  activeBar = undefined;
  bar.stop();
  if (process.stderr.isTTY) process.stderr.write('\x1b[?25h');
}
process.on('exit', restoreTerminal);

export interface ProgressSink {
  start(stage: string, total: number): void;
  update(done: number, extra?: string): void;
  stop(): void;
  log(line: string): void;
}

/** Off a terminal (logs, CI), a progress line at most this often. */
export const PROGRESS_LINE_INTERVAL_MS = 5000;

/** UAE_PROGRESS_INTERVAL_MS overrides the line interval off a terminal (0: every update). */
function lineIntervalMs(): number {
  const v = process.env['UAE_PROGRESS_INTERVAL_MS'];
  if (v === undefined || v === '') return PROGRESS_LINE_INTERVAL_MS;
  const ms = Number(v);
  if (!Number.isInteger(ms) || ms < 0) throw new Error(`UAE_PROGRESS_INTERVAL_MS must be a whole number of milliseconds ≥ 0, got "${v}"`);
  return ms;
}

export function progressSink(mode: { quiet: boolean }): ProgressSink {
  if (mode.quiet) return { start() {}, update() {}, stop() {}, log() {} };
  if (!process.stderr.isTTY) {
    const interval = lineIntervalMs();
    let stage = '';
    let total = 0;
    let last = 0;
    return {
      start(s, t) {
        stage = s;
        total = t;
        last = 0;
      },
      update(done, extra) {
        const now = Date.now();
        if (now - last < interval && done < total) return;
        last = now;
        process.stderr.write(`${stage}: ${done}/${total}${extra ? ` ${extra}` : ''}\n`);
      },
      stop() {},
      log: (line) => process.stderr.write(`${line}\n`),
    };
  }
  let bar: cliProgress.SingleBar | undefined;
  return {
    start(stage, total) {
      bar?.stop();
      bar = new cliProgress.SingleBar(
        { format: `${stage.padEnd(22)} [{bar}] {value}/{total} | {extra} | ETA {eta_formatted}`, stream: process.stderr, hideCursor: true },
        cliProgress.Presets.shades_classic,
      );
      bar.start(total, 0, { extra: '' });
      activeBar = bar;
    },
    update(done, extra) {
      // Not after restoreTerminal(): a stopped bar would draw itself again.
      if (bar && bar === activeBar) bar.update(done, { extra: extra ?? '' });
    },
    stop() {
      if (bar === activeBar) bar?.stop();
      if (activeBar === bar) activeBar = undefined;
      bar = undefined;
    },
    log: (line) => process.stderr.write(`${line}\n`),
  };
}
