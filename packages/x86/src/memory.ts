import { UserError } from './errors.js';

/**
 * Physical memory: a sparse, paged, little-endian byte store. An access beyond the
 * implemented range is an architectural result (reads return all ones, as a read of
 * unimplemented physical address space does; writes are dropped) and is counted,
 * never thrown.
 */
export interface PhysicalMemory {
  /** Bytes of implemented address space: addresses ≥ size are out of range. */
  readonly size: number;
  /** Accesses that fell (partly) outside the implemented range. */
  readonly outOfRangeAccesses: number;
  /** Reads the byte at `address` (0xFF out of range). */
  read8(address: number): number;
  /** Reads the little-endian 16-bit value at `address` (0xFFFF out of range). */
  read16(address: number): number;
  /** Reads the little-endian 32-bit value at `address` as an unsigned number (0xFFFFFFFF out of range). */
  read32(address: number): number;
  /** 64-bit read as a bigint (not for hot paths: use two read32). */
  read64(address: number): bigint;
  /** Writes the low 8 bits of `value` at `address` (dropped out of range). */
  write8(address: number, value: number): void;
  /** Writes the low 16 bits of `value` at `address`, little-endian (dropped out of range). */
  write16(address: number, value: number): void;
  /** Writes `value` as 32 bits at `address`, little-endian (dropped out of range). */
  write32(address: number, value: number): void;
  /** Writes the 64-bit `value` at `address`, little-endian (dropped out of range). */
  write64(address: number, value: bigint): void;
  /** Copies `length` bytes at `address` into `dst[offset…]`; false (and 0xFF fill) if out of range. */
  readBytes(address: number, dst: Uint8Array, offset?: number, length?: number): boolean;
  /** Copies `src[offset…offset+length)` to `address`; false (nothing written) if out of range. */
  writeBytes(address: number, src: Uint8Array, offset?: number, length?: number): boolean;
  /** Fills `length` bytes at `address` with `value`; false if out of range. */
  fill(address: number, length: number, value: number): boolean;
}

/** Size of the pages that back SparseMemory. */
export const PAGE_SIZE = 4096;
const PAGE_SHIFT = 12;
const PAGE_MASK = PAGE_SIZE - 1;

/**
 * SparseMemory up to this size finds its pages through a flat index (an Int32Array, 4 bytes
 * per page, which the OS commits only where it is touched: 8 MiB of address space for
 * 8 GiB); a larger one through a Map.
 */
const FLAT_INDEX_MAX_BYTES = 2 ** 36;

/**
 * Copies at most this many bytes with a loop rather than `set(subarray(…))`: creating the
 * view costs more than copying a descriptor's few bytes one by one.
 */
const SMALL_COPY_BYTES = 16;

/** `view` is `subarray(start, end)` of the array it is kept for. */
interface SourceView {
  start: number;
  end: number;
  view: Uint8Array;
}

/** An empty view: a view-cache entry that holds nothing yet. */
const NO_VIEW = new Uint8Array(0);

/** Thrown for a memory configuration a user got wrong (not for simulated accesses). */
export class MemoryConfigError extends UserError {
  constructor(message: string) {
    super(message);
    this.name = 'MemoryConfigError';
  }
}

/**
 * PhysicalMemory backed by 4 KiB pages allocated on first write. Unwritten memory reads
 * as zero. Multi-byte accesses may cross pages.
 */
export class SparseMemory implements PhysicalMemory {
  readonly size: number;
  private _outOfRange = 0;
  private readonly zero = new Uint8Array(PAGE_SIZE);
  /** Page number → position in `allocated` (0: never written). Null above FLAT_INDEX_MAX_BYTES. */
  private readonly index: Int32Array | null;
  /** Written pages in order of allocation, after the zero page at position 0. */
  private readonly allocated: Uint8Array[] = [this.zero];
  /** Written pages by page number, when there is no flat index. */
  private readonly pages = new Map<number, Uint8Array>();
  /**
   * Views of pages that readBytes copied from, two per position in `allocated` (one for each
   * half of the page), each with its key: offset × 8192 + length (−1: none yet).
   */
  private readonly pageViews: Uint8Array[] = [NO_VIEW, NO_VIEW];
  private pageViewKeys: Int32Array = new Int32Array(64).fill(-1);
  /** The last view writeBytes copied from, for each array it copied from. */
  private readonly sourceViews = new WeakMap<Uint8Array, SourceView>();

