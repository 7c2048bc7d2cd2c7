import type { GuestPhysicalMap } from '@exitless/x86';
import { TWO_POW_32, VMCS_FIELD, VMCS_FIELD_WIDTH, vmcsFieldWidth } from '@exitless/x86';
import { FrameStack } from './frames.js';

const SUPPORTED_FIELDS: ReadonlySet<number> = new Set<number>(Object.values(VMCS_FIELD));

/**
 * Where each full field of VMCS_FIELD is kept in a Vmcs's arrays, by encoding (−1 for any
 * other encoding, which a Vmcs keeps in its maps instead).
 */
const FIELD_SLOT = new Int16Array(0x10000).fill(-1);
let fieldSlots = 0;
for (const encoding of SUPPORTED_FIELDS) FIELD_SLOT[encoding] = fieldSlots++;

/**
 * The fields the VM-entry checks on the control fields read (`controlsValid` in cpu.ts, SDM vol. 3
 * §26.2.1.1–§26.2.1.2), by FIELD_SLOT: a write to any of them counts in `Vmcs.controlWrites`, so
 * a CPU can reuse the checks' result while none changed. The event-injection fields
 * (§26.2.1.3) are not here: those checks run at every entry.
 */
const CONTROL_CHECK_SLOT = new Uint8Array(fieldSlots);
for (const encoding of [
  VMCS_FIELD.PIN_BASED_VM_EXEC_CONTROL,
  VMCS_FIELD.CPU_BASED_VM_EXEC_CONTROL,
  VMCS_FIELD.SECONDARY_VM_EXEC_CONTROL,
  VMCS_FIELD.VM_EXIT_CONTROLS,
  VMCS_FIELD.VM_ENTRY_CONTROLS,
  VMCS_FIELD.MSR_BITMAP,
  VMCS_FIELD.APIC_ACCESS_ADDR,
  VMCS_FIELD.VIRTUAL_APIC_PAGE_ADDR,
  VMCS_FIELD.TPR_THRESHOLD,
  VMCS_FIELD.POSTED_INTR_NOTIFICATION_VECTOR,
  VMCS_FIELD.POSTED_INTR_DESC_ADDR,
]) {
  CONTROL_CHECK_SLOT[FIELD_SLOT[encoding]!] = 1;
}

/** The width (VMCS_FIELD_WIDTH) of the field in each slot. */
const SLOT_WIDTH = new Uint8Array(fieldSlots);
for (const encoding of SUPPORTED_FIELDS) SLOT_WIDTH[FIELD_SLOT[encoding]!] = vmcsFieldWidth(encoding);

/** The array slot of field `encoding`, or −1 if it has none (not an implemented full field). */
function slotOf(encoding: number): number {
  return encoding >>> 0 === encoding && encoding <= 0xffff ? FIELD_SLOT[encoding]! : -1;
}

/**
 * The slot of an implemented full field (`encoding` one of x86's VMCS_FIELD), for
 * `Vmcs.getAt`/`setAt`: the CPU looks its own fields' slots up once, not at every access.
 * Throws for any other encoding. @internal
 */
export function vmcsFieldSlot(encoding: number): number {
  const slot = slotOf(encoding);
  if (slot < 0) throw new RangeError(`0x${encoding.toString(16)} is not an implemented VMCS field`);
  return slot;
}

/** True if `encoding` names a full field this model implements (x86 VMCS_FIELD). */
export function isSupportedVmcsField(encoding: number): boolean {
  return SUPPORTED_FIELDS.has(encoding);
}

/**
 * How a 64-bit field is reached: encodings with bit 0 (access type) set read or write the
 * high 32 bits of the 64-bit field at encoding & ~1 (SDM vol. 3 §24.11.2). Returns the full
 * field's encoding, or −1 when the encoding names nothing this model implements.
 */
