import type { Counter, ScopedStats, SimEvent } from '@exitless/sim';
import {
  DMA_OK,
  type MmioDevice,
  type MmioSize,
  MSIX_CAP,
  MSIX_CONTROL,
  PCI_CFG,
  PCI_COMMAND,
  PCI_EXT_CAP_ID,
  PCI_STATUS,
  type PciConfigSize,
  type PciFunction,
  TWO_POW_32,
} from '@exitless/x86';
import { ConfigSpace, decodedWhen } from './config-space.js';
import { MsixTable } from './msix.js';
import { dmaLatencyPs, type NicCore } from './options.js';
import {
  addMsixCapability,
  addPcieCapability,
  MSIX_BAR_SIZE,
  MSIX_PBA_OFFSET,
  MSIX_TABLE_OFFSET,
} from './pci-header.js';
import {
  EITR,
  ETHERNET,
  eitrIntervalPs,
  IVAR,
  MAILBOX_WORDS,
  PFMAILBOX,
  RING_BASE_LOW_MASK,
  RING_LENGTH_MASK,
  RX_DESC,
  RXD_STAT,
  RXDCTL,
  SRRCTL,
  TX_DESC,
  TXD_CMD,
  TXD_STAT,
  TXDCTL,
  VF_REG,
  VFCTRL,
  VFLINKS,
  VFMAILBOX,
} from './regs.js';

/** Offset of the VF's MSI-X capability (82599 VF config space §9.4). */
const VF_MSIX_CAP = 0x70;
/** Offset of the VF's PCI Express capability. */
const VF_PCIE_CAP = 0xa0;
/** Size of a VF's register BAR (BAR0): 16 KiB. */
export const VF_BAR0_SIZE = 0x4000;
/** Size of a VF's MSI-X BAR (BAR3): 16 KiB. */
export const VF_BAR3_SIZE: number = MSIX_BAR_SIZE;
/** The BAR that holds a VF's MSI-X table and PBA. */
export const VF_MSIX_BAR = 3;

/** What a VF counts, as typed counters (the pattern of `LocalApicDevice.counters`). */
export interface VfCounters {
  /** Frames written to the guest's RX ring. */
  readonly rxFrames: Counter;
  /** Bytes written to the guest's RX ring. */
  readonly rxBytes: Counter;
  /** Frames dropped because the RX ring had no free descriptor (the 82599's VFGPRC/missed count). */
  readonly rxMissed: Counter;
  /** Frames sent on the wire. */
  readonly txFrames: Counter;
  /** Bytes sent on the wire. */
  readonly txBytes: Counter;
  /** MSI-X messages sent, all vectors. */
  readonly interruptsSent: Counter;
  /** MSI-X messages sent, per vector. */
  readonly interruptsPerVector: readonly Counter[];
}

/**
 * One 82599-style virtual function: its configuration space (SR-IOV 1.1 §3.4: vendor and
 * device ID read 0xFFFF, BARs read zero and are placed by the PF's VF BARs, Memory Space
 * is the PF's VF MSE), its MSI-X table, one RX and one TX queue pair reached through the
 * VF register map, the interrupt cause/mask/throttle logic, and its half of the PF–VF
 * mailbox. Rings and buffers are in the owner's memory, reached by DMA with this VF's
 * requester ID.
 */
export class VirtualFunction implements PciFunction {
  /** VF number (0-based), as in "VF n". */
  readonly index: number;
  readonly requesterId: number;
  /** The VF's configuration space. */
  readonly config: ConfigSpace;
  /** The VF's MSI-X table and PBA. */
  readonly msix: MsixTable;
  /** BAR0: the VF register map. */
  readonly registers: MmioDevice;
  /** BAR3: the MSI-X table and PBA. */
  readonly msixBar: MmioDevice;
  /** The MAC address the switch delivers to this VF (48-bit number, set by the PF). */
  mac: number;
  /** What the VF counts, as typed counters (each also in its stats scope, `nic.vf<n>.…`). */
  readonly counters: VfCounters;

  private readonly nic: NicCore;
  private readonly vectorMask: number;

  // Queue 0 registers.
  private rdbal = 0;
  private rdbah = 0;
  private rdlen = 0;
  private rdh = 0;
  private rdt = 0;
  private srrctl = 0;
  private rxdctl = 0;
  private tdbal = 0;
  private tdbah = 0;
  private tdlen = 0;
  private tdh = 0;
  private tdt = 0;
  private txdctl = 0;
  private gprc = 0;
  private gorc = 0;
  private gptc = 0;
  private gotc = 0;

