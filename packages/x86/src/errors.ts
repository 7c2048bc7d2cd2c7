/**
 * The base of every error a user can cause by configuring or assembling something wrong (a
 * bad option, an impossible machine, a calibration profile with a missing entry). Its
 * message names what to change and what it accepts. Front ends recognise these by type
 * (`instanceof UserError`) and print the message alone; any other error is a bug in the
 * simulator and keeps its stack trace. Architectural faults inside the simulated machine
 * (#GP, an IOMMU fault) are never thrown at all: they are modeled and counted.
 */
export class UserError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UserError';
  }
}
