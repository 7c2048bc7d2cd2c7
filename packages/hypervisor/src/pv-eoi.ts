/**
 * `pv-eoi`: KVM's paravirtual EOI (Linux 3.6+, Michael S. Tsirkin's "KVM: host side for eoi
 * optimization") on top of baseline's device assignment. Sources: Documentation/virtual/kvm/
 * msr.txt (MSR_KVM_PV_EOI_EN), arch/x86/kvm/lapic.c (apic_sync_pv_eoi_to_guest,
 * apic_sync_pv_eoi_from_guest, pv_eoi_set_pending, pv_eoi_test_and_clr_pending,
 * kvm_lapic_set_pv_eoi — formerly kvm_lapic_enable_pv_eoi), arch/x86/kvm/x86.c (the MSR's
 * write: a refused value returns 1, which is #GP), arch/x86/kernel/kvm.c (the guest side:
 * kvm_guest_apic_eoi_write, in @exitless/guest).
 */
import type { Counter, ScopedStats } from '@exitless/sim';
import {
  APIC_REG,
  type CpuContext,
  EXCEPTION,
  EXIT_REASON,
  KVM_MSR,
  KVM_PV_EOI,
  MSR,
  type MsrValue,
} from '@exitless/x86';
import {
  type BaselineCosts,
  BaselineStrategy,
  injectPendingInterrupt,
  requestWindowIfPending,
} from './baseline.js';
import {
  EXIT_NOT_HANDLED,
  type ExitNotHandled,
  type InterruptVirtualization,
  type ProfileReader,
  type VcpuControl,
} from './strategy.js';

/** Cycles of the PV-EOI host paths (from the calibration profile). */
export interface PvEoiCosts extends BaselineCosts {
  /** Emulating the guest's RDMSR/WRMSR of MSR_KVM_PV_EOI_EN (kvm_set_msr_common / kvm_get_msr_common). */
  readonly msrEmulation: number;
  /** The EOI the host performs in the virtual LAPIC when the guest cleared the flag (apic_set_eoi). */
  readonly eoi: number;
}

/** The counters of `pv-eoi` (under its stats scope). */
export interface PvEoiCounters {
  /** Entries with the flag set: the guest may skip the EOI of the interrupt in service (`flag-set`). */
  readonly flagSet: Counter;
  /** Exits after which the host found the flag cleared and EOI'd in the guest's stead (`eois-skipped`). */
  readonly eoisSkipped: Counter;
  /** Exits after which the flag was still set (no EOI yet): the host cleared it again (`flag-withdrawn`). */
  readonly flagWithdrawn: Counter;
  /** Accepted writes of MSR_KVM_PV_EOI_EN (`msr-writes`). */
  readonly msrWrites: Counter;
  /** Refused writes (reserved bit 1, an address outside the guest's RAM): #GP (`msr-refused`). */
  readonly msrRefused: Counter;
}

/** PV EOI's state for one vCPU (KVM's vcpu->arch.pv_eoi and the bits of apic_attention it uses). */
export class PvEoiVcpuState {
  /** MSR_KVM_PV_EOI_EN as last accepted (pv_eoi.msr_val), as EDX:EAX halves. */
  msrLo = 0;
  /** Bits 63:32 of MSR_KVM_PV_EOI_EN as last accepted. */
  msrHi = 0;
  /** Guest-physical address of the flag while PV EOI is enabled, else −1. */
  flagAddress = -1;
  /** KVM_APIC_PV_EOI_PENDING: the host set the flag before the last entry. */
  pending = false;
  /**
   * KVM's highest_isr_cache: the vector the last injection put in service, as long as no EOI
   * has happened since (apic_set_isr sets it, apic_clear_isr resets it to −1); −1 otherwise.
   */
  isrCache = -1;
  /** Host cycles of a PV EOI done at an exit the strategy left to the hypervisor, charged at the next entry. */
  owedCycles = 0;
  /** Scratch for a TMR read (no allocation per entry). */
  readonly msr: MsrValue = { lo: 0, hi: 0 };
}