  // Interrupt logic (82599 §7.3.1): one EICR/EIMS bit per MSI-X vector.
  private eicr = 0;
  private eims = 0;
  private eiac = 0;
  private eiam = 0;
  private ivar0 = 0;
  private ivarMisc = 0;
  private readonly eitr: Uint32Array;
  private readonly frameThreshold: Uint32Array;
  private readonly causesSinceFire: Uint32Array;
  private readonly lastFire: Float64Array;
  private readonly notBefore: Float64Array;
  private readonly throttleEvents: SimEvent[];

  // Mailbox (82599 §7.9.2.2).
  /** The 16 shared mailbox dwords (VFMBMEM / PFMBMEM(n)). */
  readonly mailboxMemory: Uint32Array = new Uint32Array(MAILBOX_WORDS);
  /** VFMAILBOX state bits (VFU, PFU, PFSTS, PFACK, RSTI, RSTD). */
  private mbState: number = VFMAILBOX.RSTD;
  /** MBVFICR bits for this VF: bit 0 VFREQ, bit 1 VFACK. @internal */
  mbvficr = 0;

  // Transmit engine.
  private readonly txFetchEvent: SimEvent;
  private readonly txCompleteEvent: SimEvent;
  private txPendingHead = 0;
  private rsList: Int32Array = new Int32Array(0);
  private rsCount = 0;

  private readonly rxFrames: Counter;
  private readonly rxBytes: Counter;
  private readonly rxMissed: Counter;
  private readonly rxDmaFaults: Counter;
  private readonly rxQueueDisabled: Counter;
  private readonly rxNoBusMaster: Counter;
  private readonly txFrames: Counter;
  private readonly txBytes: Counter;
  private readonly txDmaFaults: Counter;
  private readonly txDropped: Counter;
  /** Transmit attempts refused because the head or tail register lies outside the ring. */
  private readonly txRingInvalid: Counter;
  private readonly illegalWrites: Counter;
  private readonly unimplemented: Counter;
  private readonly memoryDisabledAccesses: Counter;

  /** @internal created by the NIC when VF Enable is set. */
  constructor(nic: NicCore, index: number, requesterId: number, mac: number, stats: ScopedStats) {
    this.nic = nic;
    this.index = index;
    this.requesterId = requesterId;
    this.mac = mac;
    const vectors = nic.options.vfMsixVectors;
    this.vectorMask = vectors >= 32 ? 0xffffffff : (1 << vectors) - 1;
    this.config = makeVfConfigSpace(vectors);
    this.msix = new MsixTable(vectors, MSIX_TABLE_OFFSET, MSIX_PBA_OFFSET, requesterId, nic.msi, stats);
    this.eitr = new Uint32Array(vectors);
    this.frameThreshold = new Uint32Array(vectors);
    this.causesSinceFire = new Uint32Array(vectors);
    this.lastFire = new Float64Array(vectors).fill(Number.NEGATIVE_INFINITY);
    this.notBefore = new Float64Array(vectors);
    this.throttleEvents = [];
    for (let v = 0; v < vectors; v++) {
      this.throttleEvents.push(nic.sim.event(`vf${index}.eitr${v}`, () => this.evaluate(v)));
    }
    this.txFetchEvent = nic.sim.event(`vf${index}.tx-fetch`, () => this.txFetch());
    this.txCompleteEvent = nic.sim.event(`vf${index}.tx-complete`, () => this.txComplete());
    this.rxFrames = stats.counter('rx.frames');
    this.rxBytes = stats.counter('rx.bytes');
    this.rxMissed = stats.counter('rx.missed');
    this.rxDmaFaults = stats.counter('rx.dma-faults');
    this.rxQueueDisabled = stats.counter('rx.queue-disabled');
    this.rxNoBusMaster = stats.counter('rx.no-bus-master');
    this.txFrames = stats.counter('tx.frames');
    this.txBytes = stats.counter('tx.bytes');
    this.txDmaFaults = stats.counter('tx.dma-faults');
    this.txDropped = stats.counter('tx.dropped');
    this.txRingInvalid = stats.counter('tx.ring-invalid');
    this.illegalWrites = stats.counter('mmio.illegal-writes');
    this.unimplemented = stats.counter('mmio.unimplemented');
    this.memoryDisabledAccesses = stats.counter('mmio.memory-disabled');
    this.counters = {
      rxFrames: this.rxFrames,
      rxBytes: this.rxBytes,
      rxMissed: this.rxMissed,
      txFrames: this.txFrames,
      txBytes: this.txBytes,
      interruptsSent: this.msix.sentTotal,
      interruptsPerVector: this.msix.perVector,
    };
    const decoding = () => this.memoryEnabled();
    this.registers = decodedWhen(
      decoding,
      (offset, size) => this.readRegister(offset, size),
      (offset, size, value) => this.writeRegister(offset, size, value),
    );
    this.msixBar = decodedWhen(
      decoding,
      (offset, size) => this.msix.mmioRead(offset, size),
      (offset, size, value) => this.msix.mmioWrite(offset, size, value),
    );
  }