export function vmcsFieldBase(encoding: number): number {
  if (!Number.isInteger(encoding) || encoding < 0 || encoding > 0xffff) return -1;
  // FIELD_SLOT (a typed array) holds exactly SUPPORTED_FIELDS for 0–FFFFH: no hashing on VMREAD/VMWRITE.
  if ((encoding & 1) === 1) {
    const base = encoding & ~1;
    return vmcsFieldWidth(base) === VMCS_FIELD_WIDTH.BITS64 && FIELD_SLOT[base]! >= 0 ? base : -1;
  }
  return FIELD_SLOT[encoding]! >= 0 ? encoding : -1;
}

/** Truncates `value` to the width of field `encoding` (16 and 32 bits unsigned; 64-bit and natural as numbers). */
export function maskToFieldWidth(encoding: number, value: number): number {
  return maskToWidth(vmcsFieldWidth(encoding), value);
}

/** Truncates `value` to a field width (VMCS_FIELD_WIDTH), as maskToFieldWidth. */
function maskToWidth(width: number, value: number): number {
  switch (width) {
    case VMCS_FIELD_WIDTH.BITS16:
      return value & 0xffff;
    case VMCS_FIELD_WIDTH.BITS32:
      return value >>> 0;
    default:
      return Math.trunc(value);
  }
}

/**
 * One VMCS. The SDM leaves the format of the VMCS region implementation-specific (vol. 3
 * §24.2), so the contents live here, keyed by the region's host-physical address, not in
 * simulated memory. Besides the fields it holds what is guest state in this model but has
 * no field: the guest's software stack and the bound guest-physical map (EPT).
 */
export class Vmcs {
  /** Host-physical address of the VMCS region (what VMPTRLD and VMCLEAR name). */
  readonly address: number;
  /** Launch state: false = clear, true = launched (SDM vol. 3 §24.1). */
  launched = false;
  /** The guest's frames: guest software state stays with its VMCS across exits. */
  readonly guestStack: FrameStack;
  /** Stands in for the EPT paging structures (see x86 GuestPhysicalMap); null = identity. */
  map: GuestPhysicalMap | null = null;
  /** How the guest operation that caused the last exit completes at the next VM entry (EXIT_COMPLETION). */
  exitCompletion = 0;
  /**
   * The guest's general-purpose registers and the result of its last RDMSR or load, as they
   * were at the last VM exit. The CPU has one register file for both sides (KVM saves the
   * guest's GPRs on exit and loads them on entry); without this the host's own RDMSR in an
   * exit handler would reach the guest as the result of its operation.
   */
  savedRax = 0;
  /** Guest RBX at the last VM exit. */
  savedRbx = 0;
  /** Guest RCX at the last VM exit. */
  savedRcx = 0;
  /** Guest RDX at the last VM exit. */
  savedRdx = 0;
  /** Guest EAX result (last RDMSR or load) at the last VM exit. */
  savedResultLo = 0;
  /** Guest EDX result (last RDMSR) at the last VM exit. */
  savedResultHi = 0;
  /** GUEST_IDTR_BASE as saved at the last exit, with its exact 32-bit halves (a 64-bit base has no exact number above 2^53). */
  savedIdtrBase: number = Number.NaN;
  /** GUEST_IDTR_BASE bits 31:0 at the last exit. */
  savedIdtrBaseLo = 0;
  /** GUEST_IDTR_BASE bits 63:32 at the last exit. */
  savedIdtrBaseHi = 0;
  /**
   * Writes (set, setHalf) to the fields the VM-entry checks on the control fields read, since
   * the VMCS was created: while it is unchanged those fields are too. @internal
   */
  controlWrites = 0;
  /** The implemented fields' values by FIELD_SLOT (0 if never written); any other encoding's in `fields`. */
  private readonly values = new Float64Array(fieldSlots);
  private readonly fields = new Map<number, number>();
  /**
   * The exact high 32 bits of each 64-bit field. A JavaScript number holds 53 bits, so a
   * 64-bit field with bits above 52 set (an EOI-exit bitmap with vector 63 and vector 0)
   * would lose its low bits; VMWRITE of the two halves (encodings `f` and `f | 1`) keeps both
   * exact here, and `get` returns the (possibly rounded) sum for address-like fields.
   * By FIELD_SLOT as `values`, other encodings in the maps.
   */
  private readonly highValues = new Float64Array(fieldSlots);
  private readonly lowValues = new Float64Array(fieldSlots);
  private readonly high32 = new Map<number, number>();
  private readonly low32 = new Map<number, number>();