  constructor(size: number) {
    if (!Number.isSafeInteger(size) || size <= 0 || size % PAGE_SIZE !== 0) {
      throw new MemoryConfigError(`memory size must be a positive multiple of 4096 bytes, got ${size}`);
    }
    this.size = size;
    this.index = size <= FLAT_INDEX_MAX_BYTES ? new Int32Array(size / PAGE_SIZE) : null;
  }

  get outOfRangeAccesses(): number {
    return this._outOfRange;
  }

  /** Pages that have been written (allocated). */
  get allocatedPages(): number {
    return this.index !== null ? this.allocated.length - 1 : this.pages.size;
  }

  private inRange(address: number, length: number): boolean {
    if (address >= 0 && address + length <= this.size && Number.isInteger(address)) return true;
    this._outOfRange++;
    return false;
  }

  // Callers have checked the range: the page number is inside the index.
  private pageForRead(address: number): Uint8Array {
    const n = address >>> 0 === address ? address >>> PAGE_SHIFT : Math.floor(address / PAGE_SIZE);
    const index = this.index;
    if (index !== null) return this.allocated[index[n]!]!;
    return this.pages.get(n) ?? this.zero;
  }

  private pageForWrite(address: number): Uint8Array {
    const n = address >>> 0 === address ? address >>> PAGE_SHIFT : Math.floor(address / PAGE_SIZE);
    const index = this.index;
    if (index !== null) {
      const i = index[n]!;
      if (i !== 0) return this.allocated[i]!;
      const p = new Uint8Array(PAGE_SIZE);
      index[n] = this.allocated.length;
      this.allocated.push(p);
      this.pageViews.push(NO_VIEW, NO_VIEW);
      if (this.pageViews.length > this.pageViewKeys.length) {
        const keys = new Int32Array(this.pageViewKeys.length * 2).fill(-1);
        keys.set(this.pageViewKeys);
        this.pageViewKeys = keys;
      }
      return p;
    }
    let p = this.pages.get(n);
    if (p === undefined) {
      p = new Uint8Array(PAGE_SIZE);
      this.pages.set(n, p);
    }
    return p;
  }

  read8(address: number): number {
    if (!this.inRange(address, 1)) return 0xff;
    return this.pageForRead(address)[address & PAGE_MASK]!;
  }

  read16(address: number): number {
    if (!this.inRange(address, 2)) return 0xffff;
    const o = address & PAGE_MASK;
    if (o <= PAGE_SIZE - 2) {
      const p = this.pageForRead(address);
      return p[o]! | (p[o + 1]! << 8);
    }
    return this.read8(address) | (this.read8(address + 1) << 8);
  }

  read32(address: number): number {
    if (!this.inRange(address, 4)) return 0xffffffff;
    const o = address & PAGE_MASK;
    if (o <= PAGE_SIZE - 4) {
      const p = this.pageForRead(address);
      return (p[o]! | (p[o + 1]! << 8) | (p[o + 2]! << 16) | (p[o + 3]! << 24)) >>> 0;
    }
    return (this.read16(address) | (this.read16(address + 2) << 16)) >>> 0;
  }

  read64(address: number): bigint {
    if (!this.inRange(address, 8)) return 0xffffffffffffffffn;
    return BigInt(this.read32(address)) | (BigInt(this.read32(address + 4)) << 32n);
  }

  write8(address: number, value: number): void {
    if (!this.inRange(address, 1)) return;
    this.pageForWrite(address)[address & PAGE_MASK] = value & 0xff;
  }

  write16(address: number, value: number): void {
    if (!this.inRange(address, 2)) return;
    this.write8(address, value);
    this.write8(address + 1, value >>> 8);
  }