  // ---- PCI configuration -------------------------------------------------------------

  configRead(offset: number, size: PciConfigSize): number {
    return this.config.readAnswer(offset, size);
  }

  configWrite(offset: number, size: PciConfigSize, value: number): void {
    if (!this.config.valid(offset, size)) return;
    this.config.write(offset, size, value);
    this.syncMsixControl();
  }

  /** Bus Master Enable in the VF's own Command register. */
  get busMaster(): boolean {
    return (this.config.read(PCI_CFG.COMMAND, 2) & PCI_COMMAND.BUS_MASTER) !== 0;
  }

  private syncMsixControl(): void {
    const ctl = this.config.read(VF_MSIX_CAP + MSIX_CAP.MESSAGE_CONTROL, 2);
    this.msix.setControl(
      (ctl & MSIX_CONTROL.ENABLE) !== 0,
      (ctl & MSIX_CONTROL.FUNCTION_MASK) !== 0,
      this.busMaster,
    );
  }

  private memoryEnabled(): boolean {
    if (this.nic.vfMemoryEnabled()) return true;
    this.memoryDisabledAccesses.inc();
    return false;
  }

  // ---- Registers (BAR0) --------------------------------------------------------------

  private readRegister(offset: number, size: MmioSize): number {
    if (size !== 4 || (offset & 3) !== 0) {
      // The 82599 register file is accessed as aligned dwords.
      this.unimplemented.inc();
      return 0;
    }
    if (offset >= VF_REG.VFMBMEM && offset < VF_REG.VFMBMEM + MAILBOX_WORDS * 4) {
      return this.mailboxMemory[(offset - VF_REG.VFMBMEM) >>> 2]!;
    }
    const vectors = this.eitr.length;
    if (offset >= VF_REG.VFEITR0 && offset < VF_REG.VFEITR0 + vectors * 4) {
      return this.eitr[(offset - VF_REG.VFEITR0) >>> 2]!;
    }
    if (offset >= VF_REG.VFEITR_FRAMES0 && offset < VF_REG.VFEITR_FRAMES0 + vectors * 4) {
      return this.frameThreshold[(offset - VF_REG.VFEITR_FRAMES0) >>> 2]!;
    }
    switch (offset) {
      case VF_REG.VFCTRL:
        return 0;
      case VF_REG.VFSTATUS:
        return 0;
      case VF_REG.VFLINKS:
        return this.nic.port !== null ? (VFLINKS.UP | VFLINKS.SPEED_10G) >>> 0 : 0;
      case VF_REG.VFEICR: {
        // Read to clear, as the family's EICR is (82598 datasheet §3.5.4: "reading the EICR
        // register clears its bits or writing 1b's clears the corresponding bits"): ixgbevf's
        // ixgbevf_stop_hw_vf reads VTEICR to "clear any pending interrupts", and its mailbox
        // handler reads the VTEICS alias instead, which shows the causes and clears nothing.
        const causes = this.eicr;
        this.eicr = 0;
        return causes;
      }
      case VF_REG.VFEICS:
        return this.eicr;
      case VF_REG.VFEIMS:
        return this.eims;
      case VF_REG.VFEIMC:
        return 0;
      case VF_REG.VFEIAC:
        return this.eiac;
      case VF_REG.VFEIAM:
        return this.eiam;
      case VF_REG.VFIVAR0:
        return this.ivar0;
      case VF_REG.VFIVAR_MISC:
        return this.ivarMisc;
      case VF_REG.VFMAILBOX: {
        const v = this.mbState;
        // PFSTS, PFACK and RSTD clear when read.
        this.mbState &= ~VFMAILBOX.R2C_BITS;
        return v;
      }
      case VF_REG.VFRDBAL:
        return this.rdbal;
      case VF_REG.VFRDBAH:
        return this.rdbah;
      case VF_REG.VFRDLEN:
        return this.rdlen;
      case VF_REG.VFRDH:
        return this.rdh;
      case VF_REG.VFRDT:
        return this.rdt;
      case VF_REG.VFSRRCTL:
        return this.srrctl;
      case VF_REG.VFRXDCTL:
        return this.rxdctl;
      case VF_REG.VFGPRC:
        return this.gprc >>> 0;
      case VF_REG.VFGORC_LSB:
        return this.gorc % TWO_POW_32;
      case VF_REG.VFGORC_MSB:
        return Math.floor(this.gorc / TWO_POW_32) & 0xf;
      case VF_REG.VFTDBAL:
        return this.tdbal;
      case VF_REG.VFTDBAH:
        return this.tdbah;
      case VF_REG.VFTDLEN:
        return this.tdlen;
      case VF_REG.VFTDH:
        return this.tdh;
      case VF_REG.VFTDT:
        return this.tdt;
      case VF_REG.VFTXDCTL:
        return this.txdctl;
      case VF_REG.VFGPTC:
        return this.gptc >>> 0;
      case VF_REG.VFGOTC_LSB:
        return this.gotc % TWO_POW_32;
      case VF_REG.VFGOTC_MSB:
        return Math.floor(this.gotc / TWO_POW_32) & 0xf;
      default:
        this.unimplemented.inc();
        return 0;
    }
  }

