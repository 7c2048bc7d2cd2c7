/**
 * `posted`: Intel APICv with posted interrupts, as KVM runs it with VT-d on Linux 4.x–5.x.
 * Sources (read, not copied): arch/x86/kvm/vmx/vmx.c (vmx_compute_secondary_exec_control,
 * vmx_update_msr_bitmap_x2apic, vmx_deliver_posted_interrupt, vmx_sync_pir_to_irr,
 * vmx_hwapic_irr_update, handle_apic_eoi_induced, vmx_update_pi_irte), arch/x86/kvm/vmx/
 * posted_intr.c (vmx_vcpu_pi_load, vmx_vcpu_pi_put, pi_pre_block, pi_post_block,
 * pi_wakeup_handler), arch/x86/kvm/lapic.c (kvm_apic_update_irr, __apic_accept_irq),
 * arch/x86/kernel/irq.c (smp_kvm_posted_intr_ipi, smp_kvm_posted_intr_wakeup_ipi), and the
 * Intel SDM vol. 3 ch. 29 and VT-d §5.2.3, §9.11–9.12 for the formats.
 */
import type { Counter, ScopedStats } from '@exitless/sim';
import {
  type CpuContext,
  EXIT_CONTROLS,
  EXIT_REASON,
  GUEST_INTERRUPT_STATUS_BITS,
  isX2apicMsr,
  MSR,
  type MsrValue,
  msrBitmapPosition,
  type PhysicalMemory,
  POSTED_INTERRUPT_DESCRIPTOR as PID,
  PIN_BASED,
  PROC_BASED,
  PROC_BASED2,
  VMCS_FIELD,
} from '@exitless/x86';
import type { BaselineCosts } from './baseline.js';
import { HOST_VECTOR } from './layout.js';
import {
  EXIT_NOT_HANDLED,
  type ExitNotHandled,
  type InterruptVirtualization,
  type ProfileReader,
  type VcpuControl,
} from './strategy.js';

/** Virtual-APIC page offsets (SDM vol. 3 §29.1.1): VTPR, VPPR, VISR, VIRR (eight dwords 16 bytes apart). */
const PAGE = { TPR: 0x80, PPR: 0xa0, ISR0: 0x100, IRR0: 0x200 } as const;

/**
 * x2APIC registers whose reads pass through to the virtual-APIC page with APIC-register
 * virtualization (SDM §29.5): the ones the x2APIC lets software read (SDM vol. 3 table
 * 10-6). KVM of 4.x–5.x passed every read of 800H–8FFH through except the current count;
 * the model keeps the write-only (EOI, SELF IPI) and reserved ones intercepted too, so that
 * a read the x2APIC refuses still raises #GP(0) as on bare metal. The current count (839H)
 * is intercepted as in KVM: its value lives on the host's hrtimer, not on the page.
 */
const READ_THROUGH: readonly number[] = [
  0x802, 0x803, 0x808, 0x80a, 0x80d, 0x80f, 0x810, 0x811, 0x812, 0x813, 0x814, 0x815, 0x816, 0x817, 0x818,
  0x819, 0x81a, 0x81b, 0x81c, 0x81d, 0x81e, 0x81f, 0x820, 0x821, 0x822, 0x823, 0x824, 0x825, 0x826, 0x827,
  0x828, 0x82f, 0x830, 0x832, 0x833, 0x834, 0x835, 0x836, 0x837, 0x838, 0x83e,
];

/**
 * Registers the host's emulated LAPIC keeps (ID, version, LDR, SVR, TMR, ESR, the LVT, ICR,
 * the timer's initial count and divide configuration) and copies onto the page, where the
 * guest reads them: every readable one except those the page itself owns with APICv (TPR,
 * PPR, ISR, IRR), which the host never writes.
 */
const MIRRORED: readonly number[] = READ_THROUGH.filter(
  (m) => m !== 0x808 && m !== 0x80a && !(m >= 0x810 && m <= 0x817) && !(m >= 0x820 && m <= 0x827),
);

/** x2APIC writes the CPU virtualizes with virtual-interrupt delivery (SDM §29.5): TPR, EOI, SELF IPI. */
const WRITE_THROUGH: readonly number[] = [MSR.X2APIC_TPR, MSR.X2APIC_EOI, MSR.X2APIC_SELF_IPI];

// ---- the posted-interrupt descriptor (SDM vol. 3 §29.6, VT-d §9.12) ------------------------

