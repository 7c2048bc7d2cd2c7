import { TWO_POW_32 } from './bits.js';
/**
 * 64-bit IDT gate descriptors (SDM vol. 3 §6.14.1, figure 6-8): 16 bytes each.
 *   bytes 0–1  offset 15:0        bytes 2–3  segment selector
 *   byte 4     IST in bits 2:0     byte 5     type 3:0, 0, DPL 6:5, P 7
 *   bytes 6–7  offset 31:16       bytes 8–11 offset 63:32      bytes 12–15 reserved
 */

/** System-descriptor types of IA-32e gates. */
export const GATE_TYPE = {
  /** 64-bit interrupt gate: clears RFLAGS.IF on entry. */
  INTERRUPT: 0xe,
  /** 64-bit trap gate: leaves RFLAGS.IF as it is. */
  TRAP: 0xf,
} as const;
/** Size of one IDT entry in IA-32e mode. */
export const IDT_GATE_SIZE = 16;

/** A decoded IDT gate. The offset is a bigint so that every canonical 64-bit address round-trips. */
export interface IdtGate {
  /** Offset of the handler's entry point (bits 15:0, 31:16 and 63:32 of the gate). */
  readonly offset: bigint;
  /** Code-segment selector of the handler (bytes 2–3). */
  readonly selector: number;
  /** Interrupt-stack-table index, 0–7. */
  readonly ist: number;
  /** System-descriptor type (0xE interrupt gate, 0xF trap gate). */
  readonly type: number;
  /** Descriptor privilege level, 0–3. */
  readonly dpl: number;
  /** Present bit. */
  readonly present: boolean;
}

/** Writes `gate` as 16 bytes at `bytes[at…]`. */
export function encodeIdtGate(gate: IdtGate, bytes: Uint8Array, at = 0): void {
  const off = BigInt.asUintN(64, gate.offset);
  const lo = Number(off & 0xffffffffn);
  const hi = Number(off >> 32n);
  bytes[at] = lo & 0xff;
  bytes[at + 1] = (lo >>> 8) & 0xff;
  bytes[at + 2] = gate.selector & 0xff;
  bytes[at + 3] = (gate.selector >>> 8) & 0xff;
  bytes[at + 4] = gate.ist & 7;
  bytes[at + 5] = (gate.type & 0xf) | ((gate.dpl & 3) << 5) | (gate.present ? 0x80 : 0);
  bytes[at + 6] = (lo >>> 16) & 0xff;
  bytes[at + 7] = (lo >>> 24) & 0xff;
  bytes[at + 8] = hi & 0xff;
  bytes[at + 9] = (hi >>> 8) & 0xff;
  bytes[at + 10] = (hi >>> 16) & 0xff;
  bytes[at + 11] = (hi >>> 24) & 0xff;
  bytes[at + 12] = 0;
  bytes[at + 13] = 0;
  bytes[at + 14] = 0;
  bytes[at + 15] = 0;
}

/** Reads a gate from 16 bytes at `bytes[at…]`. */
export function decodeIdtGate(bytes: Uint8Array, at = 0): IdtGate {
  const w0 = readU32(bytes, at);
  const w1 = readU32(bytes, at + 4);
  const w2 = readU32(bytes, at + 8);
  return decodeIdtGateWords(w0, w1, w2);
}

/**
 * Decodes a gate from its first three little-endian dwords (what a CPU reads from memory).
 * w0 = offset 15:0 | selector << 16; w1 = IST, type/DPL/P, offset 31:16; w2 = offset 63:32.
 */
export function decodeIdtGateWords(w0: number, w1: number, w2: number): IdtGate {
  const offLo = ((w0 & 0xffff) | (w1 & 0xffff0000)) >>> 0;
  return {
    offset: (BigInt(w2 >>> 0) << 32n) | BigInt(offLo),
    selector: (w0 >>> 16) & 0xffff,
    ist: w1 & 7,
    type: (w1 >>> 8) & 0xf,
    dpl: (w1 >>> 13) & 3,
    present: (w1 & 0x8000) !== 0,
  };
}

/** Present bit of a gate's second dword. */
export function gatePresent(w1: number): boolean {
  return (w1 & 0x8000) !== 0;
}

/** Type of a gate from its second dword. */
export function gateType(w1: number): number {
  return (w1 >>> 8) & 0xf;
}

/** DPL of a gate from its second dword. */
export function gateDpl(w1: number): number {
  return (w1 >>> 13) & 3;
}

/**
 * A gate's offset as a number, from its three dwords, for hot paths: exact when
 * offset 63:53 are zero; returns −1 for offsets a number cannot hold exactly.
 */
export function gateOffsetNumber(w0: number, w1: number, w2: number): number {
  const hi = w2 >>> 0;
  if (hi >= 0x200000) return -1;
  return hi * TWO_POW_32 + (((w0 & 0xffff) | (w1 & 0xffff0000)) >>> 0);
}

/** Builds an interrupt gate (type 0xE, present) to `offset` with selector 0x10, DPL 0, IST 0. */
export function interruptGate(
  offset: number | bigint,
  options: Partial<Omit<IdtGate, 'offset'>> = {},
): IdtGate {
  return {
    offset: BigInt(offset),
    selector: options.selector ?? 0x10,
    ist: options.ist ?? 0,
    type: options.type ?? GATE_TYPE.INTERRUPT,
    dpl: options.dpl ?? 0,
    present: options.present ?? true,
  };
}

/** Encodes an IDTR pseudo-descriptor (SDM vol. 3 §3.5.1): limit (2 bytes) then base (8 bytes). */
export function encodeIdtr(limit: number, base: bigint, bytes: Uint8Array, at = 0): void {
  bytes[at] = limit & 0xff;
  bytes[at + 1] = (limit >>> 8) & 0xff;
  const b = BigInt.asUintN(64, base);
  for (let i = 0; i < 8; i++) bytes[at + 2 + i] = Number((b >> BigInt(8 * i)) & 0xffn);
}

/** Decodes an IDTR pseudo-descriptor. */
export function decodeIdtr(
  bytes: Uint8Array,
  at = 0,
): {
  /** The limit: the table's size in bytes minus 1. */
  readonly limit: number;
  /** The table's linear base address. */
  readonly base: bigint;
} {
  const limit = bytes[at]! | (bytes[at + 1]! << 8);
  let base = 0n;
  for (let i = 7; i >= 0; i--) base = (base << 8n) | BigInt(bytes[at + 2 + i]!);
  return { limit, base };
}

function readU32(bytes: Uint8Array, at: number): number {
  return (bytes[at]! | (bytes[at + 1]! << 8) | (bytes[at + 2]! << 16) | (bytes[at + 3]! << 24)) >>> 0;
}
