import type { Counter, ScopedStats, Simulator } from '@exitless/sim';
import {
  type DmaPort,
  type MmioDevice,
  type MmioSize,
  MSIX_CAP,
  MSIX_CONTROL,
  type MsiSink,
  PCI_CAP_ID,
  PCI_CFG,
  PCI_COMMAND,
  PCI_EXT_CAP_ID,
  PCI_STATUS,
  type PciConfigSize,
  type PciFunction,
  SRIOV_CAP,
  SRIOV_CONTROL,
  TWO_POW_32,
} from '@exitless/x86';
import { ConfigSpace, decodedWhen } from './config-space.js';
import { NicConfigError } from './errors.js';
import { MsixTable } from './msix.js';
import { DMA_BASE_BYTES, NIC_82599, type NicCore, type NicOptions, type NicTiming } from './options.js';
import type { NicFactoryOptions } from './part.js';
import {
  addMsixCapability,
  addPcieCapability,
  MSIX_BAR_SIZE,
  MSIX_PBA_OFFSET,
  MSIX_TABLE_OFFSET,
} from './pci-header.js';
import {
  DEVICE_ID_82599_SFP,
  DEVICE_ID_82599_VF,
  ETHERNET,
  INTEL_VENDOR_ID,
  MAILBOX_WORDS,
  PF_REG,
} from './regs.js';
import { VF_BAR0_SIZE, VF_BAR3_SIZE, VirtualFunction } from './vf.js';
import type { EthernetEndpoint, WirePort } from './wire.js';

/** PF configuration-space layout (after the 82599's, §9.3): capabilities and BARs. */
export const PF_LAYOUT = {
  /** Offset of the power-management capability. */
  PM_CAP: 0x40,
  /** Offset of the MSI-X capability. */
  MSIX_CAP: 0x70,
  /** Offset of the PCI Express capability. */
  PCIE_CAP: 0xa0,
  /** Offset of the AER extended capability. */
  AER_EXT_CAP: 0x100,
  /** Offset of the ARI extended capability. */
  ARI_EXT_CAP: 0x150,
  /** Offset of the SR-IOV extended capability. */
  SRIOV_EXT_CAP: 0x160,
  /** BAR0 (64-bit, 0x10/0x14): the PF register map. */
  BAR0_SIZE: 0x20000,
  /** BAR4 (64-bit, 0x20/0x24): the PF's MSI-X table and PBA. */
  MSIX_BAR: 4,
} as const;

/** 48-bit MAC address (first octet most significant) of the destination field of a frame. */
export function destinationMac(data: Uint8Array): number {
  return (
    data[0]! * 0x10000000000 +
    data[1]! * TWO_POW_32 +
    (((data[2]! << 24) | (data[3]! << 16) | (data[4]! << 8) | data[5]!) >>> 0)
  );
}

/** Writes a 48-bit MAC number into `data[offset…offset+6)`. */
export function writeMac(data: Uint8Array, offset: number, mac: number): void {
  const hi = Math.floor(mac / TWO_POW_32);
  const lo = mac % TWO_POW_32;
  data[offset] = (hi >>> 8) & 0xff;
  data[offset + 1] = hi & 0xff;
  data[offset + 2] = (lo >>> 24) & 0xff;
  data[offset + 3] = (lo >>> 16) & 0xff;
  data[offset + 4] = (lo >>> 8) & 0xff;
  data[offset + 5] = lo & 0xff;
}

/**
 * The physical function: the standard header with BAR0 (registers) and BAR4 (MSI-X),
 * power management, MSI-X, PCI Express, AER, ARI and SR-IOV capabilities, and the PF half
 * of the mailbox (PFMAILBOX, PFMBMEM, MBVFICR in BAR0). Its own network data path is not
 * modeled: frames the switch sends to the PF are counted and handed to `receiver`.
 */
export class PhysicalFunction implements PciFunction {
  readonly requesterId: number;
  /** The PF's configuration space. */
  readonly config: ConfigSpace;
  /** The PF's MSI-X table and PBA. */
  readonly msix: MsixTable;
  /** BAR0: the PF register map (only the mailbox registers are implemented). */
  readonly registers: MmioDevice;
  /** BAR4: the MSI-X table and PBA. */
  readonly msixBar: MmioDevice;
  /** The PF's MAC address. */
  mac: number;
  /** The PF MSI-X vector sent when a VF posts a mailbox request or ack (82599: the "other causes" vector). */
  mailboxVector = 0;
  /** Called when VF `vf` sets VFREQ or VFACK (the host's PF driver model can hook here). */
  onMailbox: ((vf: number) => void) | null = null;
  /** Where frames switched to the PF go (the host network stack), or null to only count them. */
  receiver: EthernetEndpoint | null = null;

