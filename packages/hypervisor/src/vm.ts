import { type InterruptRemappingTable, SQ, SVT } from '@exitless/iommu';
import { Counter, type ScopedStats } from '@exitless/sim';
import {
  DELIVERY_MODE,
  decodeCompatMsi,
  encodeRemappableMsiAddress,
  encodeRemappableMsiData,
  GPA_ACCESS,
  type GuestPhysicalMap,
  isMsiAddress,
  MemoryWindow,
  type MmioDevice,
  type PhysicalMemory,
} from '@exitless/x86';

/** What a VM is built from. */
export interface VmConfig {
  /** The VM's name: its statistics and reports are under it. */
  readonly name: string;
  /** Guest RAM, bytes (a multiple of 2 MiB). */
  readonly memorySize: number;
  /** How the guest kernel drives its LAPIC (decides whether KVM maps an APIC-access page). */
  readonly apicMode: 'xapic' | 'x2apic';
}

/** An SR-IOV VF assigned to a VM: where its BARs are, for the guest and on the host. */
export interface AssignedFunctionConfig {
  /** The VF's requester ID (bus:device.function), for the IRTEs' source-ID validation. */
  readonly requesterId: number;
  /** Host-physical addresses of the VF's BAR0 (registers) and BAR3 (MSI-X). */
  readonly hostBar0: number;
  /** Size of BAR0, bytes. */
  readonly bar0Size: number;
  /** Host-physical address of the VF's BAR3 (the MSI-X table and PBA). */
  readonly hostBar3: number;
  /** Size of BAR3, bytes. */
  readonly bar3Size: number;
  /** The VF's MSI-X BAR as a device, for the host's programming of the physical table. */
  readonly msix: MmioDevice;
  /** Guest-physical addresses the guest sees the BARs at. */
  readonly guestBar0: number;
  /** Guest-physical address of BAR3. */
  readonly guestBar3: number;
  /** MSI-X vectors of the function. */
  readonly vectors: number;
}

const MSIX_ENTRY_SIZE = 16;
const MSIX_CTRL_MASKED = 1;
const ALL_ACCESS = GPA_ACCESS.READ | GPA_ACCESS.WRITE | GPA_ACCESS.EXECUTE;

/**
 * A device assignment (KVM's and VFIO's): BAR0 passed straight through, the MSI-X table
 * page trapped and emulated. When the guest programs and unmasks an entry, the host
 * allocates a host vector aimed at the vCPU's physical CPU, writes a remapped-format IRTE
 * for it with source-ID validation of the VF's requester ID, and programs the physical
 * MSI-X entry with a remappable-format address whose handle selects that IRTE.
 */
export class AssignedFunction {
  /** Where the function is and what it has. */
  readonly config: AssignedFunctionConfig;
  /** The guest's view of the MSI-X table (address lo, hi, data, control per entry). */
  readonly virtualTable: Uint32Array;
  /** The guest vector each entry carries (−1 until programmed). */
  readonly guestVectors: Int32Array;
  /** The host vector each entry was given (−1 until programmed). */
  readonly hostVectors: Int32Array;
  private readonly irt: InterruptRemappingTable;
  private readonly irteBase: number;
  private readonly hostVectorBase: number;
  private readonly destinationApicId: () => number;
  private readonly x2apicDestinations: boolean;
  /** The vCPU's posted-interrupt descriptor when the design posts assigned interrupts (VT-d §9.11), else −1. */
  private readonly postedDescriptor: number;
  /** The APIC ID of the vCPU the VM's messages must name to be posted. */
  private readonly guestApicId: number;
  /** A design's physical vector for a guest vector (`InterruptVirtualization.directVector`), or null. */
  private readonly directVector: ((guestVector: number) => number) | null;
  /** Entries the design refused to program (their vector is one the host keeps), left masked. */
  readonly refusedEntries: Counter;
  /** Whether each entry's IRTE is in posted format (1) or remapped (0). */
  readonly posted: Uint8Array;
  /** Entries the host programmed (IRTE and physical MSI-X entry written). */
  readonly programmings: Counter;
  /** Incremented whenever an entry is (re)programmed: lets a strategy notice a new assignment without comparing tables. */
  generation = 0;

