import type { Counter, ScopedStats } from '@exitless/sim';
import { type MmioDevice, type MmioSize, MSIX_ENTRY, type MsiSink, TWO_POW_32 } from '@exitless/x86';

/**
 * An MSI-X table and Pending Bit Array (PCI 3.0 §6.8.2) living in one of a function's
 * BARs. Each entry is four dwords: message address low/high, message data, vector
 * control (bit 0 = mask, set at reset). A vector that fires while masked (its own mask or
 * the function mask) sets its PBA bit instead; when it is unmasked with the bit set, the
 * message is sent then and the bit cleared. The message is sent exactly as software wrote
 * it: address and data are opaque to the device, so compatibility- and remappable-format
 * messages alike pass through to the MsiSink (the IOMMU decodes them).
 */
export class MsixTable implements MmioDevice {
  /** Number of vectors (Table Size + 1). */
  readonly vectors: number;
  /** Byte offset of the table in its BAR. */
  readonly tableOffset: number;
  /** Byte offset of the PBA in its BAR. */
  readonly pbaOffset: number;
  private readonly table: Uint32Array;
  private readonly pba: Uint32Array;
  private readonly sink: MsiSink;
  private readonly rid: number;
  /** MSI-X Enable (Message Control bit 15), kept in step with config space by the owner. */
  private enabled = false;
  /** Function Mask (Message Control bit 14). */
  private functionMask = false;
  /** Bus Master Enable (Command bit 2): without it the function cannot write messages. */
  private busMaster = false;
  /** Messages sent, per vector (`interrupts.v<n>`). */
  readonly perVector: readonly Counter[];
  /** Messages sent, all vectors (`interrupts.total`). */
  readonly sentTotal: Counter;
  private readonly pendingSet: Counter;
  private readonly droppedDisabled: Counter;
  private readonly droppedNoBusMaster: Counter;
  private readonly badAccess: Counter;

  constructor(
    vectors: number,
    tableOffset: number,
    pbaOffset: number,
    requesterId: number,
    sink: MsiSink,
    stats: ScopedStats,
  ) {
    this.vectors = vectors;
    this.tableOffset = tableOffset;
    this.pbaOffset = pbaOffset;
    this.rid = requesterId;
    this.sink = sink;
    this.table = new Uint32Array(vectors * 4);
    // The PBA is an array of qwords (PCI 3.0 §6.8.2.10).
    this.pba = new Uint32Array(Math.ceil(vectors / 64) * 2);
    for (let v = 0; v < vectors; v++) this.table[v * 4 + 3] = MSIX_ENTRY.MASK_BIT;
    const perVector: Counter[] = [];
    for (let v = 0; v < vectors; v++) perVector.push(stats.counter(`interrupts.v${v}`));
    this.perVector = perVector;
    this.sentTotal = stats.counter('interrupts.total');
    this.pendingSet = stats.counter('msix.pending-set');
    this.droppedDisabled = stats.counter('msix.dropped-disabled');
    this.droppedNoBusMaster = stats.counter('msix.dropped-no-bus-master');
    this.badAccess = stats.counter('msix.bad-access');
  }

  /** Messages sent on vector `v` so far. */
  sent(v: number): number {
    return this.perVector[v]?.value ?? 0;
  }

  /** True if vector `v`'s PBA bit is set. */
  pending(v: number): boolean {
    return ((this.pba[v >>> 5]! >>> (v & 31)) & 1) === 1;
  }

  /** True if vector `v` is masked by its own mask bit or the function mask. */
  masked(v: number): boolean {
    return this.functionMask || (this.table[v * 4 + 3]! & MSIX_ENTRY.MASK_BIT) !== 0;
  }

  /** Called by the owner when Message Control or the Command register changes. */
  setControl(enabled: boolean, functionMask: boolean, busMaster: boolean): void {
    const wasMasked = this.functionMask;
    this.enabled = enabled;
    this.functionMask = functionMask;
    this.busMaster = busMaster;
    if (wasMasked && !functionMask) this.deliverPending();
  }

  /** Resets the table to its power-on state (every vector masked, nothing pending). */
  reset(): void {
    this.table.fill(0);
    for (let v = 0; v < this.vectors; v++) this.table[v * 4 + 3] = MSIX_ENTRY.MASK_BIT;
    this.pba.fill(0);
  }

  /** The device requests service on vector `v`. */
  signal(v: number): void {
    if (v < 0 || v >= this.vectors) {
      this.badAccess.inc();
      return;
    }
    if (!this.enabled) {
      // INTx is not modeled: with MSI-X off the request has nowhere to go.
      this.droppedDisabled.inc();
      return;
    }
    if (this.masked(v)) {
      const word = v >>> 5;
      const bit = 1 << (v & 31);
      if ((this.pba[word]! & bit) === 0) this.pendingSet.inc();
      this.pba[word] = (this.pba[word]! | bit) >>> 0;
      return;
    }
    this.send(v);
  }

  private send(v: number): void {
    if (!this.busMaster) {
      this.droppedNoBusMaster.inc();
      return;
    }
    const i = v * 4;
    const address = this.table[i + 1]! * TWO_POW_32 + this.table[i]!;
    this.perVector[v]!.inc();
    this.sentTotal.inc();
    this.sink.msiWrite(address, this.table[i + 2]!, this.rid);
  }

  private deliverPending(): void {
    if (!this.enabled || this.functionMask) return;
    for (let v = 0; v < this.vectors; v++) {
      if (this.pending(v) && (this.table[v * 4 + 3]! & MSIX_ENTRY.MASK_BIT) === 0) {
        this.pba[v >>> 5] = (this.pba[v >>> 5]! & ~(1 << (v & 31))) >>> 0;
        this.send(v);
      }
    }
  }

  mmioRead(offset: number, size: MmioSize): number {
    const t = offset - this.tableOffset;
    if (t >= 0 && t < this.vectors * MSIX_ENTRY.SIZE) {
      if (size !== 4 || (t & 3) !== 0) {
        this.badAccess.inc();
        return 0xffffffff;
      }
      return this.table[t >>> 2]!;
    }
    const p = offset - this.pbaOffset;
    if (p >= 0 && p < this.pba.length * 4) {
      if (size !== 4 || (p & 3) !== 0) {
        this.badAccess.inc();
        return 0xffffffff;
      }
      return this.pba[p >>> 2]!;
    }
    return 0;
  }

  mmioWrite(offset: number, size: MmioSize, value: number): void {
    const t = offset - this.tableOffset;
    if (t < 0 || t >= this.vectors * MSIX_ENTRY.SIZE) return; // the PBA and the gaps are read-only
    if (size !== 4 || (t & 3) !== 0) {
      // PCI 3.0 §6.8.2: table accesses are aligned dwords or qwords (a qword is two dwords here).
      this.badAccess.inc();
      return;
    }
    const i = t >>> 2;
    const field = i & 3;
    const v = i >>> 2;
    if (field === 0)
      this.table[i] = (value & 0xfffffffc) >>> 0; // address bits 1:0 are reserved
    else if (field === 3) {
      this.table[i] = value & MSIX_ENTRY.MASK_BIT;
      if ((value & MSIX_ENTRY.MASK_BIT) === 0 && this.pending(v) && !this.functionMask && this.enabled) {
        this.pba[v >>> 5] = (this.pba[v >>> 5]! & ~(1 << (v & 31))) >>> 0;
        this.send(v);
      }
    } else this.table[i] = value >>> 0;
  }
}