  private readonly nic: SriovNic;
  private readonly rxFrames: Counter;
  private readonly unimplemented: Counter;
  private readonly memoryDisabled: Counter;

  /** @internal */
  constructor(nic: SriovNic, options: NicOptions, stats: ScopedStats) {
    this.nic = nic;
    this.requesterId = options.requesterId;
    this.mac = options.macAddress;
    this.config = makePfConfigSpace(options);
    this.msix = new MsixTable(
      options.pfMsixVectors,
      MSIX_TABLE_OFFSET,
      MSIX_PBA_OFFSET,
      this.requesterId,
      nic.msi,
      stats,
    );
    this.rxFrames = stats.counter('rx.frames');
    this.unimplemented = stats.counter('mmio.unimplemented');
    this.memoryDisabled = stats.counter('mmio.memory-disabled');
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

  configRead(offset: number, size: PciConfigSize): number {
    return this.config.readAnswer(offset, size);
  }

  configWrite(offset: number, size: PciConfigSize, value: number): void {
    if (!this.config.valid(offset, size)) return;
    const s = PF_LAYOUT.SRIOV_EXT_CAP;
    const wasEnabled = (this.config.read(s + SRIOV_CAP.CONTROL, 2) & SRIOV_CONTROL.VF_ENABLE) !== 0;
    const numVfs = this.config.read(s + SRIOV_CAP.NUM_VFS, 2);
    this.config.write(offset, size, value);
    // SR-IOV 1.1 §3.3.7: NumVFs may change only while VF Enable is clear.
    if (wasEnabled) this.config.init(s + SRIOV_CAP.NUM_VFS, 2, numVfs);
    const enabled = (this.config.read(s + SRIOV_CAP.CONTROL, 2) & SRIOV_CONTROL.VF_ENABLE) !== 0;
    const ctl = this.config.read(PF_LAYOUT.MSIX_CAP + MSIX_CAP.MESSAGE_CONTROL, 2);
    this.msix.setControl(
      (ctl & MSIX_CONTROL.ENABLE) !== 0,
      (ctl & MSIX_CONTROL.FUNCTION_MASK) !== 0,
      (this.config.read(PCI_CFG.COMMAND, 2) & PCI_COMMAND.BUS_MASTER) !== 0,
    );
    if (enabled !== wasEnabled) this.nic.setVfEnable(enabled, this.config.read(s + SRIOV_CAP.NUM_VFS, 2));
  }

  /** The address BAR `bar` (0 or 4) decodes, as last programmed. */
  barAddress(bar: 0 | 4): number {
    return this.config.memoryBar64(PCI_CFG.BAR0 + 4 * bar);
  }

  /** The size of BAR `bar`. */
  barSize(bar: 0 | 4): number {
    return bar === 0 ? PF_LAYOUT.BAR0_SIZE : MSIX_BAR_SIZE;
  }

  /** SR-IOV VF BAR `bar` (0 or 3) base: VF n's BAR is this + n × its size. */
  vfBarBase(bar: 0 | 3): number {
    return this.config.memoryBar64(PF_LAYOUT.SRIOV_EXT_CAP + SRIOV_CAP.VF_BAR0 + 4 * bar);
  }

  private memoryEnabled(): boolean {
    if ((this.config.read(PCI_CFG.COMMAND, 2) & PCI_COMMAND.MEMORY_SPACE) !== 0) return true;
    this.memoryDisabled.inc();
    return false;
  }

  /** @internal a frame the switch sends to the PF. */
  receive(data: Uint8Array, length: number): void {
    this.rxFrames.inc();
    if (this.receiver !== null) this.receiver.receiveFrame(data, length);
  }

  // ---- PF side of the mailbox (82599 §7.9.2.2) -----------------------------------------

  /** MBVFICR for VF `vf`: bit 0 VFREQ (a message is waiting), bit 1 VFACK (the VF acknowledged). */
  mailboxStatus(vf: number): number {
    return this.nic.vf(vf)?.mbvficr ?? 0;
  }

  /** Copies VF `vf`'s mailbox message into `out`, clears VFREQ and acknowledges it (PFMAILBOX.ACK). */
  receiveFromVf(vf: number, out: Uint32Array): boolean {
    const f = this.nic.vf(vf);
    if (f === undefined) return false;
    out.set(f.mailboxMemory.subarray(0, Math.min(out.length, MAILBOX_WORDS)));
    f.mbvficr &= ~1;
    f.pfMailboxWrite(0x02);
    return true;
  }

  /**
   * Sends a message to VF `vf` the way the PF driver does: take the buffer (PFU), write
   * PFMBMEM, then set STS, which releases the buffer and interrupts the VF. False if the
   * VF holds the buffer (try again later) or does not exist.
   */
  sendToVf(vf: number, words: ArrayLike<number>): boolean {
    const f = this.nic.vf(vf);
    if (f === undefined) return false;
    f.pfMailboxWrite(0x08);
    if ((f.pfMailboxRead() & 0x08) === 0) return false;
    for (let i = 0; i < Math.min(words.length, MAILBOX_WORDS); i++) f.pfMailboxMemoryWrite(i, words[i]!);
    f.pfMailboxWrite(0x01);
    return true;
  }

  private readRegister(offset: number, size: MmioSize): number {
    if (size !== 4 || (offset & 3) !== 0) {
      this.unimplemented.inc();
      return 0;
    }
    if (offset >= PF_REG.MBVFICR0 && offset < PF_REG.MBVFICR0 + 16) {
      const first = ((offset - PF_REG.MBVFICR0) >>> 2) * 16;
      let v = 0;
      for (let i = 0; i < 16; i++) {
        const bits = this.nic.vf(first + i)?.mbvficr ?? 0;
        v |= ((bits & 1) << i) | (((bits >>> 1) & 1) << (16 + i));
      }
      return v >>> 0;
    }
    if (offset >= PF_REG.PFMAILBOX0 && offset < PF_REG.PFMAILBOX0 + 64 * 4) {
      return this.nic.vf((offset - PF_REG.PFMAILBOX0) >>> 2)?.pfMailboxRead() ?? 0;
    }
    if (offset >= PF_REG.PFMBMEM0 && offset < PF_REG.PFMBMEM0 + 64 * 64) {
      const rel = offset - PF_REG.PFMBMEM0;
      return this.nic.vf(rel >>> 6)?.mailboxMemory[(rel & 63) >>> 2] ?? 0;
    }
    this.unimplemented.inc();
    return 0;
  }

  private writeRegister(offset: number, size: MmioSize, value: number): void {
    if (size !== 4 || (offset & 3) !== 0) {
      this.unimplemented.inc();
      return;
    }
    if (offset >= PF_REG.MBVFICR0 && offset < PF_REG.MBVFICR0 + 16) {
      const first = ((offset - PF_REG.MBVFICR0) >>> 2) * 16;
      for (let i = 0; i < 16; i++) {
        const f = this.nic.vf(first + i);
        if (f === undefined) continue;
        if ((value >>> i) & 1) f.mbvficr &= ~1;
        if ((value >>> (16 + i)) & 1) f.mbvficr &= ~2;
      }
      return;
    }
    if (offset >= PF_REG.PFMAILBOX0 && offset < PF_REG.PFMAILBOX0 + 64 * 4) {
      this.nic.vf((offset - PF_REG.PFMAILBOX0) >>> 2)?.pfMailboxWrite(value);
      return;
    }
    if (offset >= PF_REG.PFMBMEM0 && offset < PF_REG.PFMBMEM0 + 64 * 64) {
      const rel = offset - PF_REG.PFMBMEM0;
      this.nic.vf(rel >>> 6)?.pfMailboxMemoryWrite((rel & 63) >>> 2, value);
      return;
    }
    this.unimplemented.inc();
  }
}

/**
 * A PCI SR-IOV 10 GbE NIC after the Intel 82599: a PF, up to TotalVFs VFs created when
 * software sets VF Enable, a layer-2 switch that sends each received frame to the
 * function whose MAC matches its destination (broadcast and multicast to all), and one
 * Ethernet port connected to a Wire. It reaches memory only through `dma` (with each
 * function's requester ID) and signals interrupts only through `msi`.
 */
export class SriovNic implements NicCore, EthernetEndpoint {
  /** The simulator the NIC runs on. */
  readonly sim: Simulator;
  /** Where every function's DMA goes (with its requester ID). */
  readonly dma: DmaPort;
  /** Where every function's MSI-X messages go (with its requester ID). */
  readonly msi: MsiSink;
  /** The NIC's DMA latencies. */
  readonly timing: NicTiming;
  /** What the NIC is configured as. */
  readonly options: NicOptions;
  /** The physical function. */
  readonly pf: PhysicalFunction;
  /** The enabled VFs, VF n at index n (empty while VF Enable is clear). */
  readonly vfs: VirtualFunction[] = [];
  /** Called after VF Enable changes, so the machine can map or unmap the VFs' BARs. */
  onVfsChanged: ((vfs: readonly VirtualFunction[]) => void) | null = null;
  /** @internal */
  readonly txBuffer: Uint8Array;
  /** @internal */
  readonly descriptor: Uint8Array = new Uint8Array(16);
  private _port: WirePort | null = null;
  private readonly stats: ScopedStats;
  private readonly created: VirtualFunction[] = [];
  private readonly vfMacs: number[] = [];
  private readonly byMac = new Map<number, VirtualFunction>();
  /** The last unicast lookup in byMac: its MAC (−1: none, after byMac changed) and result. */
  private lookedUpMac = -1;
  private lookedUp: VirtualFunction | undefined = undefined;
  private readonly portRxFrames: Counter;
  private readonly portRxBytes: Counter;
  private readonly portRxRunts: Counter;
  private readonly portRxUnknown: Counter;
  private readonly invalidNumVfs: Counter;

