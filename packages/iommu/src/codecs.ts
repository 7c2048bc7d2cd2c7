import type { PhysicalMemory } from '@exitless/x86';
import { ENTRY128_SIZE, PID, PID_SIZE, SL_PTE } from './constants.js';

/**
 * Codecs for the in-memory structures the remapping hardware walks, bit-exact to VT-d:
 * root entries (§9.1), context entries (§9.3), second-level paging entries (§9.8), IRTEs in
 * remapped (§9.10) and posted (§9.11) format, and the posted-interrupt descriptor (§9.12).
 *
 * A structure is handled as little-endian 32-bit words in a Uint32Array (word 0 = bits
 * 31:0), so the hardware model decodes fields without allocating; the object forms here are
 * for software (the hypervisor programming tables) and tests. Addresses are JS numbers
 * (exact up to 2^53, beyond any host address width here).
 */

const TWO_32 = 0x1_0000_0000;

/** Low 32 bits of a non-negative integer address. */
export function lo32(value: number): number {
  return (value % TWO_32) >>> 0;
}

/** Bits 63:32 of a non-negative integer address (below 2^53). */
export function hi32(value: number): number {
  return Math.floor(value / TWO_32) >>> 0;
}

/** The address whose low and high dwords are given. */
export function join64(lo: number, hi: number): number {
  return hi * TWO_32 + (lo >>> 0);
}

/** A root entry (VT-d §9.1): selects the context table for one bus. */
export interface RootEntry {
  /** P, bit 0. */
  readonly present: boolean;
  /** CTP, bits 63:12: the 4 KiB-aligned context table address. */
  readonly contextTablePointer: number;
}

/** Encodes a root entry into four words at `at` of `out` (VT-d §9.1); reserved bits are zero. */
export function encodeRootEntry(e: RootEntry, out: Uint32Array, at = 0): void {
  out[at] = ((lo32(e.contextTablePointer) & 0xfffff000) | (e.present ? 1 : 0)) >>> 0;
  out[at + 1] = hi32(e.contextTablePointer);
  out[at + 2] = 0;
  out[at + 3] = 0;
}

/** Decodes the root entry at word `at` of `w` (VT-d §9.1). */
export function decodeRootEntry(w: Uint32Array, at = 0): RootEntry {
  return {
    present: (w[at]! & 1) === 1,
    contextTablePointer: join64(w[at]! & 0xfffff000, w[at + 1]!),
  };
}

/** A legacy-mode context entry (VT-d §9.3): maps one device (bus, devfn) to a domain. */
export interface ContextEntry {
  /** P, bit 0. */
  readonly present: boolean;
  /** FPD, bit 1: do not record qualified faults for this device. */
  readonly faultProcessingDisable: boolean;
  /** TT, bits 3:2 (TRANSLATION_TYPE). */
  readonly translationType: number;
  /** SLPTPTR, bits 63:12: the 4 KiB-aligned root of the second-level page table. */
  readonly secondLevelPageTable: number;
  /** AW, bits 66:64 (ADDRESS_WIDTH). */
  readonly addressWidth: number;
  /** DID, bits 87:72: the domain identifier that tags this device's cached translations. */
  readonly domainId: number;
}

/** Encodes a context entry into four words at `at` of `out` (VT-d §9.3); reserved bits are zero. */
export function encodeContextEntry(e: ContextEntry, out: Uint32Array, at = 0): void {
  out[at] =
    ((lo32(e.secondLevelPageTable) & 0xfffff000) |
      ((e.translationType & 3) << 2) |
      (e.faultProcessingDisable ? 2 : 0) |
      (e.present ? 1 : 0)) >>>
    0;
  out[at + 1] = hi32(e.secondLevelPageTable);
  out[at + 2] = ((e.addressWidth & 7) | ((e.domainId & 0xffff) << 8)) >>> 0;
  out[at + 3] = 0;
}