  constructor(address: number) {
    this.address = address;
    this.guestStack = new FrameStack(`vmcs@0x${address.toString(16)}`);
  }

  /** The value of full field `encoding` (0 if never written). */
  get(encoding: number): number {
    const slot = slotOf(encoding);
    if (slot >= 0) return this.values[slot]!;
    return this.fields.get(encoding) ?? 0;
  }

  /** `get` of the field in `slot` (vmcsFieldSlot): the same value, without the encoding's look-up. @internal */
  getAt(slot: number): number {
    return this.values[slot]!;
  }

  /** Sets full field `encoding`, truncated to its width. */
  set(encoding: number, value: number): void {
    const slot = slotOf(encoding);
    if (slot >= 0) {
      this.setAt(slot, value);
      return;
    }
    const v = maskToFieldWidth(encoding, value);
    this.fields.set(encoding, v);
    if (vmcsFieldWidth(encoding) === VMCS_FIELD_WIDTH.BITS64) {
      // Exact for every integer a number holds (division by 2^32 and floor are exact).
      this.low32.set(encoding, ((v % TWO_POW_32) + TWO_POW_32) % TWO_POW_32);
      this.high32.set(encoding, Math.floor(v / TWO_POW_32) >>> 0);
    }
  }

  /**
   * `set` of the field in `slot` (vmcsFieldSlot): what `set` does for an implemented field —
   * truncated to its width (maskToFieldWidth), 64-bit fields' halves kept exactly. @internal
   */
  setAt(slot: number, value: number): void {
    const width = SLOT_WIDTH[slot]!;
    const v = maskToWidth(width, value);
    this.values[slot] = v;
    if (CONTROL_CHECK_SLOT[slot] === 1) this.controlWrites++;
    if (width === VMCS_FIELD_WIDTH.BITS64) {
      // Exact for every integer a number holds (division by 2^32 and floor are exact).
      this.lowValues[slot] = ((v % TWO_POW_32) + TWO_POW_32) % TWO_POW_32;
      this.highValues[slot] = Math.floor(v / TWO_POW_32) >>> 0;
    }
  }

  /** Bits 31:0 (`high` false) or 63:32 (`high` true) of the 64-bit field `encoding`, exactly. */
  getHalf(encoding: number, high: boolean): number {
    const slot = slotOf(encoding);
    if (slot >= 0) return (high ? this.highValues : this.lowValues)[slot]!;
    const map = high ? this.high32 : this.low32;
    return map.get(encoding) ?? 0;
  }

  /** Sets bits 31:0 or 63:32 of the 64-bit field `encoding` (VMWRITE of `encoding` or `encoding | 1` in 32-bit form). */
  setHalf(encoding: number, high: boolean, value: number): void {
    const slot = slotOf(encoding);
    if (slot >= 0) {
      if (CONTROL_CHECK_SLOT[slot] === 1) this.controlWrites++;
      (high ? this.highValues : this.lowValues)[slot] = value >>> 0;
      this.values[slot] = this.highValues[slot]! * TWO_POW_32 + this.lowValues[slot]!;
      return;
    }
    (high ? this.high32 : this.low32).set(encoding, value >>> 0);
    this.fields.set(encoding, this.getHalf(encoding, true) * TWO_POW_32 + this.getHalf(encoding, false));
  }
}

/**
 * The VMCS regions of a machine, by host-physical address. CPUs of one machine may share a
 * store so that a VMCS cleared on one CPU can be loaded on another.
 */
export class VmcsStore {
  private readonly regions = new Map<number, Vmcs>();

  /** The VMCS at `address`, created (all fields zero, launch state clear) on first use. */
  region(address: number): Vmcs {
    let v = this.regions.get(address);
    if (v === undefined) {
      v = new Vmcs(address);
      this.regions.set(address, v);
    }
    return v;
  }

  /** The VMCS at `address` if one was ever used. */
  find(address: number): Vmcs | undefined {
    return this.regions.get(address);
  }
}
