import { UserError } from '@exitless/x86';

/**
 * Errors a user of the package can cause by building a machine wrong (a bad APIC ID, a
 * frequency that is not a positive number, an APIC registered twice on a bus). They are
 * thrown. Architectural faults inside the simulation (#GP on an MSR access, an illegal
 * vector) are modeled, counted and reported, never thrown.
 */
export class LapicConfigError extends UserError {
  constructor(message: string) {
    super(message);
    this.name = 'LapicConfigError';
  }
}
