import { UserError } from '@exitless/x86';

/**
 * Thrown for an IOMMU or table-builder configuration a user got wrong (a bad size, an
 * unaligned address, an exhausted page pool). Architectural faults of the simulated
 * hardware are never thrown: they are recorded in the fault log and counted.
 */
export class IommuConfigError extends UserError {
  constructor(message: string) {
    super(message);
    this.name = 'IommuConfigError';
  }
}
