import { Cpu } from '@exitless/cpu';
import { describeCpuConformance } from '@exitless/cpu/conformance';
import { Iommu } from '@exitless/iommu';
import { describeIommuConformance } from '@exitless/iommu/conformance';
import { describe, expect, it } from 'vitest';
import { main as cpuVmlaunch } from '../packages/cpu-vmlaunch.js';
import { main as iommuRemapping } from '../packages/iommu-remapping.js';
import { main as lapicX2apicPriority } from '../packages/lapic-x2apic-priority.js';
import { main as machineApi } from '../packages/machine-api.js';
import { main as machineFile } from '../packages/machine-file.js';
import { main as machineMemcached } from '../packages/machine-memcached.js';
import { main as machineTwoGuests } from '../packages/machine-two-guests.js';
import { main as netTcpSegment } from '../packages/net-tcp-segment.js';
import { main as nicSriovReceive } from '../packages/nic-sriov-receive.js';
import { main as simPeriodicTimer } from '../packages/sim-periodic-timer.js';
import { main as workloadsNetperfStream } from '../packages/workloads-netperf-stream.js';
import { main as x86IdtAndMsi } from '../packages/x86-idt-and-msi.js';
import { shortRun } from './run.js';

/**
 * The package READMEs' examples (examples/packages/*.ts): each one's `main`, and what it
 * printed. The READMEs quote these files (test/readme.test.ts) and say what they print.
 */

// The conformance suites as the cpu and iommu READMEs show them, on the packages' own parts.
describeCpuConformance('Cpu', (o) => new Cpu({ id: 0, ...o }));
describeIommuConformance('Iommu', ({ memory, interruptSink, sim, stats }) => {
  const costs = {
    iotlbHitPs: 1_000,
    contextFetchPs: 60_000,
    pageWalkLevelPs: 60_000,
    irteFetchPs: 60_000,
    postedDescriptorUpdatePs: 80_000,
  };
  return new Iommu({
    memory,
    interruptSink,
    stats,
    simulator: sim,
    costs,
    iotlbEntries: 64,
    faultRecordingRegisters: 8,
  });
});