  private writeRegister(offset: number, size: MmioSize, value: number): void {
    if (size !== 4 || (offset & 3) !== 0) {
      this.unimplemented.inc();
      return;
    }
    value >>>= 0;
    if (offset >= VF_REG.VFMBMEM && offset < VF_REG.VFMBMEM + MAILBOX_WORDS * 4) {
      // The mailbox memory takes writes only while the VF owns it (VFU).
      if ((this.mbState & VFMAILBOX.VFU) !== 0) this.mailboxMemory[(offset - VF_REG.VFMBMEM) >>> 2] = value;
      else this.illegalWrites.inc();
      return;
    }
    const vectors = this.eitr.length;
    if (offset >= VF_REG.VFEITR0 && offset < VF_REG.VFEITR0 + vectors * 4) {
      const v = (offset - VF_REG.VFEITR0) >>> 2;
      this.eitr[v] = value;
      if ((value & EITR.CNT_WDIS) === 0) {
        // CNT_WDIS clear: the write also clears the ITR counter, so the interval running
        // since the vector's last message ends now and a cause waiting on it is signalled
        // at once (the "immediate assertion" ixgbe/ixgbevf avoid by setting CNT_WDIS).
        this.lastFire[v] = Number.NEGATIVE_INFINITY;
        this.evaluate(v);
      }
      return;
    }
    if (offset >= VF_REG.VFEITR_FRAMES0 && offset < VF_REG.VFEITR_FRAMES0 + vectors * 4) {
      this.frameThreshold[(offset - VF_REG.VFEITR_FRAMES0) >>> 2] = value & 0xffff;
      return;
    }
    switch (offset) {
      case VF_REG.VFCTRL:
        if ((value & VFCTRL.RST) !== 0) this.reset();
        return;
      case VF_REG.VFEICR:
        // Write 1 to clear; kept unsigned so cause bit 31 reads back as a 32-bit register.
        this.eicr = (this.eicr & ~value) >>> 0;
        return;
      case VF_REG.VFEICS:
        this.setCauses(value & this.vectorMask);
        return;
      case VF_REG.VFEIMS: {
        const newly = value & this.vectorMask & ~this.eims;
        this.eims = (this.eims | (value & this.vectorMask)) >>> 0;
        // Unmasking a vector with a pending cause requests its interrupt (subject to EITR).
        for (let v = 0; v < vectors; v++) if ((newly >>> v) & 1) this.evaluate(v);
        return;
      }
      case VF_REG.VFEIMC:
        this.eims = (this.eims & ~value) >>> 0;
        return;
      case VF_REG.VFEIAC:
        this.eiac = value & this.vectorMask;
        return;
      case VF_REG.VFEIAM:
        this.eiam = value & this.vectorMask;
        return;
      case VF_REG.VFIVAR0:
        this.ivar0 = value;
        return;
      case VF_REG.VFIVAR_MISC:
        this.ivarMisc = value & 0xff;
        return;
      case VF_REG.VFMAILBOX:
        this.writeMailbox(value);
        return;
      case VF_REG.VFRDBAL:
        this.rdbal = (value & RING_BASE_LOW_MASK) >>> 0;
        return;
      case VF_REG.VFRDBAH:
        this.rdbah = value;
        return;
      case VF_REG.VFRDLEN:
        this.rdlen = value & RING_LENGTH_MASK;
        return;
      case VF_REG.VFRDH:
        this.rdh = value & 0xffff;
        return;
      case VF_REG.VFRDT:
        this.rdt = value & 0xffff;
        return;
      case VF_REG.VFSRRCTL:
        this.srrctl = value;
        return;
      case VF_REG.VFRXDCTL:
        this.rxdctl = value;
        return;
      case VF_REG.VFTDBAL:
        this.tdbal = (value & RING_BASE_LOW_MASK) >>> 0;
        return;
      case VF_REG.VFTDBAH:
        this.tdbah = value;
        return;
      case VF_REG.VFTDLEN:
        this.tdlen = value & RING_LENGTH_MASK;
        if (this.rsList.length < this.tdlen / TX_DESC.SIZE)
          this.rsList = new Int32Array(this.tdlen / TX_DESC.SIZE);
        return;
      case VF_REG.VFTDH:
        this.tdh = value & 0xffff;
        return;
      case VF_REG.VFTDT:
        this.tdt = value & 0xffff;
        this.kickTransmit();
        return;
      case VF_REG.VFTXDCTL:
        this.txdctl = value & ~TXDCTL.SWFLSH;
        if ((value & TXDCTL.ENABLE) !== 0) this.kickTransmit();
        return;
      default:
        this.unimplemented.inc();
        return;
    }
  }

