import type { Frame, Routine } from '@exitless/x86';
import { CpuUsageError } from './errors.js';

/** How a frame was entered, which decides how it may return. */
export const FRAME_KIND = {
  /** The bottom frame of a stack: the host entry point or the routine at GUEST_RIP. */
  ENTRY: 0,
  /** Pushed by call(); returns with ret(). */
  CALL: 1,
  /** Pushed by event delivery through the IDT; returns with iret(). */
  EVENT: 2,
} as const;

/** Deepest nesting a stack allows before the CPU reports runaway software. */
export const MAX_FRAME_DEPTH = 256;

/**
 * A CPU-owned activation record. The public part is the x86 `Frame`; the rest is what the
 * CPU keeps per invocation: the rest of an interrupted operation's delay, and the state an
 * IRET restores (RFLAGS.IF and the registers a real handler's prologue saves).
 */
export class CpuFrame implements Frame {
  /** The routine this frame runs. */
  routine: Routine;
  pc = 0;
  r0 = 0;
  /** Scratch register 1. */
  r1 = 0;
  /** Scratch register 2. */
  r2 = 0;
  /** Scratch register 3. */
  r3 = 0;
  vector = -1;
  errorCode = -1;
  /** FRAME_KIND of this invocation. */
  kind = 0;
  /** Picoseconds still owed by the operation in progress; 0 once it completed (the routine steps next). */
  remainingPs = 0;
  /** The operation in progress is a spin-wait (`spin`): host time that adds no cache footprint. */
  spin = false;
  /** RFLAGS.IF of the interrupted context (restored by IRET). */
  savedIf = false;
  /** Registers of the interrupted context (restored by IRET). */
  savedRax = 0;
  /** RBX of the interrupted context (restored by IRET). */
  savedRbx = 0;
  /** RCX of the interrupted context (restored by IRET). */
  savedRcx = 0;
  /** RDX of the interrupted context (restored by IRET). */
  savedRdx = 0;
  /** EAX result of the interrupted context's last RDMSR or MMIO read (restored by IRET). */
  savedResultLo = 0;
  /** EDX result of the interrupted context's last RDMSR (restored by IRET). */
  savedResultHi = 0;

  constructor(routine: Routine) {
    this.routine = routine;
  }
}

/** A stack of frames drawn from a pool that grows only to its high-water mark. */
export class FrameStack {
  /** The stack's name, for error messages. */
  readonly name: string;
  private readonly pool: CpuFrame[] = [];
  private _depth = 0;

  constructor(name: string) {
    this.name = name;
  }

  /** How many frames are on the stack. */
  get depth(): number {
    return this._depth;
  }

  /** The running frame, or undefined when the stack is empty. */
  top(): CpuFrame | undefined {
    return this._depth > 0 ? this.pool[this._depth - 1] : undefined;
  }

  /** The frame at depth `i` (0 = bottom). */
  at(i: number): CpuFrame | undefined {
    return i < this._depth ? this.pool[i] : undefined;
  }

  /**
   * Pushes a frame for `routine`, reusing a pooled one; throws {@link CpuUsageError} beyond {@link
   * MAX_FRAME_DEPTH}.
   */
  push(routine: Routine, kind: number, vector: number, errorCode: number): CpuFrame {
    if (this._depth >= MAX_FRAME_DEPTH) {
      throw new CpuUsageError(
        `${this.name}: more than ${MAX_FRAME_DEPTH} nested frames (runaway recursion in '${routine.name}'?)`,
      );
    }
    let f = this.pool[this._depth];
    if (f === undefined) {
      f = new CpuFrame(routine);
      this.pool.push(f);
    }
    this._depth++;
    f.routine = routine;
    f.pc = 0;
    f.r0 = 0;
    f.r1 = 0;
    f.r2 = 0;
    f.r3 = 0;
    f.kind = kind;
    f.vector = vector;
    f.errorCode = errorCode;
    f.remainingPs = 0;
    f.spin = false;
    f.savedIf = false;
    return f;
  }

  /** Pops the running frame (no-op on an empty stack). */
  pop(): void {
    if (this._depth > 0) this._depth--;
  }

  /** Empties the stack. */
  clear(): void {
    this._depth = 0;
  }
}