/** Why a write of MSR_KVM_PV_EOI_EN is refused, or null when it is accepted. */
export function pvEoiMsrFault(lo: number, hi: number, guestRamBytes: number): string | null {
  // kvm_lapic_set_pv_eoi: addr = data & ~KVM_MSR_ENABLED; if (!IS_ALIGNED(addr, 4)) return 1
  // — that is, bit 1 must be 0 (msr.txt: "Bit 1 is reserved and must be zero").
  if (((lo >>> 0) & KVM_PV_EOI.MSR_RESERVED) !== 0) return 'reserved bit 1 set';
  if (((lo >>> 0) & KVM_PV_EOI.MSR_ENABLED) === 0) return null;
  // Enabled: kvm_gfn_to_hva_cache_init must map the address; msr.txt: "a 4 byte memory area
  // which must be in guest RAM".
  const address = pvEoiFlagAddress(lo, hi);
  if (address + 4 > guestRamBytes) return `flag address 0x${address.toString(16)} is not in the guest's RAM`;
  return null;
}

/** The guest-physical address an MSR_KVM_PV_EOI_EN value names (bits 63:2). */
export function pvEoiFlagAddress(lo: number, hi: number): number {
  return (hi >>> 0) * 2 ** 32 + (((lo >>> 0) & ~(KVM_PV_EOI.MSR_ENABLED | KVM_PV_EOI.MSR_RESERVED)) >>> 0);
}

/**
 * KVM's paravirtual EOI, with baseline's delivery. The guest kernel, told by CPUID that the
 * host offers it (KVM_FEATURE_PV_EOI), writes MSR_KVM_PV_EOI_EN with the address of a flag
 * word in its RAM. Before each entry (kvm_lapic_sync_to_vapic → apic_sync_pv_eoi_to_guest)
 * the host sets the flag's bit 0 when nothing is pending in the virtual IRR, the vector in
 * service is the one the last injection put there (no EOI since: highest_isr_cache), and its
 * EOI need not reach an IOAPIC (the model's VMs have none; a vector whose TMR bit is set is
 * refused as level-triggered). The guest's EOI routine test-and-clears the bit: if it was
 * set, the guest skips its EOI write — no exit. After the next exit, whatever its reason
 * (kvm_lapic_sync_from_vapic → apic_sync_pv_eoi_from_guest), the host reads the flag: clear
 * means the guest EOI'd, so the host EOIs the virtual LAPIC itself (apic_set_eoi); still set
 * means it did not yet, so the host clears it (pv_eoi_test_and_clr_pending) and the guest's
 * later EOI exits as in baseline. Every other interrupt (nested, or with another pending)
 * keeps baseline's trapped EOI. The flag lives in guest memory: the host reads and writes it
 * through the VM's guest-physical map (`vm.memory`), one byte at bit 0 as KVM's
 * pv_eoi_get_user/put_user do.
 */
export class PvEoiStrategy implements InterruptVirtualization<PvEoiVcpuState> {
  readonly name: string = 'pv-eoi';
  /** The strategy's counters. */
  readonly counters: PvEoiCounters;
  private readonly costs: PvEoiCosts;
  private readonly baseline: BaselineStrategy;

  constructor(costs: PvEoiCosts, stats: ScopedStats) {
    this.costs = costs;
    this.baseline = new BaselineStrategy(costs);
    this.counters = {
      flagSet: stats.counter('flag-set'),
      eoisSkipped: stats.counter('eois-skipped'),
      flagWithdrawn: stats.counter('flag-withdrawn'),
      msrWrites: stats.counter('msr-writes'),
      msrRefused: stats.counter('msr-refused'),
    };
  }

  describe(): string {
    return 'baseline delivery (external-interrupt exiting, injection at entry); paravirtual EOI (MSR_KVM_PV_EOI_EN): the guest skips the EOI write when the host set its flag';
  }

