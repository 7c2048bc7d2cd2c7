import type { MmioDevice, PhysicalMemory } from '@exitless/x86';
import { PAGE_SIZE } from '@exitless/x86';
import {
  decodeIrte,
  decodePostedInterruptDescriptor,
  encodeContextEntry,
  encodeIrte,
  encodePostedInterruptDescriptor,
  encodeRootEntry,
  encodeSecondLevelEntry,
  hi32,
  type Irte,
  lo32,
  type PostedInterruptDescriptor,
  readWords,
  writeEntry128,
  writeWords,
} from './codecs.js';
import {
  ADDRESS_WIDTH,
  CCMD,
  ENTRY128_SIZE,
  GCMD,
  GSTS,
  INVALIDATION_GRANULARITY,
  IOTLB_REG,
  IRTA,
  PID_SIZE,
  SL_PTE,
  SL_PTE_SIZE,
  TRANSLATION_TYPE,
  VTD_REG,
} from './constants.js';
import { IommuConfigError } from './errors.js';

/**
 * Software-side helpers (what a hypervisor's VT-d driver does): they build the real
 * in-memory root, context, page and interrupt-remapping tables through the codecs, and
 * program the register page through MmioDevice. The IOMMU model takes no shortcut through
 * them: it walks whatever they wrote.
 */

const SIZE_2M = 2 * 1024 * 1024;

/** A bump allocator of zeroed 4 KiB host pages for remapping structures, in [base, base + size). */
export class PageAllocator {
  private readonly memory: PhysicalMemory;
  private next: number;
  private readonly end: number;

  constructor(memory: PhysicalMemory, base: number, size: number) {
    if (!Number.isSafeInteger(base) || base < 0 || base % PAGE_SIZE !== 0) {
      throw new IommuConfigError(
        `page pool base must be a 4 KiB-aligned address, got 0x${base.toString(16)}`,
      );
    }
    if (!Number.isSafeInteger(size) || size <= 0 || size % PAGE_SIZE !== 0 || base + size > memory.size) {
      throw new IommuConfigError(
        `page pool size must be a positive multiple of 4 KiB that fits in memory (${memory.size} bytes), got ${size}`,
      );
    }
    this.memory = memory;
    this.next = base;
    this.end = base + size;
  }

  /** Allocates `pages` contiguous zeroed pages and returns the first one's address. */
  allocate(pages = 1): number {
    const bytes = pages * PAGE_SIZE;
    if (!Number.isInteger(pages) || pages < 1 || this.next + bytes > this.end) {
      throw new IommuConfigError(
        `page pool exhausted (asked for ${pages} page(s), ${(this.end - this.next) / PAGE_SIZE} left): give it more memory`,
      );
    }
    const at = this.next;
    this.next += bytes;
    this.memory.fill(at, bytes, 0);
    return at;
  }
}

/** Access rights of a mapping. */
export interface MappingPermissions {
  /** DMA reads are allowed (R). */
  readonly read: boolean;
  /** DMA writes are allowed (W). */
  readonly write: boolean;
}

/** A DMA-remapping domain: its ID and second-level page table root. */
export interface Domain {
  /** The domain identifier (DID) its context entries carry. */
  readonly domainId: number;
  /** The PML4 (4-level table root), the context entry's SLPTPTR. */
  readonly pageTable: number;
}

/** Options of attaching a device to a domain. */
export interface AttachOptions {
  /** Set the context entry's FPD (suppress recording of qualified faults). Default false. */
  readonly faultProcessingDisable?: boolean;
  /** Use translation type pass-through (TT = 10b) instead of the domain's page table. Default false. */
  readonly passThrough?: boolean;
}

/**
 * Builds legacy-mode DMA-remapping structures in host memory (VT-d §9.1–9.3, §9.8): one
 * root table, a context table per bus on demand, and a 4-level second-level page table
 * per domain with 4 KiB and 2 MiB mappings.
 */
export class DmaRemappingTables {
  /** The root table's address: program it into RTADDR_REG. */
  readonly rootTableAddress: number;
  private readonly memory: PhysicalMemory;
  private readonly pages: PageAllocator;
  private readonly words = new Uint32Array(4);

  constructor(memory: PhysicalMemory, pages: PageAllocator) {
    this.memory = memory;
    this.pages = pages;
    this.rootTableAddress = pages.allocate();
  }

  /** Creates a domain with an empty page table. */
  createDomain(domainId: number): Domain {
    if (!Number.isInteger(domainId) || domainId < 0 || domainId > 0xffff) {
      throw new IommuConfigError(`domain ID must be an integer in 0..65535, got ${domainId}`);
    }
    return { domainId, pageTable: this.pages.allocate() };
  }

