/**
 * 64-bit quantities as JavaScript numbers. A register pair (EDX:EAX, a 64-bit MMIO register read
 * as two dwords, a MAC address) is joined and split exactly up to 2^53; the callers keep larger
 * values as 32-bit halves.
 */

/** 2^32: the weight of the high dword. */
export const TWO_POW_32 = 4294967296;

/** hi · 2^32 + lo, with both halves taken as unsigned 32-bit values. */
export function join64(hi: number, lo: number): number {
  return (hi >>> 0) * TWO_POW_32 + (lo >>> 0);
}

/** The low dword of a non-negative integer below 2^53. */
export function low32(value: number): number {
  return (value % TWO_POW_32) >>> 0;
}

/** The high dword of a non-negative integer below 2^53. */
export function high32(value: number): number {
  return Math.floor(value / TWO_POW_32) >>> 0;
}
