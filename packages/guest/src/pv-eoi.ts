/**
 * The guest's side of KVM's paravirtual EOI (Linux arch/x86/kernel/kvm.c, 3.6+): when CPUID
 * says the host offers it (KVM_FEATURE_PV_EOI), kvm_guest_cpu_init zeroes the per-CPU word
 * kvm_apic_eoi and writes its physical address with bit 0 (KVM_MSR_ENABLED) to
 * MSR_KVM_PV_EOI_EN; from then on the APIC driver's EOI is kvm_guest_apic_eoi_write, which
 * test-and-clears bit 0 of that word (`__test_and_clear_bit`: a BTR without LOCK, atomic with
 * respect to the local CPU, the only one the host touches it from) and skips the EOI write
 * when the bit was set. CPU-free, like the rest of the APIC driver: the caller's routine step
 * issues the one CPU operation.
 */
import type { Counter, ScopedStats } from '@exitless/sim';
import { type CpuContext, encodePvEoiMsr, KVM_PV_EOI, type PhysicalMemory } from '@exitless/x86';

/** What the guest kernel needs to use PV EOI (given only when the host offers it). */
export interface GuestPvEoiOptions {
  /** The test-and-clear of the flag when it was set: the whole cost of a skipped EOI, cycles. */
  readonly testAndClearCycles: number;
}

/** The guest's PV-EOI counters (under `<guest>.pv-eoi.`). */
export interface PvEoiGuestCounters {
  /** EOIs skipped because the host had set the flag (`skipped`). */
  readonly skipped: Counter;
  /** EOIs written to the LAPIC because the flag was clear (`written`). */
  readonly written: Counter;
}

/** kvm_apic_eoi and kvm_guest_apic_eoi_write. */
export class PvEoiGuest {
  /** Guest-physical address of the flag word (4-byte aligned). */
  readonly flagAddress: number;
  /** The guest's PV EOI counters. */
  readonly counters: PvEoiGuestCounters;
  private readonly memory: PhysicalMemory;
  private readonly cycles: number;

  constructor(memory: PhysicalMemory, flagAddress: number, options: GuestPvEoiOptions, stats: ScopedStats) {
    if (flagAddress % KVM_PV_EOI.ALIGNMENT !== 0)
      throw new RangeError('the PV-EOI flag must be 4-byte aligned');
    this.memory = memory;
    this.flagAddress = flagAddress;
    this.cycles = options.testAndClearCycles;
    this.counters = { skipped: stats.counter('skipped'), written: stats.counter('written') };
  }

  /** MSR_KVM_PV_EOI_EN's value as kvm_guest_cpu_init writes it: the flag's address with KVM_MSR_ENABLED (low half; the flag lies below 4 GiB). */
  get msrValue(): number {
    return encodePvEoiMsr(this.flagAddress, true).lo;
  }

  /** kvm_guest_cpu_init's `__this_cpu_write(kvm_apic_eoi, 0)`, before the MSR write. */
  zeroFlag(): void {
    this.memory.write32(this.flagAddress, 0);
  }

  /**
   * The start of kvm_guest_apic_eoi_write: test-and-clear bit 0. Set: the EOI is skipped, and
   * the test-and-clear is the operation issued (`compute`); returns true. Clear: returns false,
   * and the caller writes the EOI (the BTR's few cycles are not charged beside the write).
   */
  skipEoi(cpu: Pick<CpuContext, 'compute'>): boolean {
    const at = this.flagAddress;
    const byte = this.memory.read8(at);
    if ((byte & (1 << KVM_PV_EOI.FLAG_BIT)) === 0) {
      this.counters.written.inc();
      return false;
    }
    this.memory.write8(at, byte & ~(1 << KVM_PV_EOI.FLAG_BIT));
    this.counters.skipped.inc();
    cpu.compute(this.cycles);
    return true;
  }
}