  constructor(
    sim: Simulator,
    dma: DmaPort,
    msi: MsiSink,
    timing: NicTiming,
    options: NicOptions,
    stats: ScopedStats,
  ) {
    validate(timing, options);
    this.sim = sim;
    this.dma = dma;
    this.msi = msi;
    this.timing = timing;
    this.options = options;
    this.stats = stats;
    this.txBuffer = new Uint8Array(options.maxFrameBytes);
    for (let n = 0; n < options.totalVfs; n++) this.vfMacs.push(options.macAddress + 1 + n);
    this.pf = new PhysicalFunction(this, options, stats.scope('pf'));
    this.portRxFrames = stats.counter('port.rx.frames');
    this.portRxBytes = stats.counter('port.rx.bytes');
    this.portRxRunts = stats.counter('port.rx.runts');
    this.portRxUnknown = stats.counter('port.rx.unknown-unicast-dropped');
    this.invalidNumVfs = stats.counter('sriov.invalid-num-vfs');
  }

  /** The wire end the port is connected to, or null. */
  get port(): WirePort | null {
    return this._port;
  }

  /**
   * Connects the port to one end of a wire. Received frames are handled (switched and
   * written by DMA) after their last bit arrives by the DMA write latency of their data
   * (`dmaWriteLatencyPs`, plus `dmaWritePsPerByte` for each byte beyond 64 of the frame
   * without its FCS), in arrival order.
   */
  connect(port: WirePort): void {
    if (this._port !== null) this._port.connect(null);
    this._port = port;
    port.connect(
      this,
      this.timing.dmaWriteLatencyPs,
      this.timing.dmaWritePsPerByte ?? 0,
      DMA_BASE_BYTES + ETHERNET.FCS_BYTES,
    );
  }