/** Decodes the context entry at word `at` of `w` (VT-d §9.3). */
export function decodeContextEntry(w: Uint32Array, at = 0): ContextEntry {
  const w0 = w[at]!;
  const w2 = w[at + 2]!;
  return {
    present: (w0 & 1) === 1,
    faultProcessingDisable: (w0 & 2) !== 0,
    translationType: (w0 >>> 2) & 3,
    secondLevelPageTable: join64(w0 & 0xfffff000, w[at + 1]!),
    addressWidth: w2 & 7,
    domainId: (w2 >>> 8) & 0xffff,
  };
}

/** A second-level paging entry (VT-d §9.8): a table pointer or a leaf. */
export interface SecondLevelEntry {
  /** R, bit 0. */
  readonly read: boolean;
  /** W, bit 1. */
  readonly write: boolean;
  /** PS, bit 7: a superpage leaf (2 MiB in a PDE). */
  readonly pageSize: boolean;
  /** ADDR, bits 51:12: next table or page frame (2 MiB-aligned for a 2 MiB leaf). */
  readonly address: number;
}

/** Encodes a second-level entry into two words (lo, hi). */
export function encodeSecondLevelEntry(e: SecondLevelEntry, out: Uint32Array, at = 0): void {
  out[at] =
    ((lo32(e.address) & 0xfffff000) |
      (e.pageSize ? SL_PTE.PS : 0) |
      (e.write ? SL_PTE.W : 0) |
      (e.read ? SL_PTE.R : 0)) >>>
    0;
  out[at + 1] = hi32(e.address) & 0xfffff;
}

/** Decodes the second-level paging entry at word `at` of `w` (VT-d §9.8). */
export function decodeSecondLevelEntry(w: Uint32Array, at = 0): SecondLevelEntry {
  const lo = w[at]!;
  return {
    read: (lo & SL_PTE.R) !== 0,
    write: (lo & SL_PTE.W) !== 0,
    pageSize: (lo & SL_PTE.PS) !== 0,
    address: join64(lo & 0xfffff000, w[at + 1]! & 0xfffff),
  };
}

/** Fields both IRTE formats share: present, FPD and the source-ID validation triple. */
interface IrteCommon {
  /** P, bit 0. */
  readonly present: boolean;
  /** FPD, bit 1. */
  readonly faultProcessingDisable: boolean;
  /** Vector, bits 23:16 (the host vector if remapped, the guest's vector if posted). */
  readonly vector: number;
  /** SID, bits 79:64. */
  readonly sourceId: number;
  /** SQ, bits 81:80 (the SQ constants). */
  readonly sourceIdQualifier: number;
  /** SVT, bits 83:82 (the SVT constants). */
  readonly sourceValidationType: number;
}

/** An IRTE in remapped format (VT-d §9.10; IM bit 15 = 0). */
export interface RemappedIrte extends IrteCommon {
  /** The format: remapped (IM = 0). */
  readonly mode: 'remapped';
  /** DM, bit 2: 0 physical, 1 logical. */
  readonly destinationMode: number;
  /** RH, bit 3. */
  readonly redirectionHint: number;
  /** TM, bit 4: 0 edge, 1 level. */
  readonly triggerMode: number;
  /** DLM, bits 7:5 (x86 DELIVERY_MODE). */
  readonly deliveryMode: number;
  /** AVAIL, bits 11:8: ignored by hardware, free for software. */
  readonly available: number;
  /**
   * DST, bits 63:32, as stored: a 32-bit x2APIC ID when IRTA.EIME = 1, or the 8-bit xAPIC
   * ID in bits 15:8 (bits 47:40 of the IRTE) when EIME = 0 — see xapicIrteDestination.
   */
  readonly destination: number;
}

/** An IRTE in posted format (VT-d §9.11; IM bit 15 = 1). */
export interface PostedIrte extends IrteCommon {
  /** The format: posted (IM = 1). */
  readonly mode: 'posted';
  /** URG, bit 14: notify even when the descriptor's SN is set. */
  readonly urgent: boolean;
  /**
   * AVAIL, bits 11:8: ignored by hardware, free for software, as in the remapped format (VT-d
   * §9.11 figure). Optional here so software that leaves it 0 need not name it; decoded always.
   */
  readonly available?: number;
  /** PDA: the 64-byte-aligned posted-interrupt descriptor (low bits 63:38 = address 31:6; high bits 127:96 = 63:32). */
  readonly descriptorAddress: number;
}