  /** VFCTRL.RST: the VF's queues, interrupt state and mailbox return to their reset values. */
  reset(): void {
    const sim = this.nic.sim;
    sim.cancel(this.txFetchEvent);
    sim.cancel(this.txCompleteEvent);
    for (const ev of this.throttleEvents) sim.cancel(ev);
    this.rdbal = this.rdbah = this.rdlen = this.rdh = this.rdt = this.srrctl = this.rxdctl = 0;
    this.tdbal = this.tdbah = this.tdlen = this.tdh = this.tdt = this.txdctl = 0;
    this.eicr = this.eims = this.eiac = this.eiam = this.ivar0 = this.ivarMisc = 0;
    this.eitr.fill(0);
    this.frameThreshold.fill(0);
    this.causesSinceFire.fill(0);
    this.lastFire.fill(Number.NEGATIVE_INFINITY);
    this.notBefore.fill(0);
    this.rsCount = 0;
    this.txPendingHead = 0;
    this.mailboxMemory.fill(0);
    this.mbvficr = 0;
    // The PF side of the reset handshake is not modeled: the reset is done at once.
    this.mbState = VFMAILBOX.RSTD;
  }

  /** Detaches the VF (VF Enable cleared): stops its engines. @internal */
  disable(): void {
    this.reset();
    this.msix.reset();
  }

  // ---- Interrupts ---------------------------------------------------------------------

  /** The MSI-X vector an IVAR byte allocates, or −1 if its valid bit is clear. */
  private ivarVector(byte: number): number {
    if ((byte & IVAR.ALLOC_VAL) === 0) return -1;
    const v = byte & IVAR.VECTOR_MASK;
    return v < this.eitr.length ? v : -1;
  }

  private setCauses(bits: number): void {
    this.eicr = (this.eicr | bits) >>> 0;
    for (let v = 0; v < this.eitr.length; v++) {
      if ((bits >>> v) & 1) {
        this.causesSinceFire[v]!++;
        this.evaluate(v);
      }
    }
  }

  /** A queue or mailbox event sets the cause of vector `v`, not to be signalled before `notBefore`. */
  private raiseCause(v: number, notBefore: number): void {
    if (v < 0) return;
    if (notBefore > this.notBefore[v]!) this.notBefore[v] = notBefore;
    this.setCauses(1 << v);
  }

  /**
   * Sends vector `v`'s message if it has an enabled cause and moderation allows: EITR
   * keeps a minimum interval between messages of a vector (82599 §7.3.2.1), which a
   * frame-count threshold (the simulator's extension) may cut short once that many
   * causes have accumulated. Otherwise the vector's throttle event is set for the time
   * it may fire.
   */
  private evaluate(v: number): void {
    const bit = 1 << v;
    if ((this.eicr & this.eims & bit) === 0) return;
    const now = this.nic.sim.now;
    let earliest = this.lastFire[v]! + eitrIntervalPs(this.eitr[v]!);
    const threshold = this.frameThreshold[v]!;
    if (threshold > 0 && this.causesSinceFire[v]! >= threshold) earliest = now;
    if (this.notBefore[v]! > earliest) earliest = this.notBefore[v]!;
    const ev = this.throttleEvents[v]!;
    if (earliest <= now) {
      this.nic.sim.cancel(ev);
      this.fire(v);
    } else if (!ev.scheduled || ev.when > earliest) {
      this.nic.sim.reschedule(ev, earliest);
    }
  }

  private fire(v: number): void {
    const bit = 1 << v;
    this.lastFire[v] = this.nic.sim.now;
    this.causesSinceFire[v] = 0;
    if ((this.eiac & bit) !== 0) this.eicr = (this.eicr & ~bit) >>> 0;
    if ((this.eiam & bit) !== 0) this.eims = (this.eims & ~bit) >>> 0;
    this.msix.signal(v);
  }

  // ---- Mailbox ------------------------------------------------------------------------

