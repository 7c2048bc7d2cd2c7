/**
 * The remapping unit as a machine uses it: the part's interface, which
 * `describeIommuConformance` (`@exitless/iommu/conformance`) checks and a board's IOMMU slot
 * takes (`@exitless/machine`).
 */
import type { ScopedStats, Simulator } from '@exitless/sim';
import type { DmaPort, InterruptMessageSink, MmioDevice, MsiSink, PhysicalMemory } from '@exitless/x86';

/** What the suite hands the factory to build one IOMMU. */
export interface IommuFactoryOptions {
  /** Host physical memory (64 MiB, zeroed): the remapping structures live here and DMA reaches it. */
  readonly memory: PhysicalMemory;
  /** The interrupt bus: remapped interrupts, posted notifications and fault events go here. */
  readonly interruptSink: InterruptMessageSink;
  /**
   * The simulator the suite drives. A unit that delivers interrupt messages after a latency
   * schedules them on it; before every observation the suite runs it until no event is
   * left, so synchronous and delayed delivery both conform.
   */
  readonly sim: Simulator;
  /** A stats scope for the unit's counters (the suite reads none of them). */
  readonly stats: ScopedStats;
}

/** The three faces of a remapping unit: the devices' DMA port, their MSI target, the VT-d register page. */
export type IommuUnderTest = DmaPort & MsiSink & MmioDevice;

/** Builds the IOMMU under test, in its reset state (translation and interrupt remapping off). */
export type IommuFactory = (options: IommuFactoryOptions) => IommuUnderTest;