  /** VF n if enabled. */
  vf(n: number): VirtualFunction | undefined {
    return this.vfs[n];
  }

  /** The requester ID of VF n: PF RID + First VF Offset + n × VF Stride (SR-IOV 1.1 §3.3.10–11). */
  vfRequesterId(n: number): number {
    return (this.options.requesterId + this.options.firstVfOffset + n * this.options.vfStride) & 0xffff;
  }

  /** Where VF n's BAR `bar` (0 registers, 3 MSI-X) is: the PF's VF BAR plus n × its size. */
  vfBarAddress(n: number, bar: 0 | 3): number {
    return this.pf.vfBarBase(bar) + n * (bar === 0 ? VF_BAR0_SIZE : VF_BAR3_SIZE);
  }

  /** The size of each VF's BAR `bar`. */
  vfBarSize(bar: 0 | 3): number {
    return bar === 0 ? VF_BAR0_SIZE : VF_BAR3_SIZE;
  }

  /** Sets VF n's MAC address (what the PF driver does with the RAR/pool filters). */
  setVfMac(n: number, mac: number): void {
    if (!Number.isInteger(n) || n < 0 || n >= this.options.totalVfs) {
      throw new NicConfigError(`setVfMac: VF ${n} does not exist (TotalVFs = ${this.options.totalVfs})`);
    }
    this.vfMacs[n] = mac;
    const f = this.vfs[n];
    if (f !== undefined) {
      this.byMac.delete(f.mac);
      f.mac = mac;
      this.byMac.set(mac, f);
      this.lookedUpMac = -1;
    }
  }