  private writeMailbox(value: number): void {
    // VFU: take the buffer if the PF does not hold it; writing 0 releases it.
    if ((value & VFMAILBOX.VFU) !== 0) {
      if ((this.mbState & VFMAILBOX.PFU) === 0) this.mbState |= VFMAILBOX.VFU;
    } else this.mbState &= ~VFMAILBOX.VFU;
    let event = false;
    if ((value & VFMAILBOX.REQ) !== 0) {
      this.mbvficr |= 1;
      event = true;
    }
    if ((value & VFMAILBOX.ACK) !== 0) {
      this.mbvficr |= 2;
      event = true;
    }
    if (event) this.nic.vfMailboxEvent(this.index);
  }

  /** PFMAILBOX(n) as the PF reads it. @internal */
  pfMailboxRead(): number {
    return (
      ((this.mbState & VFMAILBOX.VFU) !== 0 ? PFMAILBOX.VFU : 0) |
      ((this.mbState & VFMAILBOX.PFU) !== 0 ? PFMAILBOX.PFU : 0)
    );
  }

  /** PFMAILBOX(n) written by the PF. @internal */
  pfMailboxWrite(value: number): void {
    if ((value & PFMAILBOX.RVFU) !== 0) this.mbState &= ~VFMAILBOX.VFU;
    if ((value & PFMAILBOX.PFU) !== 0) {
      if ((this.mbState & VFMAILBOX.VFU) === 0) this.mbState |= VFMAILBOX.PFU;
    } else this.mbState &= ~VFMAILBOX.PFU;
    let notify = false;
    if ((value & PFMAILBOX.STS) !== 0) {
      this.mbState |= VFMAILBOX.PFSTS;
      notify = true;
    }
    if ((value & PFMAILBOX.ACK) !== 0) {
      this.mbState |= VFMAILBOX.PFACK;
      notify = true;
    }
    if (notify) this.raiseCause(this.ivarVector(this.ivarMisc), 0);
  }

  /** PFMBMEM(n) written by the PF (only while it owns the buffer). @internal */
  pfMailboxMemoryWrite(word: number, value: number): boolean {
    if ((this.mbState & VFMAILBOX.PFU) === 0) return false;
    this.mailboxMemory[word] = value >>> 0;
    return true;
  }

  // ---- Receive ------------------------------------------------------------------------

  /**
   * A frame the switch sends to this VF (FCS included; the CRC is stripped as the 82599
   * does with HLREG0.RXCRCSTRP). Uses as many descriptors as the frame needs buffers;
   * with fewer free than that the frame is dropped (SRRCTL.DROP_EN behaviour) and counted
   * in rx.missed. Returns true if the frame reached the ring. @internal
   */
  receive(data: Uint8Array, length: number): boolean {
    if ((this.rxdctl & RXDCTL.ENABLE) === 0) {
      this.rxQueueDisabled.inc();
      return false;
    }
    const count = this.rdlen / RX_DESC.SIZE;
    const payload = length - ETHERNET.FCS_BYTES;
    const bsize = this.srrctl & SRRCTL.BSIZEPKT_MASK;
    const bufferBytes = bsize === 0 ? 2048 : bsize * 1024;
    const needed = payload <= 0 ? 1 : Math.ceil(payload / bufferBytes);
    const free = count === 0 ? 0 : (this.rdt - this.rdh + count) % count;
    // A head outside the ring (misprogrammed) takes nothing, as a tail outside it does.
    if (this.rdt >= count || this.rdh >= count || free < needed) {
      this.rxMissed.inc();
      return false;
    }
    if (!this.busMaster) {
      this.rxNoBusMaster.inc();
      return false;
    }
    const dma = this.nic.dma;
    const rid = this.requesterId;
    const desc = this.nic.descriptor;
    const base = this.rdbah * TWO_POW_32 + this.rdbal;
    let translatePs = 0;
    let idx = this.rdh;
    let done = 0;
    for (let n = 0; n < needed; n++) {
      const descAddr = base + idx * RX_DESC.SIZE;
      // Descriptors are taken as prefetched: the read's latency is hidden, its translation is not.
      if (dma.dmaRead(rid, descAddr, desc, 0, 8) !== DMA_OK) {
        this.rxDmaFaults.inc();
        return false;
      }
      translatePs += dma.lastLatencyPs;
      const bufAddr = readU64(desc, 0);
      const chunk = Math.max(0, Math.min(bufferBytes, payload - done));
      if (chunk > 0 && dma.dmaWrite(rid, bufAddr, data, done, chunk) !== DMA_OK) {
        this.rxDmaFaults.inc();
        return false;
      }
      translatePs += dma.lastLatencyPs;
      done += chunk;
      // Legacy write-back: length, checksum 0, status DD (+EOP on the last), errors 0, VLAN 0.
      desc[0] = chunk & 0xff;
      desc[1] = (chunk >>> 8) & 0xff;
      desc[2] = 0;
      desc[3] = 0;
      desc[4] = RXD_STAT.DD | (n === needed - 1 ? RXD_STAT.EOP : 0);
      desc[5] = 0;
      desc[6] = 0;
      desc[7] = 0;
      if (dma.dmaWrite(rid, descAddr + RX_DESC.LENGTH, desc, 0, 8) !== DMA_OK) {
        this.rxDmaFaults.inc();
        return false;
      }
      translatePs += dma.lastLatencyPs;
      idx = idx + 1 === count ? 0 : idx + 1;
    }
    this.rdh = idx;
    this.rxFrames.inc();
    this.rxBytes.add(payload);
    this.gprc++;
    this.gorc += payload;
    const now = this.nic.sim.now;
    this.raiseCause(this.ivarVector((this.ivar0 >>> IVAR.RX0_SHIFT) & 0xff), now + translatePs);
    return true;
  }

