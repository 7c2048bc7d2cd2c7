/**
 * `@exitless/iommu`'s VT-d model on its own: one VF's DMA confined to its domain, and its MSI
 * remapped through an IRTE to vector 0x41 on APIC 0. The iommu README's example.
 *
 *   node --conditions=source --import tsx examples/packages/iommu-remapping.ts
 */
import {
  DmaRemappingTables,
  enableDmaRemapping,
  enableInterruptRemapping,
  InterruptRemappingTable,
  Iommu,
  PageAllocator,
  SVT,
  xapicIrteDestination,
} from '@exitless/iommu';
import { SimEvent, Simulator, Stats } from '@exitless/sim';
import { encodeRemappableMsiAddress, type InterruptMessage, SparseMemory } from '@exitless/x86';
import { type ExampleOptions, exampleRun, isMain } from '../common.js';

export function main(options: ExampleOptions = {}): {
  readonly dmaStatus: number;
  readonly landedAt: number;
  readonly faultStatus: number;
  readonly delivered: readonly {
    readonly vector: number;
    readonly destination: number;
    readonly atPs: number;
  }[];
  readonly counters: Readonly<Record<string, number>>;
} {
  const { log } = exampleRun(options);
  const hex = (n: number) => `0x${n.toString(16).toUpperCase()}`;
  const sim = new Simulator();
  const stats = new Stats(sim);
  const memory = new SparseMemory(256 << 20);
  const delivered: { vector: number; destination: number; atPs: number }[] = [];
  const bus = {
    deliverInterrupt: (m: InterruptMessage) =>
      delivered.push({ vector: m.vector, destination: m.destination, atPs: sim.now }),
  };
  const iommu = new Iommu({
    memory,
    interruptSink: bus, // the interrupt bus; here a recorder
    stats: stats.scope('iommu'),
    simulator: sim, // remapped interrupts arrive after the IRTE fetch
    costs: {
      iotlbHitPs: 1_000,
      contextFetchPs: 60_000,
      pageWalkLevelPs: 60_000,
      irteFetchPs: 60_000,
      postedDescriptorUpdatePs: 80_000,
    },
    iotlbEntries: 64,
    faultRecordingRegisters: 8,
  });

  // DMA remapping: VF 03:10.0 (requester ID 0x0380) in domain 1, whose I/O addresses
  // 0–64 MiB are host addresses 64–128 MiB.
  const pages = new PageAllocator(memory, 0x100000, 0x400000); // table pages at 1–5 MiB
  const dmar = new DmaRemappingTables(memory, pages);
  const guest = dmar.createDomain(1);
  dmar.attachDevice(0x0380, guest);
  dmar.map(guest, 0x0, 0x4000000, 64 << 20, { read: true, write: true }, 0x200000);
  enableDmaRemapping(iommu, dmar.rootTableAddress);

  const packet = new Uint8Array([0xde, 0xad, 0xbe, 0xef]);
  const dmaStatus = iommu.dmaWrite(0x0380, 0x1000, packet, 0, packet.length); // DMA_OK (0)
  const landedAt = memory.read32(0x4001000);
  // Another function (03:10.2) has no context entry: blocked, and recorded as a fault.
  const faultStatus = iommu.dmaWrite(0x0382, 0x1000, packet, 0, 4);
  log(`VF 03:10.0 writes IOVA 0x1000: status ${dmaStatus}, host 0x4001000 holds ${hex(landedAt)}`);
  log(`VF 03:10.2 writes IOVA 0x1000: fault reason ${hex(faultStatus)} (context entry not present)`);

  // Interrupt remapping: IRTE 0 turns the VF's MSI into vector 0x41 for APIC 0.
  const irt = new InterruptRemappingTable(memory, pages, 256);
  irt.write(0, {
    mode: 'remapped',
    present: true,
    faultProcessingDisable: false,
    destinationMode: 0,
    redirectionHint: 0,
    triggerMode: 0,
    deliveryMode: 0,
    available: 0,
    vector: 0x41,
    destination: xapicIrteDestination(0),
    sourceId: 0x0380, // only this requester may use the entry
    sourceIdQualifier: 0,
    sourceValidationType: SVT.REQUESTER_ID,
  });
  enableInterruptRemapping(iommu, irt, { extendedInterruptMode: false, allowCompatibilityFormat: false });

  // The VF's MSI-X table entry holds the remappable address for handle 0, and data 0.
  const address = encodeRemappableMsiAddress({ handle: 0, shv: false });
  sim.schedule(new SimEvent('vf-msi', () => iommu.msiWrite(address, 0, 0x0380)), 0);
  sim.runUntil(1_000_000); // 1 µs
  for (const d of delivered) {
    log(
      `MSI from 03:10.0 → vector ${hex(d.vector)} to APIC ${d.destination}, ${d.atPs / 1000} ns after the write`,
    );
  }
  const counters = stats.snapshot().counters;
  return { dmaStatus, landedAt, faultStatus, delivered, counters };
}

if (isMain(import.meta.url)) main();
