/**
 * Boot: the IDT written as real 16-byte gates (SDM vol. 3 §6.14.1) and loaded with LIDT, and
 * the boot sequence as a script of CPU operations built once (x2APIC entry, LAPIC set-up, the
 * tick, the VF driver's probe and open, STI), issued one operation per CPU step by the reset
 * routine `start_kernel`, which then runs the idle loop forever.
 */
import {
  type CpuContext,
  encodeIdtGate,
  encodeIdtr,
  type Frame,
  IDT_GATE_SIZE,
  interruptGate,
  type PhysicalMemory,
  type Routine,
} from '@exitless/x86';
import type { LapicDriver } from './apic.js';
import { GUEST_LAYOUT, GUEST_VECTOR } from './layout.js';
import { IDLE_STATE } from './sched.js';

/** Addresses of the kernel's interrupt handlers (the offsets its IDT gates point at). */
export interface KernelHandlers {
  /** The NIC's RX vector handler. */
  readonly nicRxIrq: number;
  /** The NIC's TX vector handler. */
  readonly nicTxIrq: number;
  /** The NIC's mailbox vector handler. */
  readonly nicMailboxIrq: number;
  /** The LAPIC timer (scheduler tick) handler. */
  readonly timerIrq: number;
  /** The spurious-interrupt handler. */
  readonly spuriousIrq: number;
  /** The handler of exceptions 0–31. */
  readonly exception: number;
  /** The handler of every vector the kernel gave no handler. */
  readonly unexpected: number;
}

/** The handler the IDT gate of `vector` points at: exceptions 0–31, the NIC vectors, the timer, spurious, and "unexpected IRQ" for every other vector. */
export function idtTarget(handlers: KernelHandlers, vector: number): number {
  if (vector < 32) return handlers.exception;
  switch (vector) {
    case GUEST_VECTOR.NIC_RX:
      return handlers.nicRxIrq;
    case GUEST_VECTOR.NIC_TX:
      return handlers.nicTxIrq;
    case GUEST_VECTOR.NIC_MAILBOX:
      return handlers.nicMailboxIrq;
    case GUEST_VECTOR.LOCAL_TIMER:
      return handlers.timerIrq;
    case GUEST_VECTOR.SPURIOUS:
      return handlers.spuriousIrq;
    default:
      return handlers.unexpected;
  }
}

/** Writes the 256 gates at GUEST_LAYOUT.IDT_BASE and the IDTR pseudo-descriptor LIDT loads at IDTR_SCRATCH. */
export function writeIdt(memory: PhysicalMemory, handlers: KernelHandlers): void {
  const gate = new Uint8Array(IDT_GATE_SIZE);
  for (let v = 0; v < 256; v++) {
    encodeIdtGate(interruptGate(idtTarget(handlers, v)), gate);
    memory.writeBytes(GUEST_LAYOUT.IDT_BASE + v * IDT_GATE_SIZE, gate);
  }
  const idtr = new Uint8Array(10);
  encodeIdtr(256 * IDT_GATE_SIZE - 1, BigInt(GUEST_LAYOUT.IDT_BASE), idtr);
  memory.writeBytes(GUEST_LAYOUT.IDTR_SCRATCH, idtr);
}

/** The kinds of operation in the boot script. */
export const BOOT_OP = {
  /** Kernel work: `a` cycles. */
  COMPUTE: 0,
  /** WRMSR `a` ← `b`. */
  WRMSR: 1,
  /** A 32-bit store of `b` to physical `a` (a device register). */
  MMIO_WRITE: 2,
  /** LIDT from the pseudo-descriptor at `a`. */
  LIDT: 3,
  /** STI: set RFLAGS.IF. */
  STI: 4,
  /** Work done in memory without a CPU operation of its own (`hook`), then the next operation. */
  HOOK: 5,
  /** A LAPIC register write (offset `a` ← `b`) the way the APIC driver makes it. */
  APIC_WRITE: 6,
} as const;
/** A boot-script operation: one of the values of {@link BOOT_OP}. */
export type BootOp = (typeof BOOT_OP)[keyof typeof BOOT_OP];

interface ScriptOp {
  readonly kind: BootOp;
  readonly a: number;
  readonly b: number;
  readonly hook?: () => void;
}

/** The boot sequence: operations added once, then issued one per CPU step. */
export class BootScript {
  private readonly ops: ScriptOp[] = [];
  private readonly lapic: LapicDriver;

  constructor(lapic: LapicDriver) {
    this.lapic = lapic;
  }

  /** Appends an operation of `kind` with operands `a` and `b`. */
  add(kind: BootOp, a = 0, b = 0): void {
    this.ops.push({ kind, a, b });
  }

  /** Appends a {@link BOOT_OP.HOOK} that runs `hook`. */
  hook(hook: () => void): void {
    this.ops.push({ kind: BOOT_OP.HOOK, a: 0, b: 0, hook });
  }

  /** How many operations the script holds. */
  get length(): number {
    return this.ops.length;
  }

  /** Issues the operation at `frame.pc` (hooks run without one); returns false when the script is done. */
  step(cpu: CpuContext, frame: Frame): boolean {
    while (frame.pc < this.ops.length) {
      const op = this.ops[frame.pc++]!;
      switch (op.kind) {
        case BOOT_OP.HOOK:
          op.hook!();
          continue;
        case BOOT_OP.COMPUTE:
          cpu.compute(op.a);
          return true;
        case BOOT_OP.WRMSR:
          cpu.wrmsr(op.a, op.b >>> 0, 0);
          return true;
        case BOOT_OP.MMIO_WRITE:
          cpu.mmioWrite(op.a, 4, op.b >>> 0);
          return true;
        case BOOT_OP.APIC_WRITE:
          this.lapic.write(cpu, op.a, op.b);
          return true;
        case BOOT_OP.LIDT:
          cpu.lidt(op.a);
          return true;
        case BOOT_OP.STI:
          cpu.sti();
          return true;
      }
    }
    return false;
  }
}

/** What the reset routine runs: the boot script, then the idle loop. */
export interface BootKernel {
  /** Issues the next boot operation; false when boot is done. */
  bootStep(cpu: CpuContext, frame: Frame): boolean;
  /** One step of the idle loop and the application task. */
  mainStep(cpu: CpuContext, frame: Frame): void;
}

/** Where the reset routine is (`Frame.r1`): booting, or in the idle loop for good. */
export const BOOT_PHASE = {
  /** Issuing the boot script. */
  BOOTING: 0,
  /** In the idle loop. */
  RUNNING: 1,
} as const;

/** The reset entry (`start_kernel`): the boot script, then the idle loop and the application forever. */
export class BootRoutine implements Routine {
  readonly name = 'start_kernel';
  private readonly k: BootKernel;

  constructor(k: BootKernel) {
    this.k = k;
  }

  step(cpu: CpuContext, frame: Frame): void {
    if (frame.r1 === BOOT_PHASE.BOOTING) {
      if (this.k.bootStep(cpu, frame)) return;
      frame.r1 = BOOT_PHASE.RUNNING;
      frame.r0 = IDLE_STATE.DISABLE_IRQS;
    }
    this.k.mainStep(cpu, frame);
  }
}
