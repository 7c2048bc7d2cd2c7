/**
 * Errors a user of the kernel can cause (scheduling in the past, beyond the representable
 * time, re-entering the run loop). They are thrown; faults inside the simulated machine
 * are modeled by the components and never thrown.
 */
export class SimulationError extends Error {
  /** What went wrong, as a code. */
  readonly code: SimulationErrorCode;

  constructor(code: SimulationErrorCode, message: string) {
    super(message);
    this.name = 'SimulationError';
    this.code = code;
  }
}

/** Why a {@link SimulationError} was thrown: a machine-readable code beside its message. */
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
