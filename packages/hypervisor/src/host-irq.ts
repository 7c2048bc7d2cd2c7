import { type CpuContext, type Frame, high32, low32, MSR, type Routine } from '@exitless/x86';
import type { HostCosts } from './costs.js';

/** WRMSR IA32_TSC_DEADLINE with a TSC value (EDX:EAX). */
export function writeDeadline(cpu: CpuContext, tsc: number): void {
  cpu.wrmsr(MSR.IA32_TSC_DEADLINE, low32(tsc), high32(tsc));
}

/** What a host interrupt handler needs of the host kernel. */
export interface HostIrqHost {
  readonly costs: HostCosts;
  /** The TSC-deadline time (ps) the host must program next on `pcpu`, or −1 when nothing changed. */
  nextDeadline(pcpu: number): number;
  /** A time in ps as a TSC value. */
  tscAt(ps: number): number;
}

/** Program counters of a host interrupt handler. */
const IRQ = {
  ENTRY: 0,
  REPROGRAM_TIMER: 1,
  EOI: 2,
  EXIT: 3,
  IRET: 4,
  /** `eoi: 'if-in-service'`: the ISR word read; EOI only if the vector's bit is set. */
  CHECK_ISR: 5,
} as const;

/**
 * When a handler EOIs: always, never (the spurious vector), or only when its vector is in
 * service (Linux's smp_spurious_interrupt: a real interrupt on the spurious vector sets its
 * ISR bit and needs an EOI, a spurious one does not, SDM vol. 3 §10.9).
 */
export type HostIrqEoi = boolean | 'if-in-service';

/**
 * A host interrupt handler: interrupt entry and the handler's own work (`body`, which
 * returns its cycles), optionally a new TSC deadline for the host's hrtimers, the EOI
 * (not for the spurious vector, SDM §10.9), interrupt exit, IRET.
 */
export class HostIrqRoutine implements Routine {
  readonly name: string;
  private readonly host: HostIrqHost;
  private readonly body: (cpu: CpuContext, vector: number) => number;
  private readonly reprogramTimer: boolean;
  private readonly eoi: HostIrqEoi;
  private readonly onInService: ((cpu: CpuContext, vector: number) => void) | undefined;

  constructor(
    host: HostIrqHost,
    name: string,
    body: (cpu: CpuContext, vector: number) => number,
    options: {
      readonly reprogramTimer: boolean;
      readonly eoi: HostIrqEoi;
      /** With `eoi: 'if-in-service'`: runs when the vector was in service (a real interrupt), before its EOI. */
      readonly onInService?: (cpu: CpuContext, vector: number) => void;
    },
  ) {
    this.host = host;
    this.name = name;
    this.body = body;
    this.reprogramTimer = options.reprogramTimer;
    this.eoi = options.eoi;
    this.onInService = options.onInService;
  }

  step(cpu: CpuContext, f: Frame): void {
    const host = this.host;
    for (;;) {
      switch (f.pc) {
        case IRQ.ENTRY:
          f.pc = IRQ.REPROGRAM_TIMER;
          cpu.compute(host.costs.irqEntry + this.body(cpu, f.vector));
          return;
        case IRQ.REPROGRAM_TIMER: {
          f.pc = IRQ.EOI;
          const t = this.reprogramTimer ? host.nextDeadline(cpu.id) : -1;
          if (t < 0) continue;
          writeDeadline(cpu, host.tscAt(t));
          return;
        }
        case IRQ.EOI:
          if (this.eoi === 'if-in-service') {
            f.pc = IRQ.CHECK_ISR;
            cpu.rdmsr(MSR.X2APIC_ISR0 + (f.vector >>> 5));
            return;
          }
          f.pc = IRQ.EXIT;
          if (!this.eoi) continue;
          cpu.wrmsr(MSR.X2APIC_EOI, 0, 0);
          return;
        case IRQ.CHECK_ISR:
          f.pc = IRQ.EXIT;
          if (((cpu.resultLo >>> (f.vector & 31)) & 1) === 0) continue;
          this.onInService?.(cpu, f.vector);
          cpu.wrmsr(MSR.X2APIC_EOI, 0, 0);
          return;
        case IRQ.EXIT:
          f.pc = IRQ.IRET;
          cpu.compute(host.costs.irqExit);
          return;
        default:
          cpu.iret();
          return;
      }
    }
  }
}