  write32(address: number, value: number): void {
    if (!this.inRange(address, 4)) return;
    const o = address & PAGE_MASK;
    if (o <= PAGE_SIZE - 4) {
      const p = this.pageForWrite(address);
      p[o] = value & 0xff;
      p[o + 1] = (value >>> 8) & 0xff;
      p[o + 2] = (value >>> 16) & 0xff;
      p[o + 3] = (value >>> 24) & 0xff;
      return;
    }
    this.write16(address, value & 0xffff);
    this.write16(address + 2, value >>> 16);
  }

  write64(address: number, value: bigint): void {
    if (!this.inRange(address, 8)) return;
    this.write32(address, Number(value & 0xffffffffn));
    this.write32(address + 4, Number((value >> 32n) & 0xffffffffn));
  }

  readBytes(address: number, dst: Uint8Array, offset = 0, length: number = dst.length - offset): boolean {
    if (!this.inRange(address, length)) {
      dst.fill(0xff, offset, offset + length);
      return false;
    }
    let done = 0;
    while (done < length) {
      const a = address + done;
      const o = a & PAGE_MASK;
      const n = Math.min(length - done, PAGE_SIZE - o);
      const d = offset + done;
      // The loop only where it does what set() does (set throws past the end of dst).
      if (n <= SMALL_COPY_BYTES && d >>> 0 === d && d + n <= dst.length) {
        const p = this.pageForRead(a);
        // Four bytes a round, then the rest: the same stores in the same order, fewer branches.
        let k = 0;
        for (; k + 4 <= n; k += 4) {
          dst[d + k] = p[o + k]!;
          dst[d + k + 1] = p[o + k + 1]!;
          dst[d + k + 2] = p[o + k + 2]!;
          dst[d + k + 3] = p[o + k + 3]!;
        }
        for (; k < n; k++) dst[d + k] = p[o + k]!;
      } else dst.set(this.pageView(a, o, n), d);
      done += n;
    }
    return true;
  }

  /**
   * `page.subarray(o, o + n)` of the page holding `address`, kept for the next copy of the
   * same bytes of the same page (a driver reading each buffer's headers): the same view,
   * without creating another. Callers have checked the range.
   */
  private pageView(address: number, o: number, n: number): Uint8Array {
    const index = this.index;
    if (index === null) return this.pageForRead(address).subarray(o, o + n);
    const i = index[address >>> 0 === address ? address >>> PAGE_SHIFT : Math.floor(address / PAGE_SIZE)]!;
    const slot = 2 * i + (o >>> 11);
    const key = o * 8192 + n;
    if (this.pageViewKeys[slot] === key) return this.pageViews[slot]!;
    const view = this.allocated[i]!.subarray(o, o + n);
    this.pageViews[slot] = view;
    this.pageViewKeys[slot] = key;
    return view;
  }

  /**
   * `src.subarray(start, end)`, kept for the next copy from the same place (a frame buffer
   * written from again and again): the same view, without creating another.
   */
  private sourceView(src: Uint8Array, start: number, end: number): Uint8Array {
    const last = this.sourceViews.get(src);
    if (last === undefined) {
      const view = src.subarray(start, end);
      this.sourceViews.set(src, { start, end, view });
      return view;
    }
    if (last.start !== start || last.end !== end) {
      last.start = start;
      last.end = end;
      last.view = src.subarray(start, end);
    }
    return last.view;
  }

  writeBytes(address: number, src: Uint8Array, offset = 0, length: number = src.length - offset): boolean {
    if (!this.inRange(address, length)) return false;
    let done = 0;
    while (done < length) {
      const a = address + done;
      const o = a & PAGE_MASK;
      const n = Math.min(length - done, PAGE_SIZE - o);
      const p = this.pageForWrite(a);
      const s = offset + done;
      // The loop only where it does what set() does (subarray clamps at the end of src).
      if (n <= SMALL_COPY_BYTES && s >>> 0 === s && s + n <= src.length) {
        // Four bytes a round, then the rest: the same stores in the same order, fewer branches.
        let k = 0;
        for (; k + 4 <= n; k += 4) {
          p[o + k] = src[s + k]!;
          p[o + k + 1] = src[s + k + 1]!;
          p[o + k + 2] = src[s + k + 2]!;
          p[o + k + 3] = src[s + k + 3]!;
        }
        for (; k < n; k++) p[o + k] = src[s + k]!;
      } else p.set(this.sourceView(src, s, s + n), o);
      done += n;
    }
    return true;
  }