  /** @internal SR-IOV VF MSE. */
  vfMemoryEnabled(): boolean {
    const ctl = this.pf.config.read(PF_LAYOUT.SRIOV_EXT_CAP + SRIOV_CAP.CONTROL, 2);
    return (
      (ctl & (SRIOV_CONTROL.VF_ENABLE | SRIOV_CONTROL.VF_MSE)) ===
      (SRIOV_CONTROL.VF_ENABLE | SRIOV_CONTROL.VF_MSE)
    );
  }

  /** @internal a VF set VFREQ or VFACK. */
  vfMailboxEvent(vf: number): void {
    this.pf.msix.signal(this.pf.mailboxVector);
    this.pf.onMailbox?.(vf);
  }

  /** @internal VF Enable changed in the PF's SR-IOV capability. */
  setVfEnable(enabled: boolean, numVfs: number): void {
    for (const f of this.vfs) f.disable();
    this.vfs.length = 0;
    this.byMac.clear();
    this.lookedUpMac = -1;
    if (enabled) {
      if (numVfs > this.options.totalVfs) {
        // SR-IOV 1.1 §3.3.7: NumVFs above TotalVFs is undefined; this model enables none.
        this.invalidNumVfs.inc();
      } else {
        for (let n = 0; n < numVfs; n++) {
          let f = this.created[n];
          if (f === undefined) {
            f = new VirtualFunction(
              this,
              n,
              this.vfRequesterId(n),
              this.vfMacs[n]!,
              this.stats.scope(`vf${n}`),
            );
            this.created[n] = f;
          }
          f.mac = this.vfMacs[n]!;
          this.vfs.push(f);
          this.byMac.set(f.mac, f);
          this.lookedUpMac = -1;
        }
      }
    }
    this.onVfsChanged?.(this.vfs);
  }