/** Writes a fresh 64-byte descriptor at `address`: PIR empty, ON = SN = 0, NV and NDST as given. */
export function initPostedDescriptor(
  memory: PhysicalMemory,
  address: number,
  nv: number,
  ndst: number,
): void {
  for (let i = 0; i < PID.SIZE; i += 4) memory.write32(address + i, 0);
  memory.write32(address + PID.CONTROL, ((nv & 0xff) << PID.NV_SHIFT) >>> 0);
  memory.write32(address + PID.NDST, ndst >>> 0);
}

/** The descriptor's control dword (ON bit 0, SN bit 1, NV bits 23:16). */
export function descriptorControl(memory: PhysicalMemory, address: number): number {
  return memory.read32(address + PID.CONTROL) >>> 0;
}

/** Sets NV (and NDST) as KVM's pi_pre_block / pi_post_block do with a cmpxchg; ON, SN and PIR are kept. */
export function setNotification(memory: PhysicalMemory, address: number, nv: number, ndst: number): void {
  const control = descriptorControl(memory, address);
  memory.write32(
    address + PID.CONTROL,
    ((control & ~(0xff << PID.NV_SHIFT)) | ((nv & 0xff) << PID.NV_SHIFT)) >>> 0,
  );
  memory.write32(address + PID.NDST, ndst >>> 0);
}

/** Sets or clears one bit of the control dword (pi_set_sn, pi_clear_sn, pi_set_on: locked bit operations). */
export function setControlBit(memory: PhysicalMemory, address: number, bit: number, on: boolean): void {
  const control = descriptorControl(memory, address);
  memory.write32(address + PID.CONTROL, (on ? control | bit : control & ~bit) >>> 0);
}

/** The highest vector set in the descriptor's PIR, or −1. */
export function highestPir(memory: PhysicalMemory, address: number): number {
  for (let i = 7; i >= 0; i--) {
    const w = memory.read32(address + PID.PIR + 4 * i) >>> 0;
    if (w !== 0) return 32 * i + 31 - Math.clz32(w);
  }
  return -1;
}

/** pi_test_and_set_pir + pi_test_and_set_on: the host posts `vector` (vmx_deliver_posted_interrupt). */
export function postInterrupt(memory: PhysicalMemory, address: number, vector: number): void {
  const at = address + PID.PIR + 4 * (vector >>> 5);
  memory.write32(at, (memory.read32(at) | (1 << (vector & 31))) >>> 0);
  setControlBit(memory, address, PID.ON, true);
}

/**
 * vmx_sync_pir_to_irr when ON is set: ON cleared, then PIR moved into the page's VIRR and
 * cleared, a dword at a time (kvm_apic_update_irr, __kvm_apic_update_irr's xchg). Returns
 * the highest vector in VIRR afterwards (−1 if none), or −2 when ON was clear (nothing done).
 */
export function syncPirToVirr(memory: PhysicalMemory, descriptor: number, page: number): number {
  if ((descriptorControl(memory, descriptor) & PID.ON) === 0) return -2;
  setControlBit(memory, descriptor, PID.ON, false);
  let highest = -1;
  for (let i = 7; i >= 0; i--) {
    const pirAt = descriptor + PID.PIR + 4 * i;
    const virrAt = page + PAGE.IRR0 + 16 * i;
    const pir = memory.read32(pirAt) >>> 0;
    const virr = (memory.read32(virrAt) | pir) >>> 0;
    if (pir !== 0) {
      memory.write32(pirAt, 0);
      memory.write32(virrAt, virr);
    }
    if (highest < 0 && virr !== 0) highest = 32 * i + 31 - Math.clz32(virr);
  }
  return highest;
}

// ---- the strategy ------------------------------------------------------------------------

/** The counters of `posted` (under its stats scope). */
export interface PostedCounters {
  /** Notifications (0xF2) the host took in root operation: the vCPU was not in guest mode (`notifications-in-host`). */
  readonly notificationsInHost: Counter;
  /** Wake-up vector (0xF1) interrupts the host took (`wakeup-interrupts`). */
  readonly wakeupInterrupts: Counter;
  /** Of those, the ones that found the blocked vCPU's ON set and kicked it (`wakeup-kicks`). */
  readonly wakeupKicks: Counter;
  /** Entries before which software moved PIR into VIRR (ON was set: `pir-syncs`). */
  readonly pirSyncs: Counter;
  /** Interrupts the host raised (the emulated timer, IPIs, a remapped VF message) posted into the PIR (`host-posted`). */
  readonly hostPosted: Counter;
  /** Blocks after a HLT exit (`blocks`); of those, the ones that found ON already set (`blocks-on-set`). */
  readonly blocks: Counter;
  /** Blocks after a HLT exit that found ON already set (`blocks-on-set`). */
  readonly blocksOnSet: Counter;
  /** Preemptions of the vCPU thread: SN set (`sn-set`). */
  readonly snSet: Counter;
  /** EOI-induced exits (reason 45): none while the EOI-exit bitmap is empty (`eoi-exits`). */
  readonly eoiExits: Counter;
}