  fill(address: number, length: number, value: number): boolean {
    if (!this.inRange(address, length)) return false;
    let done = 0;
    while (done < length) {
      const a = address + done;
      const o = a & PAGE_MASK;
      const n = Math.min(length - done, PAGE_SIZE - o);
      this.pageForWrite(a).fill(value & 0xff, o, o + n);
      done += n;
    }
    return true;
  }
}

/**
 * A window of another memory: addresses [0, size) of the window are [base, base + size)
 * of the backing memory. A VM's guest-physical RAM is such a window onto host memory (the
 * EPT maps it linearly); accesses outside the window are out of range here.
 */
export class MemoryWindow implements PhysicalMemory {
  readonly size: number;
  /** Host-physical address of the window's first byte in the backing memory. */
  readonly base: number;
  private readonly backing: PhysicalMemory;
  private _outOfRange = 0;

  constructor(backing: PhysicalMemory, base: number, size: number) {
    if (!Number.isSafeInteger(base) || base < 0 || base % PAGE_SIZE !== 0) {
      throw new MemoryConfigError(`window base must be a 4 KiB-aligned address, got ${base}`);
    }
    if (!Number.isSafeInteger(size) || size <= 0 || size % PAGE_SIZE !== 0 || base + size > backing.size) {
      throw new MemoryConfigError(
        `window [0x${base.toString(16)}, +0x${size.toString(16)}) must be a multiple of 4 KiB inside the backing memory (${backing.size} bytes)`,
      );
    }
    this.backing = backing;
    this.base = base;
    this.size = size;
  }

  get outOfRangeAccesses(): number {
    return this._outOfRange;
  }

  private ok(address: number, length: number): boolean {
    if (address >= 0 && address + length <= this.size) return true;
    this._outOfRange++;
    return false;
  }

  read8(a: number): number {
    return this.ok(a, 1) ? this.backing.read8(this.base + a) : 0xff;
  }
  read16(a: number): number {
    return this.ok(a, 2) ? this.backing.read16(this.base + a) : 0xffff;
  }
  read32(a: number): number {
    return this.ok(a, 4) ? this.backing.read32(this.base + a) : 0xffffffff;
  }
  read64(a: number): bigint {
    return this.ok(a, 8) ? this.backing.read64(this.base + a) : 0xffffffffffffffffn;
  }
  write8(a: number, v: number): void {
    if (this.ok(a, 1)) this.backing.write8(this.base + a, v);
  }
  write16(a: number, v: number): void {
    if (this.ok(a, 2)) this.backing.write16(this.base + a, v);
  }
  write32(a: number, v: number): void {
    if (this.ok(a, 4)) this.backing.write32(this.base + a, v);
  }
  write64(a: number, v: bigint): void {
    if (this.ok(a, 8)) this.backing.write64(this.base + a, v);
  }
  readBytes(a: number, dst: Uint8Array, offset = 0, length: number = dst.length - offset): boolean {
    if (!this.ok(a, length)) {
      dst.fill(0xff, offset, offset + length);
      return false;
    }
    return this.backing.readBytes(this.base + a, dst, offset, length);
  }
  writeBytes(a: number, src: Uint8Array, offset = 0, length: number = src.length - offset): boolean {
    if (!this.ok(a, length)) return false;
    return this.backing.writeBytes(this.base + a, src, offset, length);
  }
  fill(a: number, length: number, value: number): boolean {
    if (!this.ok(a, length)) return false;
    return this.backing.fill(this.base + a, length, value);
  }
}