  constructor(options: {
    readonly config: AssignedFunctionConfig;
    readonly irt: InterruptRemappingTable;
    readonly irteBase: number;
    readonly hostVectorBase: number;
    readonly destinationApicId: () => number;
    readonly x2apicDestinations: boolean;
    /**
     * The vCPU's posted-interrupt descriptor (host-physical, 64-byte aligned) when the design
     * posts assigned interrupts; absent or −1: every IRTE is remapped.
     */
    readonly postedDescriptor?: number;
    /** The vCPU's APIC ID in the guest (default 0). */
    readonly guestApicId?: number;
    /**
     * When the design delivers assigned interrupts with the guest's own vectors (did): the
     * physical vector for a guest vector, or −1 to refuse it. Absent: host vectors.
     */
    readonly directVector?: (guestVector: number) => number;
    readonly stats: ScopedStats;
  }) {
    this.config = options.config;
    this.irt = options.irt;
    this.irteBase = options.irteBase;
    this.hostVectorBase = options.hostVectorBase;
    this.destinationApicId = options.destinationApicId;
    this.x2apicDestinations = options.x2apicDestinations;
    this.postedDescriptor = options.postedDescriptor ?? -1;
    this.guestApicId = options.guestApicId ?? 0;
    const n = options.config.vectors;
    this.posted = new Uint8Array(n);
    this.virtualTable = new Uint32Array(n * 4);
    for (let i = 0; i < n; i++) this.virtualTable[i * 4 + 3] = MSIX_CTRL_MASKED;
    this.guestVectors = new Int32Array(n).fill(-1);
    this.hostVectors = new Int32Array(n).fill(-1);
    this.programmings = options.stats.counter('msix-programmings');
    this.refusedEntries = options.stats.counter('msix-refused');
    this.directVector = options.directVector ?? null;
  }

  /** True if `gpa` is in the guest's view of the MSI-X BAR. */
  inMsixBar(gpa: number): boolean {
    return gpa >= this.config.guestBar3 && gpa < this.config.guestBar3 + this.config.bar3Size;
  }

  /** Emulates a guest write to its MSI-X BAR. */
  writeMsix(gpa: number, value: number): void {
    const offset = gpa - this.config.guestBar3;
    const entry = offset / MSIX_ENTRY_SIZE;
    if (offset < 0 || (offset & 3) !== 0 || entry >= this.config.vectors) return;
    const i = Math.floor(entry);
    const word = (offset % MSIX_ENTRY_SIZE) >>> 2;
    this.virtualTable[i * 4 + word] = value >>> 0;
    const control = this.virtualTable[i * 4 + 3]!;
    if ((control & MSIX_CTRL_MASKED) === 0 && (word === 2 || word === 3)) this.program(i);
    if ((control & MSIX_CTRL_MASKED) !== 0 && word === 3) this.maskPhysical(i, true);
  }

  /** Emulates a guest read of its MSI-X BAR. */
  readMsix(gpa: number): number {
    const offset = gpa - this.config.guestBar3;
    const i = Math.floor(offset / MSIX_ENTRY_SIZE);
    if (offset < 0 || i >= this.config.vectors) return 0;
    return this.virtualTable[i * 4 + ((offset % MSIX_ENTRY_SIZE) >>> 2)]!;
  }

  /** Which entry a host vector belongs to, or −1. */
  entryForHostVector(vector: number): number {
    for (let i = 0; i < this.hostVectors.length; i++) if (this.hostVectors[i] === vector) return i;
    return -1;
  }