/** An interrupt-remapping table entry in either format, told apart by `mode` (the IM bit). */
export type Irte = RemappedIrte | PostedIrte;

/** The IRTE DST encoding of an xAPIC (8-bit) APIC ID when IRTA.EIME = 0: bits 15:8 of DST. */
export function xapicIrteDestination(apicId: number): number {
  return (apicId & 0xff) << 8;
}

/** IRTE bit 15 (IM): 1 for the posted format. */
export const IRTE_POSTED_MODE = 0x8000;

/**
 * Encodes an IRTE into four words at `at` of `out`, in the format its `mode` names (VT-d §9.10, §9.11);
 * reserved bits are zero.
 */
export function encodeIrte(e: Irte, out: Uint32Array, at = 0): void {
  const common = (e.present ? 1 : 0) | (e.faultProcessingDisable ? 2 : 0) | ((e.vector & 0xff) << 16);
  out[at + 2] =
    ((e.sourceId & 0xffff) | ((e.sourceIdQualifier & 3) << 16) | ((e.sourceValidationType & 3) << 18)) >>> 0;
  if (e.mode === 'remapped') {
    out[at] =
      (common |
        ((e.destinationMode & 1) << 2) |
        ((e.redirectionHint & 1) << 3) |
        ((e.triggerMode & 1) << 4) |
        ((e.deliveryMode & 7) << 5) |
        ((e.available & 0xf) << 8)) >>>
      0;
    out[at + 1] = e.destination >>> 0;
    out[at + 3] = 0;
  } else {
    out[at] = (common | (((e.available ?? 0) & 0xf) << 8) | (e.urgent ? 0x4000 : 0) | IRTE_POSTED_MODE) >>> 0;
    // PDA low (address bits 31:6) sits in IRTE bits 63:38, i.e. bits 31:6 of dword 1.
    out[at + 1] = lo32(e.descriptorAddress) & 0xffffffc0;
    out[at + 3] = hi32(e.descriptorAddress);
  }
}

/**
 * Decodes the IRTE at word `at` of `w`: posted format (VT-d §9.11) if IM (bit 15) is set, remapped format
 * (§9.10) otherwise.
 */
export function decodeIrte(w: Uint32Array, at = 0): Irte {
  const w0 = w[at]!;
  const w2 = w[at + 2]!;
  const present = (w0 & 1) === 1;
  const faultProcessingDisable = (w0 & 2) !== 0;
  const vector = (w0 >>> 16) & 0xff;
  const sourceId = w2 & 0xffff;
  const sourceIdQualifier = (w2 >>> 16) & 3;
  const sourceValidationType = (w2 >>> 18) & 3;
  if ((w0 & IRTE_POSTED_MODE) !== 0) {
    return {
      mode: 'posted',
      present,
      faultProcessingDisable,
      urgent: (w0 & 0x4000) !== 0,
      available: (w0 >>> 8) & 0xf,
      vector,
      descriptorAddress: join64(w[at + 1]! & 0xffffffc0, w[at + 3]!),
      sourceId,
      sourceIdQualifier,
      sourceValidationType,
    };
  }
  return {
    mode: 'remapped',
    present,
    faultProcessingDisable,
    destinationMode: (w0 >>> 2) & 1,
    redirectionHint: (w0 >>> 3) & 1,
    triggerMode: (w0 >>> 4) & 1,
    deliveryMode: (w0 >>> 5) & 7,
    available: (w0 >>> 8) & 0xf,
    vector,
    destination: w[at + 1]! >>> 0,
    sourceId,
    sourceIdQualifier,
    sourceValidationType,
  };
}

