import type {
  InterruptLineListener,
  InterruptMessage,
  LocalApic,
  MmioSize,
  MsrAccessResult,
  MsrValue,
} from '@exitless/x86';
import { APIC_BASE_MSR, APIC_DEFAULT_BASE, APIC_REG, isX2apicMsr, MSR, MSR_GP, MSR_OK } from '@exitless/x86';

/** The spurious vector the double returns from an INTA with nothing pending (SVR reset value). */
export const SPURIOUS_VECTOR = 0xff;

/**
 * A small LAPIC for CPU tests: IRR and ISR as 256-entry sets, the SDM's priority-class rule
 * for INTR (highest IRR class above highest ISR class; TPR is 0), EOI through the xAPIC
 * page (offset 0xB0) or the x2APIC MSR 0x80B, an NMI latch, and IA32_APIC_BASE.
 */
export class LapicDouble implements LocalApic {
  readonly irr: Uint8Array = new Uint8Array(256);
  readonly isr: Uint8Array = new Uint8Array(256);
  nmiPending = false;
  apicBaseLo: number = (APIC_DEFAULT_BASE | APIC_BASE_MSR.ENABLE | APIC_BASE_MSR.BSP) >>> 0;
  eoiCount = 0;
  acknowledgeCount = 0;
  readonly mmioLog: { write: boolean; offset: number; value: number }[] = [];
  private listener: InterruptLineListener | null = null;

  get apicId(): number {
    return 0;
  }
  get x2apicMode(): boolean {
    return (this.apicBaseLo & APIC_BASE_MSR.EXTD) !== 0;
  }
  get enabled(): boolean {
    return (this.apicBaseLo & APIC_BASE_MSR.ENABLE) !== 0;
  }
  get arbitrationPriority(): number {
    return 0;
  }

  /** Sets `vector` in IRR and tells the CPU (as a real LAPIC does when a message arrives). */
  raise(vector: number): void {
    this.irr[vector] = 1;
    this.listener?.interruptLineChanged();
  }

  raiseNmi(): void {
    this.nmiPending = true;
    this.listener?.interruptLineChanged();
  }

  enterX2apicMode(): void {
    this.apicBaseLo = (this.apicBaseLo | APIC_BASE_MSR.EXTD) >>> 0;
  }

  private static highest(set: Uint8Array): number {
    for (let v = 255; v >= 0; v--) if (set[v] === 1) return v;
    return -1;
  }

  hasInterrupt(): boolean {
    const r = LapicDouble.highest(this.irr);
    if (r < 0) return false;
    const s = LapicDouble.highest(this.isr);
    return s < 0 || r >>> 4 > s >>> 4;
  }

  acknowledge(): number {
    this.acknowledgeCount++;
    if (!this.hasInterrupt()) return SPURIOUS_VECTOR;
    const r = LapicDouble.highest(this.irr);
    this.irr[r] = 0;
    this.isr[r] = 1;
    return r;
  }

  hasNmi(): boolean {
    return this.nmiPending;
  }

  acknowledgeNmi(): void {
    this.nmiPending = false;
  }

  connect(listener: InterruptLineListener): void {
    this.listener = listener;
  }

  eoi(): void {
    const s = LapicDouble.highest(this.isr);
    if (s >= 0) this.isr[s] = 0;
    this.eoiCount++;
    this.listener?.interruptLineChanged();
  }

  ownsMsr(index: number): boolean {
    return index === MSR.IA32_APIC_BASE || isX2apicMsr(index);
  }

  readMsr(index: number, out: MsrValue): MsrAccessResult {
    if (index === MSR.IA32_APIC_BASE) {
      out.lo = this.apicBaseLo;
      out.hi = 0;
      return MSR_OK;
    }
    if (!this.x2apicMode || index === MSR.X2APIC_EOI) return MSR_GP;
    out.lo = 0;
    out.hi = 0;
    return MSR_OK;
  }

  writeMsr(index: number, lo: number, _hi: number): MsrAccessResult {
    if (index === MSR.IA32_APIC_BASE) {
      this.apicBaseLo = lo >>> 0;
      return MSR_OK;
    }
    if (!this.x2apicMode) return MSR_GP;
    if (index === MSR.X2APIC_EOI) this.eoi();
    return MSR_OK;
  }

  mmioRead(offset: number, _size: MmioSize): number {
    this.mmioLog.push({ write: false, offset, value: 0 });
    return offset === APIC_REG.VERSION ? 0x50014 : 0;
  }

  mmioWrite(offset: number, _size: MmioSize, value: number): void {
    this.mmioLog.push({ write: true, offset, value });
    if (offset === APIC_REG.EOI) this.eoi();
  }

  matchesDestination(destination: number): boolean {
    return destination === 0;
  }

  acceptInterrupt(message: InterruptMessage): void {
    this.raise(message.vector);
  }
}
