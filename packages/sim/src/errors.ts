/**
 * Errors a user of the kernel can cause (scheduling in the past, beyond the representable
 * time, re-entering the run loop). They are thrown; faults inside the simulated machine
 * are modeled by the components and never thrown.
 */
export class SimulationError extends Error {
  readonly code: SimulationErrorCode;

  constructor(code: SimulationErrorCode, message: string) {
    super(message);
    this.name = 'SimulationError';
    this.code = code;
  }
}

export type SimulationErrorCode =
  | 'time-in-past'
  | 'time-not-integer'
  | 'time-overflow'
  | 'already-scheduled'
  | 'bad-priority'
  | 'reentrant-run'
  | 'sequence-exhausted'
  | 'duplicate-name'
  | 'bad-name'
  | 'bad-argument';