  /** Points requester `rid`'s context entry at `domain` (writing the root entry if the bus has none). */
  attachDevice(rid: number, domain: Domain, options: AttachOptions = {}): void {
    const contextTable = this.contextTableFor(rid >>> 8, true);
    encodeContextEntry(
      {
        present: true,
        faultProcessingDisable: options.faultProcessingDisable ?? false,
        translationType:
          options.passThrough === true ? TRANSLATION_TYPE.PASS_THROUGH : TRANSLATION_TYPE.UNTRANSLATED,
        secondLevelPageTable: domain.pageTable,
        addressWidth: ADDRESS_WIDTH.AGAW_48,
        domainId: domain.domainId,
      },
      this.words,
    );
    writeEntry128(this.memory, contextTable + (rid & 0xff) * ENTRY128_SIZE, this.words);
  }

  /** Clears requester `rid`'s context entry (P = 0). Invalidate the context cache afterwards. */
  detachDevice(rid: number): void {
    const contextTable = this.contextTableFor(rid >>> 8, false);
    if (contextTable < 0) return;
    this.words.fill(0);
    writeEntry128(this.memory, contextTable + (rid & 0xff) * ENTRY128_SIZE, this.words);
  }

  /**
   * Maps [iova, iova + length) to [hpa, hpa + length) in `domain` with `permissions`, using
   * 4 KiB pages, or 2 MiB pages when `pageSize` is 2 MiB (all three then 2 MiB-aligned).
   */
  map(
    domain: Domain,
    iova: number,
    hpa: number,
    length: number,
    permissions: MappingPermissions,
    pageSize: 4096 | 2097152 = 4096,
  ): void {
    if (pageSize !== PAGE_SIZE && pageSize !== SIZE_2M) {
      throw new IommuConfigError(`page size must be 4096 or 2097152, got ${pageSize}`);
    }
    for (const [name, v] of [
      ['iova', iova],
      ['hpa', hpa],
      ['length', length],
    ] as const) {
      if (!Number.isSafeInteger(v) || v < 0 || v % pageSize !== 0) {
        throw new IommuConfigError(
          `${name} must be a non-negative multiple of the page size ${pageSize}, got ${v}`,
        );
      }
    }
    if (iova + length > 2 ** 48)
      throw new IommuConfigError('mapping extends beyond the 48-bit input address space');
    const leafLevel = pageSize === SIZE_2M ? 2 : 1;
    for (let off = 0; off < length; off += pageSize) {
      const table = this.tableFor(domain, iova + off, leafLevel);
      encodeSecondLevelEntry(
        {
          read: permissions.read,
          write: permissions.write,
          pageSize: leafLevel === 2,
          address: hpa + off,
        },
        this.words,
      );
      writeWords(this.memory, table + indexAt(iova + off, leafLevel) * SL_PTE_SIZE, this.words, 2);
    }
  }

  /** Clears the leaf entries of [iova, iova + length) (R = W = 0). Invalidate the IOTLB afterwards. */
  unmap(domain: Domain, iova: number, length: number): void {
    for (let off = 0; off < length; ) {
      const a = iova + off;
      let table = domain.pageTable;
      let step = PAGE_SIZE;
      for (let level = 4; level >= 1; level--) {
        const entry = table + indexAt(a, level) * SL_PTE_SIZE;
        const lo = this.memory.read32(entry);
        if ((lo & (SL_PTE.R | SL_PTE.W)) === 0) {
          step = 2 ** (12 + 9 * (level - 1)) - (a % 2 ** (12 + 9 * (level - 1)));
          break;
        }
        if (level === 1 || (level === 2 && (lo & SL_PTE.PS) !== 0)) {
          this.memory.write32(entry, 0);
          this.memory.write32(entry + 4, 0);
          step = level === 1 ? PAGE_SIZE : SIZE_2M - (a % SIZE_2M);
          break;
        }
        table = entryAddress(lo, this.memory.read32(entry + 4));
      }
      off += step;
    }
  }

