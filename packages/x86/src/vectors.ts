/** Exception vectors (SDM vol. 3 §6.3, table 6-1). */
export const EXCEPTION = {
  DE: 0,
  DB: 1,
  NMI: 2,
  BP: 3,
  OF: 4,
  BR: 5,
  UD: 6,
  NM: 7,
  DF: 8,
  TS: 10,
  NP: 11,
  SS: 12,
  GP: 13,
  PF: 14,
  MF: 16,
  AC: 17,
  MC: 18,
  XM: 19,
  VE: 20,
} as const;

/** The first vector available to external interrupts; 0–31 are reserved for exceptions. */
export const FIRST_EXTERNAL_VECTOR = 32;
/** Number of IDT vectors. */
export const VECTOR_COUNT = 256;

/** Exceptions that push an error code (SDM vol. 3 §6.13): #DF, #TS, #NP, #SS, #GP, #PF, #AC. */
export function exceptionHasErrorCode(vector: number): boolean {
  return (
    vector === EXCEPTION.DF ||
    vector === EXCEPTION.TS ||
    vector === EXCEPTION.NP ||
    vector === EXCEPTION.SS ||
    vector === EXCEPTION.GP ||
    vector === EXCEPTION.PF ||
    vector === EXCEPTION.AC
  );
}

/**
 * Contributory exceptions (SDM vol. 3 §6.15, table 6-4): a second contributory exception
 * while delivering a first one is a double fault.
 */
export function isContributoryException(vector: number): boolean {
  return (
    vector === EXCEPTION.DE ||
    vector === EXCEPTION.TS ||
    vector === EXCEPTION.NP ||
    vector === EXCEPTION.SS ||
    vector === EXCEPTION.GP
  );
}

/** True for an integer vector in 0–255. */
export function isVector(v: number): boolean {
  return Number.isInteger(v) && v >= 0 && v <= 255;
}

/** The priority class of a vector: bits 7:4 (SDM vol. 3 §10.8.3). */
export function priorityClass(vector: number): number {
  return (vector >>> 4) & 0xf;
}

/**
 * The error code of an exception raised while delivering an event through the IDT
 * (SDM vol. 3 §6.13): selector index = vector, IDT bit (1) set, EXT (bit 0) set when the
 * event being delivered was external to the program (an interrupt, an NMI, or an exception
 * raised while delivering another).
 */
export function idtErrorCode(vector: number, external: boolean): number {
  return ((vector & 0xff) << 3) | 2 | (external ? 1 : 0);
}