/** The posted mode's state for one vCPU. */
export class PostedVcpuState {
  /** Host-physical addresses of the virtual-APIC page and the posted-interrupt descriptor. */
  readonly page: number;
  /** Host-physical address of the posted-interrupt descriptor. */
  readonly descriptor: number;
  /** Whether the x2APIC MSRs are virtualized now (the guest's LAPIC is in x2APIC mode). */
  x2apic = false;
  /** The host's emulated registers changed (a trapped write): copy them onto the page before the next entry. */
  mirror = true;
  /** Blocked after a HLT exit: NV is the wake-up vector. */
  blocked = false;
  /** Scratch MSR value. */
  readonly msr: MsrValue = { lo: 0, hi: 0 };

  constructor(vcpu: VcpuControl) {
    this.page = vcpu.virtualApicAddress;
    this.descriptor = vcpu.postedDescriptorAddress;
  }
}

/**
 * Intel APICv with posted interrupts and VT-d posting, as KVM uses them. The virtual-APIC page
 * is the guest's IRR, ISR, TPR and PPR (VIRR, VISR, VTPR, VPPR; RVI and SVI in the guest
 * interrupt status): the CPU delivers virtual interrupts (§29.2), virtualizes the guest's TPR,
 * EOI and self-IPI writes and its x2APIC reads (§29.5) with no exit, and the EOI-exit bitmap
 * is empty (the VMs have no IOAPIC, so no EOI needs the host; KVM sets bits only for
 * level-triggered IOAPIC routes and the RTC's vector, never for the LAPIC timer). The host's
 * emulated LAPIC keeps only what the CPU does not virtualize (the LVT, the timer, ICR, SVR…),
 * copied onto the page after each trapped write; the interrupts the host raises there (its
 * timer, an IPI) are moved into the PIR with ON set, as __apic_accept_irq posts them, and the
 * PIR into VIRR before every entry (vmx_sync_pir_to_irr), RVI raised. With one vCPU per
 * physical CPU the host raises them only while that vCPU is out of guest mode, so no
 * self-notification is ever needed (kvm_vcpu_trigger_posted_interrupt would find the vCPU not
 * IN_GUEST_MODE). The VF's MSI-X entries get posted-format IRTEs with the guest's vector
 * and this descriptor: the IOMMU sets PIR and ON and sends NV to NDST — processed by the CPU
 * in guest mode with no exit; taken by the host as an ordinary interrupt (0xF2, EOI only)
 * while the vCPU is in the host; the wake-up vector 0xF1 while it is blocked on HLT (NV
 * switched by pre_block); nothing at all while it is preempted (SN set by vcpu_put).
 */
export class PostedStrategy implements InterruptVirtualization<PostedVcpuState> {
  readonly name: string = 'posted';
  readonly postsAssignedInterrupts = true;
  readonly hostVectors: readonly number[] = [HOST_VECTOR.POSTED_INTR, HOST_VECTOR.POSTED_INTR_WAKEUP];
  /** The strategy's counters. */
  readonly counters: PostedCounters;
  private readonly costs: PostedCosts;

  constructor(costs: PostedCosts, stats: ScopedStats) {
    this.costs = costs;
    this.counters = {
      notificationsInHost: stats.counter('notifications-in-host'),
      wakeupInterrupts: stats.counter('wakeup-interrupts'),
      wakeupKicks: stats.counter('wakeup-kicks'),
      pirSyncs: stats.counter('pir-syncs'),
      hostPosted: stats.counter('host-posted'),
      blocks: stats.counter('blocks'),
      blocksOnSet: stats.counter('blocks-on-set'),
      snSet: stats.counter('sn-set'),
      eoiExits: stats.counter('eoi-exits'),
    };
  }

  describe(): string {
    return 'APICv (virtual-interrupt delivery, EOI/TPR/self-IPI virtualization, APIC-register virtualization) with posted interrupts; VT-d posted IRTEs for the VF; wake-up vector for halted vCPUs, SN while preempted';
  }