describe('examples/packages', () => {
  it('x86: a not-present interrupt gate (type 0xE in byte 5) and an MSI to APIC 3, vector 0x41', () => {
    const o = shortRun();
    const { gate, address, data } = x86IdtAndMsi(o);
    expect(gate[5]).toBe(0x0e);
    expect(address >>> 0).toBe(0xfee03000);
    expect(data).toBe(0x41);
    expect(o.lines).toEqual([
      'gate byte 5 = 0xE (type 0xE, P clear); present: false',
      'MSI address 0xFEE03000, data 0x41',
    ]);
  });

  it('sim: a 100 µs timer over 1 ms ticks 11 times (0 through 1000 µs)', () => {
    const o = shortRun();
    expect(simPeriodicTimer(o)).toEqual({ 'timer.ticks': 11 });
    expect(o.lines).toEqual(['{"timer.ticks":11}']);
  });

  it('net: a 1448-byte payload makes a 1514-byte frame, 1538 bytes on the wire, read back intact', () => {
    const o = shortRun();
    expect(netTcpSegment(o)).toEqual({ length: 1514, wire: 1538, ok: true, payloadLength: 1448 });
    expect(o.lines).toEqual([
      '1514-byte frame, 1538 bytes on the wire; read back: true, 1448 bytes of payload',
    ]);
  });

  it('lapic: TPR 0x50 holds vector 0x41 back; TPR 0x30 raises INTR; EOI clears ISR; no MMIO in x2APIC mode', () => {
    const o = shortRun();
    const r = lapicX2apicPriority(o);
    expect(r).toEqual({
      intrBeforeTpr: false,
      vector: 0x41,
      isrBeforeEoi: 0x2,
      isrAfterEoi: 0,
      mmioTpr: 0xffffffff,
    });
    expect(o.lines).toEqual([
      'after the self-IPI at TPR 0x50: INTR false',
      'INTR raised',
      'acknowledged 0x41: ISR[95:64] 0x2, PPR 0x40',
      'after EOI: ISR[95:64] 0x0; MMIO read of TPR 0xFFFFFFFF',
    ]);
  });

  it("nic: 4 VFs at 03:10.0–03:10.6; a frame to VF 1's MAC lands in its ring and raises its MSI-X vector", () => {
    const o = shortRun();
    const r = nicSriovReceive(o);
    expect(r.vfRids).toEqual(['03:10.0', '03:10.2', '03:10.4', '03:10.6']);
    expect(r.received).toEqual({ length: 1514, status: 0x3, vfgprc: 1 }); // DD | EOP
    expect(r.msis).toHaveLength(1);
    expect(r.msis[0]).toMatchObject({ data: 0x41, rid: '03:10.2' });
    expect(o.lines[2]).toMatch(/^MSI-X data 0x41 from 03:10\.2 at [\d.]+ ns$/);
  });

  it("iommu: the VF's DMA lands in its domain, another function's faults, its MSI becomes vector 0x41 for APIC 0", () => {
    const o = shortRun();
    const r = iommuRemapping(o);
    expect(r.dmaStatus).toBe(0);
    expect(r.landedAt >>> 0).toBe(0xefbeadde);
    expect(r.faultStatus).toBe(0x2); // context entry not present
    expect(r.delivered).toEqual([{ vector: 0x41, destination: 0, atPs: 60_000 }]); // after the IRTE fetch
    expect(o.lines).toHaveLength(3);
  });

  it('cpu: VMLAUNCH, 10,000 guest cycles, HLT exits (reason 12) 12,000 cycles after launch', () => {
    const o = shortRun();
    const r = cpuVmlaunch(o);
    expect(r.exitReason).toBe(12);
    // VM entry 1,000 + guest 10,000 + VM exit 1,000 cycles at 2.93 GHz.
    expect(r.exitAtPs).toBeCloseTo((12_000 / 2.93e9) * 1e12, -2);
    expect(o.lines).toEqual(['VM exit reason 12 (hlt), host resumes at 4095.6 ns']);
  });

  it('workloads: netperf TCP_STREAM against the guest TCP receiver runs near the 10 Gb/s line rate', () => {
    const o = shortRun();
    const r = workloadsNetperfStream(o);
    expect(r.goodputBitsPerSecond).toBeGreaterThan(9e9);
    expect(r.goodputBitsPerSecond).toBeLessThan(10e9);
    expect(r.retransmittedSegments).toBe(0);
    // What netperf read is what the sender got acknowledged, within one receive buffer.
    expect(Math.abs(r.bytesRead - (r.goodputBitsPerSecond / 8) * 0.003)).toBeLessThanOrEqual(262144);
    expect(o.lines[0]).toMatch(
      /^[\d,]+ Mb\/s over 3 ms; netperf read [\d,]+ bytes; 0 segments retransmitted$/,
    );
  });

  it('machine API: the default machine in baseline has throughput and exits', () => {
    const o = shortRun();
    const r = machineApi(o);
    expect(r.mode).toBe('baseline');
    expect(r.throughput.value).toBeGreaterThan(0);
    expect(r.exitsPerSecond.total).toBeGreaterThan(0);
    expect(o.lines[0]).toMatch(/^[\d,]+ Mb\/s, [\d,]+ exits\/s$/);
  });

  it('machine: two guests in ELI serving memcached, then ELI-guest-hlt beside baseline', () => {
    const o = shortRun();
    const { sameDesign, twoDesigns } = machineTwoGuests(o);
    expect(sameDesign.guests).toHaveLength(2);
    for (const g of sameDesign.guests ?? []) expect(g.throughput.value).toBeGreaterThan(0);
    expect(sameDesign.cpus).toHaveLength(2);
    expect(twoDesigns.guests?.map((g) => g.mode)).toEqual(['eli-guest-hlt', 'baseline']);
    expect(o.lines.at(-1)).toBe("guests' modes: eli-guest-hlt, baseline");
  });

  it('machine file: two-guests.yaml runs ELI beside baseline and reads back from JSON unchanged', () => {
    const o = shortRun();
    const r = machineFile(o);
    expect(r.report.guests?.map((g) => g.mode)).toEqual(['eli', 'baseline']);
    expect(r.parsedBack).toEqual(r.config);
    expect(o.lines[0]).toBe("guests' modes: eli, baseline");
    expect(o.lines[1]).toMatch(/^as JSON: \d+ characters; read back the same: true$/);
  });

  it('machine: memcached at concurrency 32 reports operations/s and a latency', () => {
    const o = shortRun();
    const r = machineMemcached(o);
    expect(r.throughput.unit).toBe('operations/s');
    expect(r.throughput.value).toBeGreaterThan(0);
    expect(r.latency?.p99).toBeGreaterThan(0);
  });
});
