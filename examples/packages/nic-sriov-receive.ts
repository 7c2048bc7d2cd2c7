/**
 * `@exitless/nic`'s 82599 on its own: the host's PF driver creates 4 VFs, a minimal driver
 * gives VF 1 an RX ring and an MSI-X vector, and one frame from the wire's far end lands in
 * VF 1's ring. The nic README's example.
 *
 *   node --conditions=source --import tsx examples/packages/nic-sriov-receive.ts
 */
import { ipv4, makeTcpSegmentFields, TCP_FLAG, writeTcpSegment } from '@exitless/net';
import {
  IVAR,
  MSIX_TABLE_OFFSET,
  NIC_82599,
  PF_LAYOUT,
  RX_DESC,
  RXD_STAT,
  RXDCTL,
  SriovNic,
  VF_REG,
  Wire,
} from '@exitless/nic';
import { ns, Simulator, Stats, us } from '@exitless/sim';
import {
  DirectDmaPort,
  findCapability,
  formatRequesterId,
  MSIX_CAP,
  MSIX_CONTROL,
  MSIX_ENTRY,
  PCI_CAP_ID,
  PCI_CFG,
  PCI_COMMAND,
  requesterId,
  SparseMemory,
  SRIOV_CAP,
  SRIOV_CONTROL,
} from '@exitless/x86';
import { type ExampleOptions, exampleRun, isMain } from '../common.js';

export function main(options: ExampleOptions = {}): {
  readonly vfRids: readonly string[];
  readonly msis: readonly { readonly atPs: number; readonly data: number; readonly rid: string }[];
  readonly received: { readonly length: number; readonly status: number; readonly vfgprc: number };
} {
  const { log } = exampleRun(options);
  const sim = new Simulator();
  const stats = new Stats(sim);
  const memory = new SparseMemory(1 << 30);
  const msis: { atPs: number; data: number; rid: string }[] = [];
  const nic = new SriovNic(
    sim,
    new DirectDmaPort(memory), // no IOMMU: bus addresses are host physical addresses
    { msiWrite: (_address, data, rid) => msis.push({ atPs: sim.now, data, rid: formatRequesterId(rid) }) },
    { dmaReadLatencyPs: ns(560), dmaWriteLatencyPs: ns(280), dmaReadPsPerByte: 300, dmaWritePsPerByte: 150 },
    { ...NIC_82599, requesterId: requesterId(3, 0, 0), macAddress: 0x020000000000 },
    stats.scope('nic'),
  );
  const wire = new Wire(
    sim,
    { bitsPerSecond: 10e9, latencyPs: ns(500) },
    { maxFrameBytes: 1518, framesInFlight: 1024 },
    stats.scope('wire'),
  );
  nic.connect(wire.a); // wire.b is the far end: here, this program sends from it

  // The host's PF driver creates 4 VFs (RIDs 03:10.0, 03:10.2, …).
  nic.pf.configWrite(PCI_CFG.COMMAND, 2, PCI_COMMAND.MEMORY_SPACE | PCI_COMMAND.BUS_MASTER);
  nic.pf.configWrite(PF_LAYOUT.SRIOV_EXT_CAP + SRIOV_CAP.NUM_VFS, 2, 4);
  nic.pf.configWrite(
    PF_LAYOUT.SRIOV_EXT_CAP + SRIOV_CAP.CONTROL,
    2,
    SRIOV_CONTROL.VF_ENABLE | SRIOV_CONTROL.VF_MSE,
  );
  const vfRids = [0, 1, 2, 3].map((n) => formatRequesterId(nic.vfRequesterId(n)));
  log(`4 VFs: ${vfRids.join(', ')}`);

  // VF 1's driver, as ixgbevf does it (minus the mailbox): MSI-X vector 0 for RX queue 0,
  // eight 2 KiB receive buffers.
  const vf = nic.vf(1)!;
  const msix = findCapability(vf, PCI_CAP_ID.MSIX);
  vf.configWrite(PCI_CFG.COMMAND, 2, PCI_COMMAND.BUS_MASTER);
  vf.configWrite(msix + MSIX_CAP.MESSAGE_CONTROL, 2, MSIX_CONTROL.ENABLE);
  vf.msixBar.mmioWrite(MSIX_TABLE_OFFSET + MSIX_ENTRY.ADDRESS_LO, 4, 0xfee00000);
  vf.msixBar.mmioWrite(MSIX_TABLE_OFFSET + MSIX_ENTRY.DATA, 4, 0x41);
  vf.msixBar.mmioWrite(MSIX_TABLE_OFFSET + MSIX_ENTRY.VECTOR_CONTROL, 4, 0); // unmask
  vf.registers.mmioWrite(VF_REG.VFIVAR0, 4, IVAR.ALLOC_VAL | 0); // RX queue 0 → vector 0
  vf.registers.mmioWrite(VF_REG.VFEIMS, 4, 0b1);
  const ring = 0x100000;
  const buffers = 0x200000;
  for (let i = 0; i < 8; i++) memory.write64(ring + i * RX_DESC.SIZE, BigInt(buffers + i * 2048));
  vf.registers.mmioWrite(VF_REG.VFRDBAL, 4, ring);
  vf.registers.mmioWrite(VF_REG.VFRDLEN, 4, 8 * RX_DESC.SIZE);
  vf.registers.mmioWrite(VF_REG.VFSRRCTL, 4, 2); // 2 KiB buffers
  vf.registers.mmioWrite(VF_REG.VFRXDCTL, 4, RXDCTL.ENABLE);
  vf.registers.mmioWrite(VF_REG.VFRDT, 4, 7); // descriptors 0–6 are the NIC's

  // One full-sized TCP segment to VF 1's MAC (the PF's + 2), FCS included.
  const frame = new Uint8Array(1518);
  const f = makeTcpSegmentFields();
  f.dstMac = 0x020000000002;
  f.srcMac = 0x0a0000000001;
  f.srcIp = ipv4(10, 0, 0, 1);
  f.dstIp = ipv4(10, 0, 0, 3);
  f.flags = TCP_FLAG.ACK;
  f.payloadLength = 1448;
  const length = writeTcpSegment(frame, f);
  wire.b.transmit(frame, 0, length + 4);
  sim.runUntil(us(5));

  const received = {
    length: memory.read16(ring + RX_DESC.LENGTH), // descriptor 0's write-back
    status: memory.read8(ring + RX_DESC.STATUS),
    vfgprc: vf.registers.mmioRead(VF_REG.VFGPRC, 4),
  };
  const dd = (received.status & RXD_STAT.DD) !== 0;
  log(`VF 1's descriptor 0: ${received.length} bytes, DD ${dd}; VFGPRC ${received.vfgprc}`);
  for (const m of msis) log(`MSI-X data 0x${m.data.toString(16)} from ${m.rid} at ${m.atPs / 1000} ns`);
  return { vfRids, msis, received };
}

if (isMain(import.meta.url)) main();