  createVcpuState(vcpu: VcpuControl): PostedVcpuState {
    return new PostedVcpuState(vcpu);
  }

  configureVcpu(cpu: CpuContext, vcpu: VcpuControl, st: PostedVcpuState): void {
    const set = (field: number, value: number) => cpu.vmwrite(field, vcpu.adjustControl(field, value));
    set(
      VMCS_FIELD.PIN_BASED_VM_EXEC_CONTROL,
      PIN_BASED.EXTERNAL_INTERRUPT_EXITING | PIN_BASED.NMI_EXITING | PIN_BASED.PROCESS_POSTED_INTERRUPTS,
    );
    set(
      VMCS_FIELD.CPU_BASED_VM_EXEC_CONTROL,
      PROC_BASED.HLT_EXITING |
        PROC_BASED.USE_MSR_BITMAPS |
        PROC_BASED.USE_TPR_SHADOW |
        PROC_BASED.ACTIVATE_SECONDARY_CONTROLS,
    );
    // "Virtualize x2APIC mode" follows the guest's LAPIC mode (beforeEntry), as KVM's
    // vmx_set_virtual_apic_mode does.
    set(
      VMCS_FIELD.SECONDARY_VM_EXEC_CONTROL,
      PROC_BASED2.APIC_REGISTER_VIRTUALIZATION | PROC_BASED2.VIRTUAL_INTERRUPT_DELIVERY,
    );
    set(
      VMCS_FIELD.VM_EXIT_CONTROLS,
      EXIT_CONTROLS.HOST_ADDRESS_SPACE_SIZE | EXIT_CONTROLS.ACKNOWLEDGE_INTERRUPT_ON_EXIT,
    );
    cpu.vmwrite(VMCS_FIELD.EXCEPTION_BITMAP, 0);
    const memory = vcpu.vm.hostMemory;
    for (let i = 0; i < 4096; i += 4) memory.write32(st.page + i, 0);
    initPostedDescriptor(memory, st.descriptor, HOST_VECTOR.POSTED_INTR, vcpu.pcpuApicId);
    cpu.vmwrite(VMCS_FIELD.VIRTUAL_APIC_PAGE_ADDR, st.page);
    cpu.vmwrite(VMCS_FIELD.TPR_THRESHOLD, 0);
    cpu.vmwrite(VMCS_FIELD.POSTED_INTR_NOTIFICATION_VECTOR, HOST_VECTOR.POSTED_INTR);
    cpu.vmwrite(VMCS_FIELD.POSTED_INTR_DESC_ADDR, st.descriptor);
    // No vector's EOI needs the host (no IOAPIC, no level-triggered route): the bitmap is empty.
    cpu.vmwrite(VMCS_FIELD.EOI_EXIT_BITMAP0, 0);
    cpu.vmwrite(VMCS_FIELD.EOI_EXIT_BITMAP1, 0);
    cpu.vmwrite(VMCS_FIELD.EOI_EXIT_BITMAP2, 0);
    cpu.vmwrite(VMCS_FIELD.EOI_EXIT_BITMAP3, 0);
    cpu.vmwrite(VMCS_FIELD.GUEST_INTERRUPT_STATUS, 0);
    // The page starts as the emulated LAPIC's state: its TPR (the rest is mirrored before entry).
    memory.write32(st.page + PAGE.TPR, vcpu.apic.taskPriority & 0xff);
    st.x2apic = false;
    st.mirror = true;
    st.blocked = false;
  }

  beforeEntry(cpu: CpuContext, vcpu: VcpuControl, st: PostedVcpuState): number {
    const apic = vcpu.apic;
    const memory = vcpu.vm.hostMemory;
    if (apic.x2apicMode !== st.x2apic) this.switchX2apic(cpu, vcpu, st, apic.x2apicMode);
    if (st.mirror) this.mirror(vcpu, st);
    // __apic_accept_irq with APICv: what the host raised in its emulated LAPIC is posted.
    for (let v = apic.takePending(); v >= 0; v = apic.takePending()) {
      postInterrupt(memory, st.descriptor, v);
      this.counters.hostPosted.inc();
    }
    // vmx_sync_pir_to_irr, then vmx_hwapic_irr_update: RVI = the highest VIRR bit.
    const highest = syncPirToVirr(memory, st.descriptor, st.page);
    if (highest === -2) return 0;
    this.counters.pirSyncs.inc();
    const status = cpu.vmread(VMCS_FIELD.GUEST_INTERRUPT_STATUS);
    const rvi = Math.max(0, highest);
    if ((status & GUEST_INTERRUPT_STATUS_BITS.RVI_MASK) !== rvi) {
      cpu.vmwrite(
        VMCS_FIELD.GUEST_INTERRUPT_STATUS,
        (status & ~GUEST_INTERRUPT_STATUS_BITS.RVI_MASK & 0xffff) | rvi,
      );
    }
    return this.costs.injection;
  }