  /**
   * The port received a whole frame (FCS included): the switch picks the functions by
   * destination MAC. Unicast to a VF's MAC goes to that VF, to the PF's to the PF, to any
   * other to the PF or nowhere (options.unknownUnicast); broadcast and multicast go to
   * every function (multicast filtering is not modeled).
   */
  receiveFrame(data: Uint8Array, length: number): void {
    this.portRxFrames.inc();
    this.portRxBytes.add(length);
    if (length < ETHERNET.MIN_FRAME_BYTES) {
      // Undersize frames are discarded by the MAC (82599 RUC).
      this.portRxRunts.inc();
      return;
    }
    if ((data[0]! & 1) !== 0) {
      this.pf.receive(data, length);
      for (const f of this.vfs) f.receive(data, length);
      return;
    }
    const mac = destinationMac(data);
    let f = this.lookedUp;
    if (mac !== this.lookedUpMac) {
      f = this.byMac.get(mac);
      this.lookedUpMac = mac;
      this.lookedUp = f;
    }
    if (f !== undefined) f.receive(data, length);
    else if (mac === this.pf.mac || this.options.unknownUnicast === 'pf') this.pf.receive(data, length);
    else this.portRxUnknown.inc();
  }
}

function validate(timing: NicTiming, o: NicOptions): void {
  const nonNegInt = (v: number, what: string): void => {
    if (!Number.isSafeInteger(v) || v < 0)
      throw new NicConfigError(`${what} must be a non-negative integer, got ${v}`);
  };
  nonNegInt(timing.dmaReadLatencyPs, 'timing.dmaReadLatencyPs');
  nonNegInt(timing.dmaWriteLatencyPs, 'timing.dmaWriteLatencyPs');
  for (const key of ['dmaReadPsPerByte', 'dmaWritePsPerByte'] as const) {
    const v = timing[key];
    if (v !== undefined && !(Number.isFinite(v) && v >= 0))
      throw new NicConfigError(
        `timing.${key} must be a non-negative number of picoseconds per byte, got ${v}`,
      );
  }
  if (!Number.isInteger(o.requesterId) || o.requesterId < 0 || o.requesterId > 0xffff) {
    throw new NicConfigError(`requesterId must be a 16-bit bus:device.function, got ${o.requesterId}`);
  }
  if (!Number.isSafeInteger(o.macAddress) || o.macAddress < 0 || o.macAddress + 1 + o.totalVfs > 2 ** 48) {
    throw new NicConfigError(
      'macAddress must be a 48-bit number leaving room for TotalVFs VF addresses after it',
    );
  }
  if (!Number.isInteger(o.totalVfs) || o.totalVfs < 0 || o.totalVfs > 0xffff) {
    throw new NicConfigError(`totalVfs must be an integer in 0…65535, got ${o.totalVfs}`);
  }
  if (!Number.isInteger(o.initialVfs) || o.initialVfs < 0 || o.initialVfs > o.totalVfs) {
    throw new NicConfigError(`initialVfs must be an integer in 0…totalVfs, got ${o.initialVfs}`);
  }
  if (
    !Number.isInteger(o.firstVfOffset) ||
    o.firstVfOffset < 1 ||
    !Number.isInteger(o.vfStride) ||
    o.vfStride < 1
  ) {
    throw new NicConfigError('firstVfOffset and vfStride must be positive integers (82599: 0x80 and 2)');
  }
  if (o.totalVfs > 0 && o.requesterId + o.firstVfOffset + (o.totalVfs - 1) * o.vfStride > 0xffff) {
    throw new NicConfigError(
      'the last VF requester ID would exceed 0xFFFF: lower totalVfs, firstVfOffset or vfStride',
    );
  }
  if (!Number.isInteger(o.vfMsixVectors) || o.vfMsixVectors < 1 || o.vfMsixVectors > 32) {
    throw new NicConfigError(
      `vfMsixVectors must be 1…32 (one EICR bit each; the 82599 has 3), got ${o.vfMsixVectors}`,
    );
  }
  if (!Number.isInteger(o.pfMsixVectors) || o.pfMsixVectors < 1 || o.pfMsixVectors > 256) {
    throw new NicConfigError(
      `pfMsixVectors must be 1…256 (the 16 KiB MSI-X BAR holds the table below 0x2000), got ${o.pfMsixVectors}`,
    );
  }
  if (
    !Number.isInteger(o.maxFrameBytes) ||
    o.maxFrameBytes < ETHERNET.MIN_FRAME_BYTES ||
    o.maxFrameBytes > 16384
  ) {
    throw new NicConfigError(`maxFrameBytes must be 64…16384, got ${o.maxFrameBytes}`);
  }
  if (!Number.isSafeInteger(o.txPacketBufferBytes) || o.txPacketBufferBytes < o.maxFrameBytes) {
    throw new NicConfigError('txPacketBufferBytes must be an integer at least maxFrameBytes');
  }
  if (o.unknownUnicast !== 'pf' && o.unknownUnicast !== 'drop') {
    throw new NicConfigError(`unknownUnicast must be 'pf' or 'drop', got ${String(o.unknownUnicast)}`);
  }
}

/** The PF's configuration space. */
function makePfConfigSpace(o: NicOptions): ConfigSpace {
  const cs = new ConfigSpace();
  cs.init(PCI_CFG.VENDOR_ID, 2, INTEL_VENDOR_ID);
  cs.init(PCI_CFG.DEVICE_ID, 2, DEVICE_ID_82599_SFP);
  cs.setWritable(
    PCI_CFG.COMMAND,
    2,
    PCI_COMMAND.MEMORY_SPACE |
      PCI_COMMAND.BUS_MASTER |
      PCI_COMMAND.PARITY_ERROR_RESPONSE |
      PCI_COMMAND.SERR_ENABLE |
      PCI_COMMAND.INTX_DISABLE,
  );
  cs.init(PCI_CFG.STATUS, 2, PCI_STATUS.CAPABILITIES_LIST);
  cs.setClearable(PCI_CFG.STATUS, 2, 0xf900);
  cs.init(PCI_CFG.REVISION_ID, 1, 0x01);
  // Class code 0x020000: network controller, Ethernet.
  cs.init(PCI_CFG.CLASS_BASE, 1, 0x02);
  cs.init(PCI_CFG.CLASS_SUBCLASS, 1, 0x00);
  cs.setWritable(PCI_CFG.CACHE_LINE_SIZE, 1, 0xff);
  cs.init(PCI_CFG.HEADER_TYPE, 1, 0x00);
  cs.defineMemoryBar64(PCI_CFG.BAR0, PF_LAYOUT.BAR0_SIZE, false);
  cs.defineMemoryBar64(PCI_CFG.BAR0 + 4 * PF_LAYOUT.MSIX_BAR, MSIX_BAR_SIZE, false);
  cs.init(PCI_CFG.SUBSYSTEM_VENDOR_ID, 2, INTEL_VENDOR_ID);
  cs.init(PCI_CFG.SUBSYSTEM_ID, 2, 0x0003);
  cs.setWritable(PCI_CFG.INTERRUPT_LINE, 1, 0xff);
  cs.init(PCI_CFG.INTERRUPT_PIN, 1, 0x01);
  // Power management (PCI PM 1.2): version 3, D0 only; PMCSR PowerState writable.
  cs.addCapability(PF_LAYOUT.PM_CAP, PCI_CAP_ID.POWER_MANAGEMENT);
  cs.init(PF_LAYOUT.PM_CAP + 2, 2, 0x0003);
  cs.setWritable(PF_LAYOUT.PM_CAP + 4, 2, 0x0003);
  addMsixCapability(cs, PF_LAYOUT.MSIX_CAP, o.pfMsixVectors, PF_LAYOUT.MSIX_BAR);
  addPcieCapability(cs, PF_LAYOUT.PCIE_CAP);
  cs.addExtendedCapability(PF_LAYOUT.AER_EXT_CAP, PCI_EXT_CAP_ID.AER, 1);
  cs.addExtendedCapability(PF_LAYOUT.ARI_EXT_CAP, PCI_EXT_CAP_ID.ARI, 1);
  const s = PF_LAYOUT.SRIOV_EXT_CAP;
  cs.addExtendedCapability(s, PCI_EXT_CAP_ID.SRIOV, 1);
  cs.init(s + SRIOV_CAP.CAPABILITIES, 4, 0);
  cs.setWritable(
    s + SRIOV_CAP.CONTROL,
    2,
    SRIOV_CONTROL.VF_ENABLE | SRIOV_CONTROL.VF_MSE | SRIOV_CONTROL.ARI_CAPABLE_HIERARCHY,
  );
  cs.init(s + SRIOV_CAP.INITIAL_VFS, 2, o.initialVfs);
  cs.init(s + SRIOV_CAP.TOTAL_VFS, 2, o.totalVfs);
  cs.setWritable(s + SRIOV_CAP.NUM_VFS, 2, 0xffff);
  cs.init(s + SRIOV_CAP.FIRST_VF_OFFSET, 2, o.firstVfOffset);
  cs.init(s + SRIOV_CAP.VF_STRIDE, 2, o.vfStride);
  cs.init(s + SRIOV_CAP.VF_DEVICE_ID, 2, DEVICE_ID_82599_VF);
  // 4 KiB, 8 KiB, 64 KiB, 256 KiB, 1 MiB and 4 MiB pages (0x553, as the 82599 reports).
  cs.init(s + SRIOV_CAP.SUPPORTED_PAGE_SIZES, 4, 0x553);
  cs.init(s + SRIOV_CAP.SYSTEM_PAGE_SIZE, 4, 0x1);
  cs.setWritable(s + SRIOV_CAP.SYSTEM_PAGE_SIZE, 4, 0x553);
  cs.defineMemoryBar64(s + SRIOV_CAP.VF_BAR0, VF_BAR0_SIZE, false);
  cs.defineMemoryBar64(s + SRIOV_CAP.VF_BAR0 + 4 * 3, VF_BAR3_SIZE, false);
  return cs;
}

/**
 * The package's 82599 as a NIC factory (`NicFactory`): an `SriovNic` with `NIC_82599`'s
 * layout, at the requester ID and MAC address, on the DMA port, MSI sink and timing the caller
 * hands it — what a board's NIC slot and the NIC conformance suite take.
 */
export function sriovNic82599(options: NicFactoryOptions): SriovNic {
  const { sim, dma, msi, timing, requesterId, macAddress, stats } = options;
  return new SriovNic(sim, dma, msi, timing, { ...NIC_82599, requesterId, macAddress }, stats);
}