  createVcpuState(_vcpu: VcpuControl): PvEoiVcpuState {
    return new PvEoiVcpuState();
  }

  /** Baseline's controls: MSR_KVM_PV_EOI_EN has no bit in the MSR bitmap, so its accesses always exit. */
  configureVcpu(cpu: CpuContext, vcpu: VcpuControl, _st: PvEoiVcpuState): void {
    this.baseline.configureVcpu(cpu, vcpu, null);
  }

  /** As baseline: an interrupt window for an interrupt pending behind the re-delivered event. */
  beforeRedeliveringEntry(cpu: CpuContext, vcpu: VcpuControl, _st: PvEoiVcpuState): number {
    return requestWindowIfPending(cpu, vcpu);
  }

  beforeEntry(cpu: CpuContext, vcpu: VcpuControl, st: PvEoiVcpuState): number {
    const apic = vcpu.apic;
    const before = apic.highestInService();
    let cycles = injectPendingInterrupt(cpu, vcpu, this.costs) + st.owedCycles;
    st.owedCycles = 0;
    // An injection acknowledged a vector above everything in service (it was above PPR):
    // it is the new highest in service (apic_set_isr's highest_isr_cache).
    const top = apic.highestInService();
    if (top !== before && top >= 0) st.isrCache = top;
    cycles += this.syncToGuest(vcpu, st);
    return cycles;
  }

  handleExit(
    cpu: CpuContext,
    vcpu: VcpuControl,
    reason: number,
    st: PvEoiVcpuState,
  ): number | ExitNotHandled {
    // vcpu_enter_guest syncs right after the exit, before the exit's own handler, so that an
    // EOI the guest skipped is done before anything reads or changes the virtual LAPIC.
    const synced = this.syncFromGuest(vcpu, st);
    if (
      (reason === EXIT_REASON.WRMSR || reason === EXIT_REASON.RDMSR) &&
      cpu.rcx >>> 0 === KVM_MSR.PV_EOI_EN
    ) {
      const cycles = synced + this.costs.msrEmulation;
      if (reason === EXIT_REASON.RDMSR) vcpu.completeRead(st.msrLo, st.msrHi);
      else this.writeMsr(vcpu, st, cpu.rax >>> 0, cpu.rdx >>> 0);
      return cycles;
    }
    st.owedCycles += synced;
    return EXIT_NOT_HANDLED;
  }

  /** A trapped EOI ended `vector`: apic_clear_isr resets highest_isr_cache. */
  onVirtualEoi(_cpu: CpuContext, _vcpu: VcpuControl, _vector: number, st: PvEoiVcpuState): number {
    st.isrCache = -1;
    return 0;
  }

  assignedInterrupt(vcpu: VcpuControl, guestVector: number, _st: PvEoiVcpuState): number {
    vcpu.apic.raise(guestVector);
    return 0;
  }

  // ---- the flag --------------------------------------------------------------------------

  /** apic_sync_pv_eoi_to_guest: sets the flag (pv_eoi_set_pending) when the guest may skip this EOI. Returns cycles (0). */
  private syncToGuest(vcpu: VcpuControl, st: PvEoiVcpuState): number {
    if (st.flagAddress < 0 || st.pending) return 0;
    const apic = vcpu.apic;
    // IRR set or several in service: could be nested. No cached vector: could be safe, but
    // KVM does not bother. Level-triggered (an IOAPIC would need the EOI): never.
    if (apic.highestPending() >= 0 || st.isrCache < 0) return 0;
    if (apic.highestInService() !== st.isrCache || this.levelTriggered(vcpu, st, st.isrCache)) return 0;
    vcpu.vm.memory.write8(st.flagAddress, KVM_PV_EOI.FLAG_ENABLED);
    st.pending = true;
    this.counters.flagSet.inc();
    // The put_user of one byte through KVM's gfn_to_hva cache is part of entryPrepare.
    return 0;
  }