  // ---- Transmit -----------------------------------------------------------------------

  private kickTransmit(): void {
    if ((this.txdctl & TXDCTL.ENABLE) === 0) return;
    if (this.txFetchEvent.scheduled || this.txCompleteEvent.scheduled) return;
    if (this.tdh === this.tdt) return;
    // Descriptor fetch: one PCIe read round trip after the tail write.
    this.nic.sim.scheduleIn(this.txFetchEvent, this.nic.timing.dmaReadLatencyPs);
  }

  /**
   * Fetches descriptors from head to tail, gathers each packet's buffers by DMA and queues
   * it on the wire, while the transmit packet buffer has room. Each packet starts on the
   * wire when the read of its buffers completes (a round trip growing with their size); the
   * descriptors' write-back and the TX cause follow the last of those reads by one posted
   * write.
   */
  private txFetch(): void {
    if ((this.txdctl & TXDCTL.ENABLE) === 0) return;
    const nic = this.nic;
    const count = this.tdlen / TX_DESC.SIZE;
    if (count === 0) return;
    if (this.tdt >= count || this.tdh >= count) {
      // A head or tail outside the ring (TDH written, or left by a longer ring: software
      // writes it only while the queue is disabled) is a programming
      // error; the walk from head to tail would never meet the tail. Nothing is sent.
      this.txRingInvalid.inc();
      return;
    }
    const port = nic.port;
    const dma = nic.dma;
    const rid = this.requesterId;
    const desc = nic.descriptor;
    const buf = nic.txBuffer;
    const maxData = buf.length - ETHERNET.FCS_BYTES;
    const base = this.tdbah * TWO_POW_32 + this.tdbal;
    const bufferLimitPs =
      port === null ? 0 : (nic.options.txPacketBufferBytes * 8 * 1e12) / port.bitsPerSecond;
    const readBasePs = nic.timing.dmaReadLatencyPs;
    const readPsPerByte = nic.timing.dmaReadPsPerByte ?? 0;
    // When the last packet's buffer read completes: the write-back follows it.
    let lastDataReady = nic.sim.now + readBasePs;
    let idx = this.tdh;
    let blocked = false;
    this.rsCount = 0;
    while (idx !== this.tdt) {
      if (port !== null && port.backlogPs() >= bufferLimitPs) {
        blocked = true;
        break;
      }
      let j = idx;
      let len = 0;
      let eop = false;
      let bad = false;
      let ifcs = false;
      const rsMark = this.rsCount;
      while (j !== this.tdt) {
        const cur = j;
        const descAddr = base + cur * TX_DESC.SIZE;
        j = j + 1 === count ? 0 : j + 1;
        if (dma.dmaRead(rid, descAddr, desc, 0, TX_DESC.SIZE) !== DMA_OK) {
          // Nothing of the descriptor is known: it is skipped, the fault counted.
          this.txDmaFaults.inc();
          bad = true;
          continue;
        }
        const dlen = desc[TX_DESC.LENGTH]! | (desc[TX_DESC.LENGTH + 1]! << 8);
        const cmd = desc[TX_DESC.CMD]!;
        if ((cmd & TXD_CMD.RS) !== 0) this.rsList[this.rsCount++] = cur;
        if (!bad) {
          if (len + dlen > maxData) bad = true;
          else if (
            dlen > 0 &&
            dma.dmaRead(rid, readU64(desc, TX_DESC.BUFFER_ADDRESS), buf, len, dlen) !== DMA_OK
          ) {
            this.txDmaFaults.inc();
            bad = true;
          } else len += dlen;
        }
        if ((cmd & TXD_CMD.EOP) !== 0) {
          eop = true;
          ifcs = (cmd & TXD_CMD.IFCS) !== 0;
          break;
        }
      }
      if (!eop) {
        // The packet's last descriptor is not yet owned by the NIC: wait for the tail.
        this.rsCount = rsMark;
        break;
      }
      idx = j;
      if (bad) {
        this.txDropped.inc();
        continue;
      }
      let frameLen = len;
      if (ifcs) {
        // Short packets are padded to 60 bytes before the 4-byte FCS (82599 §7.2.3.2.2).
        const minData = ETHERNET.MIN_FRAME_BYTES - ETHERNET.FCS_BYTES;
        if (frameLen < minData) {
          buf.fill(0, frameLen, minData);
          frameLen = minData;
        }
        buf.fill(0, frameLen, frameLen + ETHERNET.FCS_BYTES);
        frameLen += ETHERNET.FCS_BYTES;
      }
      this.txFrames.inc();
      this.txBytes.add(len);
      this.gptc++;
      this.gotc += len;
      // Its buffers are read in one round trip that grows with their size (pcie-bench).
      const dataReady = nic.sim.now + dmaLatencyPs(readBasePs, readPsPerByte, len);
      if (dataReady > lastDataReady) lastDataReady = dataReady;
      if (port === null || !port.transmit(buf, 0, frameLen, dataReady)) this.txDropped.inc();
    }
    this.txPendingHead = idx;
    if (idx !== this.tdh) {
      // The DD write-back (a few bytes: the base write latency) follows the last buffer read.
      nic.sim.schedule(this.txCompleteEvent, lastDataReady + nic.timing.dmaWriteLatencyPs);
    } else if (blocked && port !== null) {
      nic.sim.schedule(
        this.txFetchEvent,
        Math.max(nic.sim.now + 1, Math.round(port.busyUntil - bufferLimitPs / 2)),
      );
    }
  }