  handleExit(
    cpu: CpuContext,
    _vcpu: VcpuControl,
    reason: number,
    st: PostedVcpuState,
  ): number | ExitNotHandled {
    if (reason === EXIT_REASON.WRMSR) {
      // A trapped write changes the emulated registers (or the LAPIC's mode): the page's copy
      // is refreshed before the next entry. The hypervisor's handler emulates the write.
      const index = cpu.rcx >>> 0;
      if (isX2apicMsr(index) || index === MSR.IA32_APIC_BASE) st.mirror = true;
      return EXIT_NOT_HANDLED;
    }
    if (reason === EXIT_REASON.VIRTUALIZED_EOI) {
      // handle_apic_eoi_induced: the EOI is done on the page; only a level-triggered route
      // would need the host. The bitmap is empty, so this is never expected; counted.
      this.counters.eoiExits.inc();
      return this.costs.eoi;
    }
    return EXIT_NOT_HANDLED;
  }

  /** Trapped EOIs do not happen with EOI virtualization (x2APIC EOI writes pass through). */
  onVirtualEoi(_cpu: CpuContext, _vcpu: VcpuControl, _vector: number, _st: PostedVcpuState): number {
    return 0;
  }

  /**
   * A VF message the host took on a remapped IRTE (one the guest programmed in a way VT-d
   * cannot post: a broadcast, a logical destination…): raised in the emulated LAPIC, posted
   * into the PIR before the next entry.
   */
  assignedInterrupt(vcpu: VcpuControl, guestVector: number, _st: PostedVcpuState): number {
    vcpu.apic.raise(guestVector);
    return 0;
  }

  /**
   * 0xF2 in root operation (smp_kvm_posted_intr_ipi): nothing but the EOI — the PIR is synced
   * at the next entry. 0xF1 (pi_wakeup_handler): the blocked vCPU whose ON is set is kicked —
   * the host loop's runnable check, right after this handler, wakes it.
   */
  hostInterrupt(_pcpu: number, vector: number, vcpu: VcpuControl | null, st: PostedVcpuState | null): number {
    if (vector === HOST_VECTOR.POSTED_INTR) {
      this.counters.notificationsInHost.inc();
      return 0;
    }
    this.counters.wakeupInterrupts.inc();
    if (vcpu === null || st === null || !st.blocked) return 0;
    if ((descriptorControl(vcpu.vm.hostMemory, st.descriptor) & PID.ON) !== 0)
      this.counters.wakeupKicks.inc();
    return 0;
  }

  /**
   * kvm_cpu_has_interrupt with APICv: the highest of VIRR, the PIR (synced first in KVM) and
   * what the host raised in its emulated LAPIC, against VPPR (SDM §29.2.1's class test).
   */
  hasInterrupt(vcpu: VcpuControl, st: PostedVcpuState): boolean {
    const memory = vcpu.vm.hostMemory;
    let top = Math.max(highestPir(memory, st.descriptor), vcpu.apic.highestPending());
    for (let i = 7; i >= 0 && top < 32 * i; i--) {
      const w = memory.read32(st.page + PAGE.IRR0 + 16 * i) >>> 0;
      if (w !== 0) {
        top = Math.max(top, 32 * i + 31 - Math.clz32(w));
        break;
      }
    }
    if (top < 0) return false;
    const vppr = memory.read32(st.page + PAGE.PPR) & 0xff;
    return top >>> 4 > vppr >>> 4;
  }

  /** pi_pre_block: NDST = this CPU, NV = the wake-up vector (the vCPU joins this CPU's wake-up list). */
  preBlock(vcpu: VcpuControl, st: PostedVcpuState): void {
    const memory = vcpu.vm.hostMemory;
    setNotification(memory, st.descriptor, HOST_VECTOR.POSTED_INTR_WAKEUP, vcpu.pcpuApicId);
    st.blocked = true;
    this.counters.blocks.inc();
    // ON already set: KVM does not block (the runnable check that follows finds it).
    if ((descriptorControl(memory, st.descriptor) & PID.ON) !== 0) this.counters.blocksOnSet.inc();
  }