  private program(i: number): void {
    const data = this.virtualTable[i * 4 + 2]!;
    this.guestVectors[i] = data & 0xff;
    let hostVector = this.hostVectorBase + i;
    if (this.directVector !== null) {
      // The guest's own vector in a remapped IRTE aimed at the vCPU's CPU (did): only for a
      // message to the vCPU alone, and only a vector the design lets the guest have.
      const direct = this.singleVcpuMessage(i) ? this.directVector(data & 0xff) : -1;
      if (direct < 0) {
        this.hostVectors[i] = -1;
        this.maskPhysical(i, true);
        this.refusedEntries.inc();
        this.generation++;
        return;
      }
      hostVector = direct;
    }
    this.hostVectors[i] = hostVector;
    const dest = this.destinationApicId();
    const post = this.postable(i);
    this.posted[i] = post ? 1 : 0;
    if (post) {
      // KVM's vmx_update_pi_irte → irq_set_vcpu_affinity (intel_ir_set_vcpu_affinity): the
      // IRTE in posted format, the guest's own vector, the vCPU's descriptor; the source-ID
      // check stays. URG = 0: a suppressed (SN) descriptor gets no notification.
      this.irt.write(this.irteBase + i, {
        mode: 'posted',
        present: true,
        faultProcessingDisable: false,
        urgent: false,
        vector: data & 0xff,
        descriptorAddress: this.postedDescriptor,
        sourceId: this.config.requesterId,
        sourceIdQualifier: SQ.ALL,
        sourceValidationType: SVT.REQUESTER_ID,
      });
    } else {
      this.irt.write(this.irteBase + i, {
        mode: 'remapped',
        present: true,
        faultProcessingDisable: false,
        vector: hostVector,
        sourceId: this.config.requesterId,
        sourceIdQualifier: SQ.ALL,
        sourceValidationType: SVT.REQUESTER_ID,
        destinationMode: 0,
        redirectionHint: 0,
        triggerMode: 0,
        deliveryMode: 0,
        available: 0,
        destination: this.x2apicDestinations ? dest : (dest & 0xff) << 8,
      });
    }
    const m = this.config.msix;
    const base = i * MSIX_ENTRY_SIZE;
    m.mmioWrite(base + 12, 4, MSIX_CTRL_MASKED);
    m.mmioWrite(base, 4, encodeRemappableMsiAddress({ handle: this.irteBase + i, shv: false }));
    m.mmioWrite(base + 4, 4, 0);
    m.mmioWrite(base + 8, 4, encodeRemappableMsiData({ subhandle: 0 }));
    m.mmioWrite(base + 12, 4, 0);
    this.programmings.inc();
    this.generation++;
  }

  /**
   * Whether entry `i`'s message, as the guest programmed it, may be posted: KVM posts an MSI
   * only when it is fixed or lowest-priority (kvm_irq_is_postable) and names exactly one vCPU
   * (kvm_intr_is_single_vcpu: physical destination mode, the vCPU's APIC ID; a broadcast or a
   * logical destination is not single). VT-d posting cannot carry multicast or broadcast
   * interrupts, so everything else stays remapped. The vector must be one a LAPIC accepts (16–255).
   */
  private postable(i: number): boolean {
    return this.postedDescriptor >= 0 && this.singleVcpuMessage(i);
  }

  /** Entry `i`'s message is fixed or lowest-priority, physical, to the vCPU's APIC ID alone, with a vector of 16 or more. */
  private singleVcpuMessage(i: number): boolean {
    const address = this.virtualTable[i * 4]!;
    if (this.virtualTable[i * 4 + 1] !== 0 || !isMsiAddress(address)) return false;
    const msi = decodeCompatMsi(address, this.virtualTable[i * 4 + 2]!);
    return (
      (msi.deliveryMode === DELIVERY_MODE.FIXED || msi.deliveryMode === DELIVERY_MODE.LOWEST_PRIORITY) &&
      msi.destMode === 0 &&
      msi.destination === this.guestApicId &&
      msi.vector >= 16
    );
  }

  private maskPhysical(i: number, masked: boolean): void {
    this.config.msix.mmioWrite(i * MSIX_ENTRY_SIZE + 12, 4, masked ? MSIX_CTRL_MASKED : 0);
  }
}

/**
 * A virtual machine: its RAM as a window of host memory, the guest-physical map the CPU
 * uses in its stead of EPT (RAM, the assigned VF's BAR0 passed through, the MSI-X page and
 * anything else left unmapped so that accesses exit), and its assigned functions.
 */
export class Vm implements GuestPhysicalMap {
  /** The VM's name. */
  readonly name: string;
  /** What the VM was built from. */
  readonly config: VmConfig;
  /** Host-physical address of guest-physical 0. */
  readonly hostBase: number;
  /** The guest's RAM as the guest sees it. */
  readonly memory: PhysicalMemory;
  /** TSC frequency the guest sees, Hz. */
  readonly tscHz: number;
  /** The VM's assigned functions. */
  readonly assigned: AssignedFunction[] = [];
  /** Host-physical address of the APIC-access page (xAPIC guests), or −1. */
  apicAccessPage = -1;
  /** Guest-physical base of the APIC page. */
  readonly apicBase = 0xfee00000;
  /** The guest kernel's entry point (GUEST_RIP at the first entry), guest-physical; set before the host starts. */
  entry = -1;
  /** Host pages mapped into the guest-physical space outside its RAM (page number → host-physical page). */
  private readonly extraPages = new Map<number, number>();
  /** The EPT permissions (GPA_ACCESS bits) of each extra page. */
  private readonly extraAccess = new Map<number, number>();