  /** Writes DD into every processed descriptor that had RS, moves TDH, raises the TX cause. */
  private txComplete(): void {
    const nic = this.nic;
    const desc = nic.descriptor;
    const base = this.tdbah * TWO_POW_32 + this.tdbal;
    let translatePs = 0;
    desc[0] = TXD_STAT.DD;
    for (let i = 0; i < this.rsCount; i++) {
      const addr = base + this.rsList[i]! * TX_DESC.SIZE + TX_DESC.STATUS;
      if (nic.dma.dmaWrite(this.requesterId, addr, desc, 0, 1) !== DMA_OK) this.txDmaFaults.inc();
      translatePs += nic.dma.lastLatencyPs;
    }
    const wroteBack = this.rsCount > 0;
    this.rsCount = 0;
    this.tdh = this.txPendingHead;
    if (wroteBack) {
      this.raiseCause(this.ivarVector((this.ivar0 >>> IVAR.TX0_SHIFT) & 0xff), nic.sim.now + translatePs);
    }
    this.kickTransmit();
  }
}

function readU64(b: Uint8Array, o: number): number {
  const lo = (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0;
  const hi = (b[o + 4]! | (b[o + 5]! << 8) | (b[o + 6]! << 16) | (b[o + 7]! << 24)) >>> 0;
  return hi * TWO_POW_32 + lo;
}

/** A VF's configuration space (SR-IOV 1.1 §3.4 and the 82599's VF layout). */
function makeVfConfigSpace(vectors: number): ConfigSpace {
  const cs = new ConfigSpace();
  // SR-IOV §3.4.1.1–2: a VF's Vendor ID and Device ID read 0xFFFF; software takes the
  // device ID from the PF's VF Device ID field.
  cs.init(PCI_CFG.VENDOR_ID, 2, 0xffff);
  cs.init(PCI_CFG.DEVICE_ID, 2, 0xffff);
  // §3.4.1.3: only Bus Master Enable is writable in a VF's Command register (Memory
  // Space is the PF's VF MSE; INTx is not supported).
  cs.setWritable(PCI_CFG.COMMAND, 2, PCI_COMMAND.BUS_MASTER);
  cs.init(PCI_CFG.STATUS, 2, PCI_STATUS.CAPABILITIES_LIST);
  cs.setClearable(PCI_CFG.STATUS, 2, 0xf900);
  cs.init(PCI_CFG.REVISION_ID, 1, 0x01);
  cs.init(PCI_CFG.CLASS_BASE, 1, 0x02);
  addMsixCapability(cs, VF_MSIX_CAP, vectors, VF_MSIX_BAR);
  addPcieCapability(cs, VF_PCIE_CAP);
  cs.addExtendedCapability(0x100, PCI_EXT_CAP_ID.ARI, 1);
  return cs;
}