  /** The table at `leafLevel` that holds `iova`'s leaf entry, creating intermediate tables. */
  private tableFor(domain: Domain, iova: number, leafLevel: number): number {
    let table = domain.pageTable;
    for (let level = 4; level > leafLevel; level--) {
      const entry = table + indexAt(iova, level) * SL_PTE_SIZE;
      const lo = this.memory.read32(entry);
      if ((lo & (SL_PTE.R | SL_PTE.W)) === 0) {
        const next = this.pages.allocate();
        // Intermediate entries grant R and W: the leaf decides the access rights.
        encodeSecondLevelEntry({ read: true, write: true, pageSize: false, address: next }, this.words);
        writeWords(this.memory, entry, this.words, 2);
        table = next;
      } else if (level === 2 && (lo & SL_PTE.PS) !== 0) {
        throw new IommuConfigError(
          `0x${iova.toString(16)} lies in a 2 MiB mapping: unmap it before mapping 4 KiB pages there`,
        );
      } else {
        table = entryAddress(lo, this.memory.read32(entry + 4));
      }
    }
    if (leafLevel === 2) {
      const lo = this.memory.read32(table + indexAt(iova, 2) * SL_PTE_SIZE);
      if ((lo & (SL_PTE.R | SL_PTE.W)) !== 0 && (lo & SL_PTE.PS) === 0) {
        throw new IommuConfigError(
          `0x${iova.toString(16)} has a 4 KiB page table: unmap it before mapping a 2 MiB page there`,
        );
      }
    }
    return table;
  }

  private contextTableFor(bus: number, create: boolean): number {
    const rootEntry = this.rootTableAddress + bus * ENTRY128_SIZE;
    readWords(this.memory, rootEntry, this.words, 4);
    if ((this.words[0]! & 1) === 1) return entryAddress(this.words[0]!, this.words[1]!);
    if (!create) return -1;
    const table = this.pages.allocate();
    encodeRootEntry({ present: true, contextTablePointer: table }, this.words);
    writeEntry128(this.memory, rootEntry, this.words);
    return table;
  }
}

function indexAt(iova: number, level: number): number {
  return Math.floor(iova / 2 ** (12 + 9 * (level - 1))) & 0x1ff;
}

function entryAddress(lo: number, hi: number): number {
  return (hi & 0xfffff) * 0x1_0000_0000 + ((lo & 0xfffff000) >>> 0);
}

/**
 * An interrupt remapping table in host memory (VT-d §9.10): 2^(S + 1) IRTEs of 16 bytes,
 * 4 KiB-aligned. Entries start not present.
 */
export class InterruptRemappingTable {
  /** Host-physical address of the table (IRTA_REG.IRTA). */
  readonly address: number;
  /** Number of entries, 2^(S + 1). */
  readonly entries: number;
  /** IRTA_REG.S: entries = 2^(S + 1). */
  readonly sizeField: number;
  private readonly memory: PhysicalMemory;
  private readonly words = new Uint32Array(4);

  constructor(memory: PhysicalMemory, pages: PageAllocator, entries: number) {
    const s = Math.log2(entries) - 1;
    if (!Number.isInteger(s) || s < 0 || s > 15) {
      throw new IommuConfigError(`IRT entries must be a power of two in 2..65536, got ${entries}`);
    }
    this.memory = memory;
    this.entries = entries;
    this.sizeField = s;
    this.address = pages.allocate(Math.max(1, (entries * ENTRY128_SIZE) / PAGE_SIZE));
  }

  /** Writes IRTE `index` (encoded bit-exact). Software changing a live entry updates it in place. */
  write(index: number, irte: Irte): void {
    this.check(index);
    encodeIrte(irte, this.words);
    writeEntry128(this.memory, this.address + index * ENTRY128_SIZE, this.words);
  }

  /** Clears IRTE `index` (P = 0). */
  clear(index: number): void {
    this.check(index);
    this.words.fill(0);
    writeEntry128(this.memory, this.address + index * ENTRY128_SIZE, this.words);
  }

  /** Reads and decodes IRTE `index`. */
  read(index: number): Irte {
    this.check(index);
    readWords(this.memory, this.address + index * ENTRY128_SIZE, this.words, 4);
    return decodeIrte(this.words);
  }

  private check(index: number): void {
    if (!Number.isInteger(index) || index < 0 || index >= this.entries) {
      throw new IommuConfigError(`IRTE index must be in 0..${this.entries - 1}, got ${index}`);
    }
  }
}

/** Writes a posted-interrupt descriptor at `address` (64-byte aligned). */
export function writePostedInterruptDescriptor(
  memory: PhysicalMemory,
  address: number,
  descriptor: PostedInterruptDescriptor,
): void {
  if (address % PID_SIZE !== 0) {
    throw new IommuConfigError(
      `a posted-interrupt descriptor must be 64-byte aligned, got 0x${address.toString(16)}`,
    );
  }
  const words = new Uint32Array(PID_SIZE / 4);
  encodePostedInterruptDescriptor(descriptor, words);
  writeWords(memory, address, words, PID_SIZE / 4);
}

/** Reads the posted-interrupt descriptor at `address`. */
export function readPostedInterruptDescriptor(
  memory: PhysicalMemory,
  address: number,
): PostedInterruptDescriptor {
  const words = new Uint32Array(PID_SIZE / 4);
  readWords(memory, address, words, PID_SIZE / 4);
  return decodePostedInterruptDescriptor(words);
}

