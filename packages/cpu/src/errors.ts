import { UserError } from '@exitless/x86';

/**
 * Errors a user of the CPU model can cause. They are thrown; architectural faults inside
 * the simulated machine (#GP, #NP, triple fault, VMfail) are modeled and counted instead.
 */

/** A CPU was configured wrong (bad frequency, a cost that is not a non-negative number). */
export class CpuConfigError extends UserError {
  constructor(message: string) {
    super(message);
    this.name = 'CpuConfigError';
  }
}

/**
 * Software broke the Routine/CpuContext contract (issued no operation or two in one step,
 * returned with ret() from an interrupt handler, used a VMX instruction in a guest…).
 * These are bugs in the simulated software's model, not architectural events.
 */
export class CpuUsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CpuUsageError';
  }
}
