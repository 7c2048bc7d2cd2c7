import { LocalApicDevice } from '@exitless/lapic';
import { describeLocalApicConformance } from '@exitless/lapic/conformance';
import type { Simulator } from '@exitless/sim';
import type {
  ApicBus,
  InterruptLineListener,
  InterruptMessage,
  LocalApic,
  MmioSize,
  MsrAccessResult,
  MsrValue,
} from '@exitless/x86';
import { describe, expect, it } from 'vitest';
import { Machine, runMachine } from '../src/index.js';

/**
 * A user's own LAPIC, written here and not in any package: it keeps its own count of the
 * INTA cycles and EOIs the CPU makes and delegates the register model to an inner device,
 * which sits on the bus (so an IPI's sender is the APIC that sent it). The CPU and the
 * machine reach only this object.
 */
class AuditingLapic implements LocalApic {
  readonly inner: LocalApicDevice;
  acknowledges = 0;
  eoiWrites = 0;

  constructor(o: {
    sim: Simulator;
    bus: ApicBus;
    apicId: number;
    tscHz: number;
    timerHz: number;
    bsp: boolean;
  }) {
    this.inner = new LocalApicDevice(o);
  }

  get apicId(): number {
    return this.inner.apicId;
  }
  get x2apicMode(): boolean {
    return this.inner.x2apicMode;
  }
  get enabled(): boolean {
    return this.inner.enabled;
  }
  get arbitrationPriority(): number {
    return this.inner.arbitrationPriority;
  }
  matchesDestination(destination: number, destMode: number, x2apic: boolean): boolean {
    return this.inner.matchesDestination(destination, destMode, x2apic);
  }
  acceptInterrupt(message: InterruptMessage): void {
    this.inner.acceptInterrupt(message);
  }
  hasInterrupt(): boolean {
    return this.inner.hasInterrupt();
  }
  acknowledge(): number {
    this.acknowledges++;
    return this.inner.acknowledge();
  }
  hasNmi(): boolean {
    return this.inner.hasNmi();
  }
  acknowledgeNmi(): void {
    this.inner.acknowledgeNmi();
  }
  connect(listener: InterruptLineListener): void {
    this.inner.connect(listener);
  }
  ownsMsr(index: number): boolean {
    return this.inner.ownsMsr(index);
  }
  readMsr(index: number, out: MsrValue): MsrAccessResult {
    return this.inner.readMsr(index, out);
  }
  writeMsr(index: number, lo: number, hi: number): MsrAccessResult {
    if (index === 0x80b) this.eoiWrites++;
    return this.inner.writeMsr(index, lo, hi);
  }
  mmioRead(offset: number, size: MmioSize): number {
    return this.inner.mmioRead(offset, size);
  }
  mmioWrite(offset: number, size: MmioSize, value: number): void {
    if (offset === 0xb0) this.eoiWrites++;
    this.inner.mmioWrite(offset, size, value);
  }
}

describeLocalApicConformance('a user-written auditing LAPIC', (o) => new AuditingLapic(o));

describe('a machine with the user-written LAPIC', () => {
  it('runs netperf on bare metal and baseline with no change to any package', () => {
    let made: AuditingLapic | null = null;
    const factory = (o: ConstructorParameters<typeof AuditingLapic>[0]) => {
      made = new AuditingLapic(o);
      return made;
    };
    const bare = runMachine(new Machine({ mode: 'bare-metal', lapicFactory: factory }), {
      durationMs: 3,
      warmupMs: 1,
    });
    expect(bare.throughput.value).toBeGreaterThan(1000);
    expect(made!.acknowledges).toBeGreaterThan(0);
    // Bare metal: the guest's EOIs go straight to this LAPIC (x2APIC MSR 0x80B).
    expect(made!.eoiWrites).toBeGreaterThanOrEqual(bare.assignedInterrupts);
    const base = runMachine(new Machine({ mode: 'baseline', lapicFactory: factory }), {
      durationMs: 3,
      warmupMs: 1,
    });
    expect(base.throughput.value).toBeGreaterThan(1000);
    expect(base.exitsPerAssignedInterrupt).toBeGreaterThan(1.8);
    // Baseline: the host acknowledges the interrupt (through its IDT, after the exit) and EOIs its own vector at this LAPIC.
    expect(made!.acknowledges).toBeGreaterThan(0);
    expect(made!.eoiWrites).toBeGreaterThan(0);
  });
});
