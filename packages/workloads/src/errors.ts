import { UserError } from '@exitless/x86';

/**
 * Thrown when a workload is configured wrong (a window scale beyond RFC 7323's 14, an MSS
 * that does not fit a frame, a negative timer…). The message names the option to change.
 * Protocol events inside the simulation (a lost segment, a zero window) are never thrown:
 * they are handled as TCP handles them and counted.
 */
export class WorkloadConfigError extends UserError {
  constructor(message: string) {
    super(message);
    this.name = 'WorkloadConfigError';
  }
}
