import { UserError } from '@exitless/x86';

/** Thrown for a machine configuration that cannot be built; the message names the field and what it accepts. */
export class MachineConfigError extends UserError {
  constructor(message: string) {
    super(message);
    this.name = 'MachineConfigError';
  }
}