  /** pi_post_block: NV back to the notification vector, NDST this CPU; off the wake-up list. */
  postBlock(vcpu: VcpuControl, st: PostedVcpuState): void {
    setNotification(vcpu.vm.hostMemory, st.descriptor, HOST_VECTOR.POSTED_INTR, vcpu.pcpuApicId);
    st.blocked = false;
  }

  /** vmx_vcpu_pi_put of a preempted vCPU: SN set, so the IOMMU only sets PIR (no ON, no notification). */
  vcpuPut(vcpu: VcpuControl, st: PostedVcpuState): void {
    setControlBit(vcpu.vm.hostMemory, st.descriptor, PID.SN, true);
    this.counters.snSet.inc();
  }

  /** vmx_vcpu_pi_load: SN cleared, and ON set if the PIR is not empty, so the next entry syncs it. */
  vcpuLoad(vcpu: VcpuControl, st: PostedVcpuState): void {
    const memory = vcpu.vm.hostMemory;
    setControlBit(memory, st.descriptor, PID.SN, false);
    if (highestPir(memory, st.descriptor) >= 0) setControlBit(memory, st.descriptor, PID.ON, true);
  }

  // ---- x2APIC virtualization ---------------------------------------------------------------

  /**
   * The guest's LAPIC entered (or left) x2APIC mode: "virtualize x2APIC mode" on (off), and the
   * MSR bitmap lets the readable registers' reads and the TPR, EOI and SELF IPI writes through
   * (or intercepts them again) — KVM's vmx_set_virtual_apic_mode and vmx_update_msr_bitmap_x2apic.
   */
  private switchX2apic(cpu: CpuContext, vcpu: VcpuControl, st: PostedVcpuState, on: boolean): void {
    st.x2apic = on;
    st.mirror = true;
    const proc2 = cpu.vmread(VMCS_FIELD.SECONDARY_VM_EXEC_CONTROL);
    const bit = PROC_BASED2.VIRTUALIZE_X2APIC_MODE;
    cpu.vmwrite(
      VMCS_FIELD.SECONDARY_VM_EXEC_CONTROL,
      vcpu.adjustControl(VMCS_FIELD.SECONDARY_VM_EXEC_CONTROL, on ? proc2 | bit : proc2 & ~bit),
    );
    for (const index of READ_THROUGH) this.intercept(vcpu, index, false, !on);
    for (const index of WRITE_THROUGH) this.intercept(vcpu, index, true, !on);
  }

  private intercept(vcpu: VcpuControl, index: number, write: boolean, on: boolean): void {
    const pos = msrBitmapPosition(index, write);
    const at = vcpu.msrBitmapAddress + (pos >>> 3);
    const memory = vcpu.vm.hostMemory;
    const byte = memory.read8(at);
    const bit = 1 << (pos & 7);
    memory.write8(at, on ? byte | bit : byte & ~bit);
  }

  /** Copies the emulated LAPIC's registers onto the page, where the guest's reads find them. */
  private mirror(vcpu: VcpuControl, st: PostedVcpuState): void {
    st.mirror = false;
    const apic = vcpu.apic;
    if (!apic.x2apicMode) return;
    const memory = vcpu.vm.hostMemory;
    const out = st.msr;
    for (const index of MIRRORED) {
      if (!apic.readMsr(index, out)) continue;
      const at = st.page + ((index & 0xff) << 4);
      memory.write32(at, out.lo);
      // ICR is the one 64-bit x2APIC register: its high half at offset 310H's place (bytes 4–7).
      if (index === MSR.X2APIC_ICR) memory.write32(at + 4, out.hi);
    }
  }
}

/** Cycles of the posted mode's host paths (from the calibration profile). */
export interface PostedCosts extends BaselineCosts {
  /** An EOI-induced exit's handling (`host.eoiEmulation`). */
  readonly eoi: number;
}

/** What `postedStrategy` needs: the calibration profile and where to count. */
export interface PostedStrategyOptions {
  /** Reads a profile entry by key: `host.injection` (a PIR→VIRR sync before an entry), `host.eoiEmulation`. */
  readonly value: ProfileReader;
  /** Where the mode's counters go. */
  readonly stats: ScopedStats;
}

/** The `posted` mode's strategy, its costs from the calibration profile. */
export function postedStrategy(options: PostedStrategyOptions): PostedStrategy {
  const v = options.value;
  return new PostedStrategy({ injection: v('host.injection'), eoi: v('host.eoiEmulation') }, options.stats);
}
