import cliProgress from 'cli-progress';
import { jobLabel } from './jobs.js';
import type { JobOutcome } from './pool.js';

/** Reports jobs as they end, on stderr (stdout carries only the deterministic table). */
export interface Progress {
  readonly onDone: (outcome: JobOutcome, done: number, total: number) => void;
  stop(): void;
}

/** ` on WORKER` for a run a queue's worker ran (--queue), else nothing. */
function where(outcome: JobOutcome): string {
  return outcome.ok && outcome.worker !== undefined ? ` on ${outcome.worker}` : '';
}

function line(outcome: JobOutcome): string {
  if (!outcome.ok) return `${jobLabel(outcome.job)} FAILED: ${outcome.error}`;
  const { wallMs, events } = outcome.result;
  const simulatedS = (outcome.job.durationMs + outcome.job.warmupMs) / 1000;
  if (outcome.reused === true)
    return `${jobLabel(outcome.job)}: reused (finished earlier${outcome.worker !== undefined ? ` on ${outcome.worker}` : ''})`;
  return `${jobLabel(outcome.job)}${where(outcome)}: ${(wallMs / 1000).toFixed(2)} s wall, ${(simulatedS / (wallMs / 1000)).toFixed(3)} simulated s per wall s, ${events} events`;
}

/** A cli-progress bar on a terminal, plain lines otherwise (logs, CI, pipes). */
export function createProgress(total: number, stream: NodeJS.WriteStream = process.stderr): Progress {
  if (stream.isTTY !== true) {
    return {
      onDone: (outcome, done) => stream.write(`[${done}/${total}] ${line(outcome)}\n`),
      stop: () => {},
    };
  }
  const bar = new cliProgress.SingleBar(
    {
      stream,
      format: '{bar} {value}/{total} runs | {eta_formatted} left | {last}',
      hideCursor: true,
      etaBuffer: 4,
    },
    cliProgress.Presets.shades_classic,
  );
  bar.start(total, 0, { last: '' });
  return {
    onDone: (outcome, done) => {
      // Failures stay on the screen; successes only update the bar.
      if (!outcome.ok) {
        bar.stop();
        stream.write(`${line(outcome)}\n`);
        bar.start(total, done, { last: '' });
      }
      bar.update(done, { last: `${jobLabel(outcome.job)}${where(outcome)}` });
    },
    stop: () => bar.stop(),
  };
}
