import { Simulator, Stats } from '@exitless/sim';
import type { InterruptMessage, InterruptMessageSink } from '@exitless/x86';
import { SparseMemory } from '@exitless/x86';
import {
  DmaRemappingTables,
  enableDmaRemapping,
  enableInterruptRemapping,
  InterruptRemappingTable,
  Iommu,
  type IommuCosts,
  PageAllocator,
} from '../src/index.js';

/** Explicit test costs (ps). */
export const COSTS: IommuCosts = {
  iotlbHitPs: 1_000,
  contextFetchPs: 20_000,
  pageWalkLevelPs: 50_000,
  irteFetchPs: 30_000,
  postedDescriptorUpdatePs: 40_000,
};

/** A recording double of the interrupt bus: copies every message it is given. */
export class RecordingSink implements InterruptMessageSink {
  readonly messages: InterruptMessage[] = [];
  readonly times: number[] = [];
  private readonly clock: { readonly now: number } | undefined;

  constructor(clock?: { readonly now: number }) {
    this.clock = clock;
  }

  deliverInterrupt(message: InterruptMessage): void {
    this.messages.push({ ...message });
    this.times.push(this.clock?.now ?? 0);
  }
}

export const MEMORY_SIZE: number = 64 * 1024 * 1024;
/** Page pool for remapping structures. */
export const POOL_BASE = 0x100000;
export const POOL_SIZE = 0x400000;

/** 03:00.0, the PF, and its VFs at offset 0x80, stride 2. */
export const PF_RID = 0x0300;
export const VF0_RID = 0x0380;
export const VF1_RID = 0x0382;

export interface Rig {
  readonly sim: Simulator;
  readonly stats: Stats;
  readonly memory: SparseMemory;
  readonly sink: RecordingSink;
  readonly iommu: Iommu;
  readonly pages: PageAllocator;
  readonly tables: DmaRemappingTables;
  readonly irt: InterruptRemappingTable;
  counter(name: string): number;
}

export interface RigOptions {
  readonly iotlbEntries?: number;
  readonly faultRecordingRegisters?: number;
  readonly dmaRemapping?: boolean;
  readonly interruptRemapping?: boolean;
  readonly eime?: boolean;
  readonly allowCompat?: boolean;
  readonly delayed?: boolean;
}

/** A memory, an IOMMU with remapping enabled through its registers, and empty tables. */
export function rig(o: RigOptions = {}): Rig {
  const sim = new Simulator();
  const stats = new Stats(sim);
  const memory = new SparseMemory(MEMORY_SIZE);
  const sink = new RecordingSink(sim);
  const iommu = new Iommu({
    memory,
    interruptSink: sink,
    stats: stats.scope('iommu'),
    costs: COSTS,
    iotlbEntries: o.iotlbEntries ?? 8,
    faultRecordingRegisters: o.faultRecordingRegisters ?? 4,
    ...(o.delayed === true ? { simulator: sim } : {}),
  });
  const pages = new PageAllocator(memory, POOL_BASE, POOL_SIZE);
  const tables = new DmaRemappingTables(memory, pages);
  const irt = new InterruptRemappingTable(memory, pages, 256);
  if (o.dmaRemapping ?? true) enableDmaRemapping(iommu, tables.rootTableAddress);
  if (o.interruptRemapping ?? true) {
    enableInterruptRemapping(iommu, irt, {
      extendedInterruptMode: o.eime ?? false,
      allowCompatibilityFormat: o.allowCompat ?? false,
    });
  }
  return {
    sim,
    stats,
    memory,
    sink,
    iommu,
    pages,
    tables,
    irt,
    counter: (name: string) => stats.counterValue(`iommu.${name}`),
  };
}