  /**
   * Maps one 4 KiB host page at guest-physical `gpa`, outside the guest's RAM (a page the
   * host keeps for itself, like ELI's shadow IDT: the guest's memory map never offers it).
   * `access` is what the EPT entry allows (GPA_ACCESS bits); read-only by default, so that a
   * guest store there exits with an EPT violation (SDM vol. 3 §28.2.3.2) and is refused.
   */
  mapPage(gpa: number, hpa: number, access: number = GPA_ACCESS.READ): void {
    if (gpa % 4096 !== 0 || hpa % 4096 !== 0)
      throw new RangeError('mapPage: addresses must be 4 KiB-aligned');
    if (gpa < this.config.memorySize)
      throw new RangeError(`mapPage: 0x${gpa.toString(16)} is inside the guest's RAM`);
    this.extraPages.set(gpa / 4096, hpa);
    this.extraAccess.set(gpa / 4096, access & 7);
  }

  /** Whether `gpa` lies in a page the host mapped for itself with `mapPage`. */
  isHostPage(gpa: number): boolean {
    return this.extraPages.has(Math.floor(gpa / 4096));
  }

  /** Host-physical memory (for structures the host keeps for the VM). */
  readonly hostMemory: PhysicalMemory;
  /** A 4 KiB host page a strategy may keep for this VM (ELI's shadow IDT). */
  strategyPage = -1;
  /** Guest stores to host-owned read-only pages that the host refused (set by the hypervisor). */
  refusedWrites: Counter = new Counter('refused-writes');

  constructor(config: VmConfig, hostMemory: PhysicalMemory, hostBase: number, tscHz: number) {
    this.name = config.name;
    this.hostMemory = hostMemory;
    this.config = config;
    this.hostBase = hostBase;
    this.tscHz = tscHz;
    this.memory = new MemoryWindow(hostMemory, hostBase, config.memorySize);
  }

  translate(gpa: number, access: number): number {
    if (gpa >= 0 && gpa < this.config.memorySize) return this.hostBase + gpa;
    if (this.extraPages.size > 0) {
      const n = Math.floor(gpa / 4096);
      const page = this.extraPages.get(n);
      if (page !== undefined) return (this.extraAccess.get(n)! & access) !== 0 ? page + (gpa % 4096) : -1;
    }
    for (const a of this.assigned) {
      const c = a.config;
      if (gpa >= c.guestBar0 && gpa < c.guestBar0 + c.bar0Size) return c.hostBar0 + (gpa - c.guestBar0);
    }
    if (this.apicAccessPage >= 0 && gpa >= this.apicBase && gpa < this.apicBase + 4096) {
      // KVM maps its APIC-access page here; with "virtualize APIC accesses" the CPU exits on it.
      return access === GPA_ACCESS.EXECUTE ? -1 : this.apicAccessPage + (gpa - this.apicBase);
    }
    return -1;
  }

  /** The EPT permissions at `gpa` (GPA_ACCESS bits; 0 where nothing is mapped), for the EPT-violation qualification. */
  permissions(gpa: number): number {
    if (gpa >= 0 && gpa < this.config.memorySize) return ALL_ACCESS;
    const n = Math.floor(gpa / 4096);
    const extra = this.extraAccess.get(n);
    if (extra !== undefined) return extra;
    for (const a of this.assigned) {
      const c = a.config;
      if (gpa >= c.guestBar0 && gpa < c.guestBar0 + c.bar0Size) return ALL_ACCESS;
    }
    if (this.apicAccessPage >= 0 && gpa >= this.apicBase && gpa < this.apicBase + 4096) {
      return GPA_ACCESS.READ | GPA_ACCESS.WRITE;
    }
    return 0;
  }

  /** The assigned function whose MSI-X BAR holds `gpa`, if any. */
  msixOwner(gpa: number): AssignedFunction | undefined {
    for (const a of this.assigned) if (a.inMsixBar(gpa)) return a;
    return undefined;
  }
}
