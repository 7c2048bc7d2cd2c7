/** Exception vectors (SDM vol. 3 §6.3, table 6-1). */
export const EXCEPTION = {
  /** 0: #DE, divide error (fault). */
  DE: 0,
  /** 1: #DB, debug exception (fault or trap). */
  DB: 1,
  /** 2: NMI, non-maskable interrupt. */
  NMI: 2,
  /** 3: #BP, breakpoint (INT3, trap). */
  BP: 3,
  /** 4: #OF, overflow (INTO, trap). */
  OF: 4,
  /** 5: #BR, BOUND range exceeded (fault). */
  BR: 5,
  /** 6: #UD, invalid opcode (fault). */
  UD: 6,
  /** 7: #NM, device not available (fault). */
  NM: 7,
  /** 8: #DF, double fault (abort, error code 0). */
  DF: 8,
  /** 10: #TS, invalid TSS (fault, error code). */
  TS: 10,
  /** 11: #NP, segment not present (fault, error code). */
  NP: 11,
  /** 12: #SS, stack-segment fault (fault, error code). */
  SS: 12,
  /** 13: #GP, general protection (fault, error code). */
  GP: 13,
  /** 14: #PF, page fault (fault, error code). */
  PF: 14,
  /** 16: #MF, x87 floating-point error (fault). */
  MF: 16,
  /** 17: #AC, alignment check (fault, error code 0). */
  AC: 17,
  /** 18: #MC, machine check (abort). */
  MC: 18,
  /** 19: #XM, SIMD floating-point exception (fault). */
  XM: 19,
  /** 20: #VE, virtualization exception (fault). */
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