/** A posted-interrupt descriptor (VT-d §9.12, the same layout VMX posted interrupts use). */
export interface PostedInterruptDescriptor {
  /** PIR, bits 255:0, as eight dwords (bit v of the 256 is dword v >> 5, bit v & 31). */
  readonly pir: Uint32Array;
  /** ON, bit 256: outstanding notification. */
  readonly outstandingNotification: boolean;
  /** SN, bit 257: suppress notification (of non-urgent interrupts). */
  readonly suppressNotification: boolean;
  /** NV, bits 279:272: notification vector. */
  readonly notificationVector: number;
  /** NDST, bits 319:288: notification destination (x2APIC ID, or xAPIC ID in bits 15:8). */
  readonly notificationDestination: number;
}

/** Encodes a descriptor into 16 words (64 bytes); reserved words are zero. */
export function encodePostedInterruptDescriptor(
  d: PostedInterruptDescriptor,
  out: Uint32Array,
  at = 0,
): void {
  for (let i = 0; i < 8; i++) out[at + i] = (d.pir[i] ?? 0) >>> 0;
  out[at + PID.CONTROL / 4] =
    ((d.outstandingNotification ? PID.ON : 0) |
      (d.suppressNotification ? PID.SN : 0) |
      ((d.notificationVector & 0xff) << PID.NV_SHIFT)) >>>
    0;
  out[at + PID.NDST / 4] = d.notificationDestination >>> 0;
  for (let i = PID.NDST / 4 + 1; i < PID_SIZE / 4; i++) out[at + i] = 0;
}

/** Decodes the posted-interrupt descriptor at word `at` of `w` (VT-d §9.12); the PIR is copied. */
export function decodePostedInterruptDescriptor(w: Uint32Array, at = 0): PostedInterruptDescriptor {
  const control = w[at + PID.CONTROL / 4]!;
  return {
    pir: w.slice(at, at + 8),
    outstandingNotification: (control & PID.ON) !== 0,
    suppressNotification: (control & PID.SN) !== 0,
    notificationVector: (control >>> PID.NV_SHIFT) & 0xff,
    notificationDestination: w[at + PID.NDST / 4]! >>> 0,
  };
}

/** A fault recording register's contents (VT-d §10.4.14). */
export interface FaultRecord {
  /** F, bit 127: the record holds an unserviced fault. */
  readonly fault: boolean;
  /** FR, bits 103:96 (FAULT_REASON). */
  readonly reason: number;
  /** SID, bits 79:64: the requester ID of the faulting request. */
  readonly sourceId: number;
  /** T, bit 126: true for a read request, false for a write (interrupt requests are writes). */
  readonly read: boolean;
  /** FI, bits 63:12: the page address of a DMA fault; for an interrupt fault, bits 63:48 hold the interrupt index. */
  readonly faultInfo: number;
}

/** Decodes the 128-bit fault record at word `at` of `w` (VT-d §10.4.14). */
export function decodeFaultRecord(w: Uint32Array, at = 0): FaultRecord {
  const w3 = w[at + 3]!;
  return {
    fault: (w3 & 0x80000000) !== 0,
    reason: w3 & 0xff,
    sourceId: w[at + 2]! & 0xffff,
    read: (w3 & 0x40000000) !== 0,
    faultInfo: join64(w[at]! & 0xfffff000, w[at + 1]!),
  };
}

/** Reads `count` dwords at `address` into `out` (little-endian, as the hardware fetches them). */
export function readWords(memory: PhysicalMemory, address: number, out: Uint32Array, count: number): void {
  for (let i = 0; i < count; i++) out[i] = memory.read32(address + 4 * i);
}

/** Writes `count` dwords of `words` to `address`. */
export function writeWords(memory: PhysicalMemory, address: number, words: Uint32Array, count: number): void {
  for (let i = 0; i < count; i++) memory.write32(address + 4 * i, words[i]!);
}

/** Writes a 128-bit entry (4 words) to memory. */
export function writeEntry128(memory: PhysicalMemory, address: number, words: Uint32Array): void {
  writeWords(memory, address, words, ENTRY128_SIZE / 4);
}
