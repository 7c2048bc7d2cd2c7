/**
 * The NIC as a machine uses it: the part's interface, which `describeNicConformance`
 * (`@exitless/nic/conformance`) checks and a board's NIC slot takes (`@exitless/machine`).
 */
import type { ScopedStats, Simulator } from '@exitless/sim';
import type { DmaPort, MmioDevice, MsiSink, PciFunction } from '@exitless/x86';
import type { NicTiming } from './options.js';
import type { EthernetEndpoint, WirePort } from './wire.js';

/** One VF as the suite (and the machine) sees it: a PCI function with two memory BARs. */
export interface NicVirtualFunctionUnderTest extends PciFunction {
  /** BAR0: the 82599 VF register map. */
  readonly registers: MmioDevice;
  /** BAR3: the MSI-X table and PBA, at the offsets the VF's MSI-X capability names. */
  readonly msixBar: MmioDevice;
  /** The unicast MAC address (48-bit number, first octet most significant) the NIC's switch delivers to this VF. */
  readonly mac: number;
}

/** The NIC under test: what `@exitless/machine` uses of `SriovNic`. */
export interface NicUnderTest extends EthernetEndpoint {
  /** The physical function (configuration space only). */
  readonly pf: PciFunction;
  /** VF n while SR-IOV VF Enable is set with NumVFs > n, else undefined. */
  vf(n: number): NicVirtualFunctionUnderTest | undefined;
  /** Where VF n's BAR `bar` decodes: the PF's SR-IOV VF BAR plus n × its size (SR-IOV 1.1 §2.1.1.1). */
  vfBarAddress(n: number, bar: 0 | 3): number;
  /** The size of each VF's BAR `bar`, as BAR sizing reports it. */
  vfBarSize(bar: 0 | 3): number;
  /** Connects the Ethernet port to one end of a wire: transmit with `port.transmit`, receive with `port.connect`. */
  connect(port: WirePort): void;
}

/** What the suite hands the factory to build one NIC. */
export interface NicFactoryOptions {
  /** The simulator the NIC runs on. */
  readonly sim: Simulator;
  /** Every DMA must go through this port, carrying the issuing function's requester ID. */
  readonly dma: DmaPort;
  /** Every MSI-X message must go through this sink, carrying the issuing function's requester ID. */
  readonly msi: MsiSink;
  /** The PF's requester ID (bus[15:8] device[7:3] function[2:0]). */
  readonly requesterId: number;
  /** The PF's MAC address (VF MACs are the NIC's choice; the suite reads `vf(n).mac`). */
  readonly macAddress: number;
  /** The NIC's DMA latencies. */
  readonly timing: NicTiming;
  /** A stats scope for the NIC's counters (the suite reads none of them). */
  readonly stats: ScopedStats;
}

/** Builds the NIC under test in its reset state (VF Enable clear). */
export type NicFactory = (options: NicFactoryOptions) => NicUnderTest;