  /**
   * apic_sync_pv_eoi_from_guest: after an exit that followed an entry with the flag set, read
   * it. Cleared by the guest: it EOI'd, so the host EOIs the virtual LAPIC. Still set: clear
   * it (the guest's EOI, when it comes, exits). Either way nothing is pending any more; the
   * next entry decides afresh. Returns cycles.
   */
  private syncFromGuest(vcpu: VcpuControl, st: PvEoiVcpuState): number {
    if (!st.pending) return 0;
    st.pending = false;
    const memory = vcpu.vm.memory;
    if ((memory.read8(st.flagAddress) & KVM_PV_EOI.FLAG_ENABLED) !== 0) {
      memory.write8(st.flagAddress, KVM_PV_EOI.FLAG_DISABLED);
      this.counters.flagWithdrawn.inc();
      return 0;
    }
    const apic = vcpu.apic;
    if (apic.x2apicMode) apic.writeMsr(MSR.X2APIC_EOI, 0, 0);
    else apic.writeMmio(APIC_REG.EOI, 0);
    st.isrCache = -1;
    this.counters.eoisSkipped.inc();
    return this.costs.eoi;
  }

  /** The vector's bit in the virtual TMR (SDM §10.8.4: set for a level-triggered interrupt). */
  private levelTriggered(vcpu: VcpuControl, st: PvEoiVcpuState, vector: number): boolean {
    const apic = vcpu.apic;
    let word = 0;
    if (apic.x2apicMode) {
      if (!apic.readMsr(MSR.X2APIC_TMR0 + (vector >>> 5), st.msr)) return false;
      word = st.msr.lo;
    } else {
      word = apic.readMmio(APIC_REG.TMR0 + (vector >>> 5) * 0x10);
    }
    return ((word >>> (vector & 31)) & 1) !== 0;
  }

  /**
   * The guest's WRMSR of MSR_KVM_PV_EOI_EN (x86.c kvm_set_msr_common → kvm_lapic_set_pv_eoi):
   * reserved bit 1 set, or enabled with an address outside the guest's RAM, is refused with
   * #GP(0) and changes nothing; otherwise the value is kept (RDMSR returns it) and PV EOI is on
   * (bit 0) or off. KVM accepts any guest-physical address it has a memory slot for, which
   * under VFIO includes an assigned device's mapped BAR; the model accepts guest RAM only, as
   * msr.txt requires, so the host never writes the flag into a device's registers.
   */
  private writeMsr(vcpu: VcpuControl, st: PvEoiVcpuState, lo: number, hi: number): void {
    if (pvEoiMsrFault(lo, hi, vcpu.vm.config.memorySize) !== null) {
      this.counters.msrRefused.inc();
      vcpu.queueException(EXCEPTION.GP, 0);
      return;
    }
    this.counters.msrWrites.inc();
    st.msrLo = lo >>> 0;
    st.msrHi = hi >>> 0;
    st.flagAddress = (lo & KVM_PV_EOI.MSR_ENABLED) !== 0 ? pvEoiFlagAddress(lo, hi) : -1;
  }
}

/** What `pvEoiStrategy` needs: the calibration profile and where to count. */
export interface PvEoiStrategyOptions {
  /** Reads a profile entry by key: `host.injection`, `host.msrEmulation`, `host.eoiEmulation`. */
  readonly value: ProfileReader;
  /** Where the mode's counters go (`flag-set`, `eois-skipped`, `flag-withdrawn`, `msr-writes`, `msr-refused`). */
  readonly stats: ScopedStats;
}

/** The `pv-eoi` mode's strategy, its costs from the calibration profile. */
export function pvEoiStrategy(options: PvEoiStrategyOptions): PvEoiStrategy {
  const v = options.value;
  return new PvEoiStrategy(
    { injection: v('host.injection'), msrEmulation: v('host.msrEmulation'), eoi: v('host.eoiEmulation') },
    options.stats,
  );
}
