import { UserError } from '@exitless/x86';

/**
 * A NIC or wire configured in a way that cannot work (a bad option, an impossible BAR
 * size). Thrown at construction or configuration time with a message that says what to
 * change; faults inside the simulated machine (DMA faults, full rings, illegal register
 * writes) are counted, never thrown.
 */
export class NicConfigError extends UserError {
  constructor(message: string) {
    super(message);
    this.name = 'NicConfigError';
  }
}