// ---- register programming (VT-d §10.4), through any MmioDevice ----

/** Writes a 64-bit register as two 32-bit halves, low then high (the high half triggers commands). */
export function writeRegister64(mmio: MmioDevice, offset: number, value: number): void {
  mmio.mmioWrite(offset, 4, lo32(value));
  mmio.mmioWrite(offset + 4, 4, hi32(value));
}

/** Reads a 64-bit register as two 32-bit halves (exact for values below 2^53; read CAP as halves). */
export function readRegister64(mmio: MmioDevice, offset: number): number {
  return mmio.mmioRead(offset + 4, 4) * 0x1_0000_0000 + mmio.mmioRead(offset, 4);
}

/** Issues one GCMD command: the current persistent status bits, with `bit` set or cleared. */
export function globalCommand(mmio: MmioDevice, bit: number, set: boolean): void {
  const persistent = (mmio.mmioRead(VTD_REG.GSTS, 4) & (GSTS.TES | GSTS.IRES | GSTS.CFIS | GSTS.QIES)) >>> 0;
  mmio.mmioWrite(VTD_REG.GCMD, 4, (set ? persistent | bit : persistent & ~bit) >>> 0);
}

/** Globally invalidates the context cache (CCMD_REG, CIRG = global). */
export function invalidateContextCacheGlobal(mmio: MmioDevice): void {
  mmio.mmioWrite(VTD_REG.CCMD, 4, 0);
  mmio.mmioWrite(
    VTD_REG.CCMD + 4,
    4,
    (CCMD.ICC_HI | (INVALIDATION_GRANULARITY.GLOBAL << CCMD.CIRG_HI_SHIFT)) >>> 0,
  );
}

/** Invalidates IOTLB entries: globally, for a domain, or (with `address`) 2^am pages of a domain. */
export function invalidateIotlb(
  mmio: MmioDevice,
  scope: { readonly domainId?: number; readonly address?: number; readonly addressMask?: number } = {},
): void {
  let iirg: number = INVALIDATION_GRANULARITY.GLOBAL;
  if (scope.domainId !== undefined) {
    iirg = INVALIDATION_GRANULARITY.DOMAIN;
    if (scope.address !== undefined) {
      iirg = INVALIDATION_GRANULARITY.DEVICE_OR_PAGE;
      writeRegister64(
        mmio,
        VTD_REG.IVA,
        scope.address - (scope.address % PAGE_SIZE) + (scope.addressMask ?? 0),
      );
    }
  }
  mmio.mmioWrite(VTD_REG.IOTLB, 4, 0);
  mmio.mmioWrite(
    VTD_REG.IOTLB + 4,
    4,
    (IOTLB_REG.IVT_HI |
      (iirg << IOTLB_REG.IIRG_HI_SHIFT) |
      ((scope.domainId ?? 0) & IOTLB_REG.DID_HI_MASK)) >>>
      0,
  );
}

/**
 * The driver's DMA-remapping bring-up: RTADDR, SRTP, global context-cache and IOTLB
 * invalidation, then TE (VT-d §10.4.4–10.4.8).
 */
export function enableDmaRemapping(mmio: MmioDevice, rootTableAddress: number): void {
  writeRegister64(mmio, VTD_REG.RTADDR, rootTableAddress);
  globalCommand(mmio, GCMD.SRTP, true);
  invalidateContextCacheGlobal(mmio);
  invalidateIotlb(mmio);
  globalCommand(mmio, GCMD.TE, true);
}

/** Options of interrupt-remapping bring-up. */
export interface InterruptRemappingSetup {
  /** x2APIC (32-bit) destination IDs in IRTEs and descriptors (IRTA.EIME). */
  readonly extendedInterruptMode: boolean;
  /** Let compatibility-format MSIs through (GCMD.CFI; ignored by hardware when EIME is set). */
  readonly allowCompatibilityFormat: boolean;
}

/** The driver's interrupt-remapping bring-up: IRTA, SIRTP, optional CFI, then IRE (VT-d §10.4.29, §10.4.4). */
export function enableInterruptRemapping(
  mmio: MmioDevice,
  table: InterruptRemappingTable,
  setup: InterruptRemappingSetup,
): void {
  writeRegister64(
    mmio,
    VTD_REG.IRTA,
    table.address + (setup.extendedInterruptMode ? IRTA.EIME : 0) + table.sizeField,
  );
  globalCommand(mmio, GCMD.SIRTP, true);
  if (setup.allowCompatibilityFormat) globalCommand(mmio, GCMD.CFI, true);
  globalCommand(mmio, GCMD.IRE, true);
}
