import { readMac } from '@exitless/net';
import type { EthernetEndpoint, WirePort } from '@exitless/nic';
import { type Counter, ns, type ScopedStats } from '@exitless/sim';
import { ForwardingPort, type PeerCosts, type PeerNicOptions, type SenderPort } from '@exitless/workloads';
import { type CalibrationProfile, profileValue } from './profile.js';

/** What a load generator's machine (a PeerHost) is built from, apart from its wire, clock and statistics. */
export interface PeerMachine {
  /** Its core's clock, Hz. */
  readonly hz: number;
  /** The kernel's and driver's costs. */
  readonly costs: PeerCosts;
  /** Its NIC and driver. */
  readonly nic: PeerNicOptions;
  /** Its kernel's tick rate (CONFIG_HZ). */
  readonly tickHz: number;
}

/**
 * The load generator's machine from the calibration profile: in the paper's setup a second
 * server of the same generation running Linux on bare metal, with an 82599 driven by ixgbe.
 * It runs the same Linux as the guest, so its kernel's costs are the guest's entries; its
 * core is the profile's CPU (cpu.hz); its NIC crosses the same kind of PCIe link (nic.dma*,
 * pcie.*); its driver's ring sizes and interrupt throttling are ixgbe's defaults (peer.*).
 */
export function peerMachine(p: CalibrationProfile): PeerMachine {
  const v = (k: string) => profileValue(p, k);
  const mmioWrite = v('cpu.mmioWriteCycles');
  return {
    hz: v('cpu.hz'),
    tickHz: v('guest.hz'),
    costs: {
      // IDT delivery, irq entry, the LAPIC EOI, then ixgbe's hard-IRQ handler: it masks its
      // vector (two EIMC_EX writes on the 82599) and schedules NAPI; STI for the softirq.
      interruptEntry:
        v('cpu.eventDeliveryCycles') +
        v('guest.irqEntry') +
        v('cpu.wrmsrCycles') +
        v('guest.nicIrqHandler') +
        2 * mmioWrite +
        v('cpu.cliStiCycles'),
      // NAPI complete unmasks the vector (two EIMS_EX writes); CLI, irq exit, IRET.
      interruptExit: 2 * mmioWrite + v('cpu.cliStiCycles') + v('guest.irqExit') + v('cpu.iretCycles'),
      napiPollBase: v('guest.napiPollBase'),
      rxPerFrame: v('guest.rxPerFrame') + v('guest.rxRefillPerBuffer'),
      rxTailWrite: mmioWrite,
      tcpRxPerSkb: v('guest.rxPerSkb'),
      udpRxPerDatagram: v('guest.udpRxPerDatagram'),
      txCleanPerSkb: v('guest.txCleanPerFrame'),
      wakeup: v('guest.wakeup'),
      contextSwitch: v('guest.contextSwitch'),
      eventWait: v('guest.eventWait'),
      recvSyscall: v('guest.recvSyscall'),
      copyToUserPerByte: v('guest.copyPerByte'),
      sendSyscall: v('guest.sendSyscall'),
      copyFromUserPerByte: v('guest.copyFromUserPerByte'),
      // The stack and driver per skb, then the tail write.
      txPerSkb: v('guest.txPerFrame') + mmioWrite,
      // socket() (a socket and a file, as accept() allocates) and connect() (route lookup,
      // port choice, and the SYN-ACK's processing, as a passive open's setup).
      connectCall: v('guest.acceptSyscall') + v('guest.tcpConnectionSetup'),
      closeCall: v('guest.closeSyscall'),
      timerTick:
        v('cpu.eventDeliveryCycles') +
        v('guest.irqEntry') +
        v('cpu.wrmsrCycles') +
        v('guest.timerTick') +
        v('guest.irqExit') +
        v('cpu.iretCycles'),
    },
    nic: {
      dmaWriteLatencyPs: ns(v('nic.dmaWriteLatencyNs')),
      dmaWritePsPerByte: ns(v('nic.dmaWritePerByteNs')),
      dmaReadLatencyPs: ns(v('nic.dmaReadLatencyNs')),
      dmaReadPsPerByte: ns(v('nic.dmaReadPerByteNs')),
      doorbellLatencyPs: ns(v('pcie.postedWriteNs')),
      msiLatencyPs: ns(v('pcie.msiNs')),
      rxRingSize: v('peer.rxRing'),
      txRingSize: v('peer.txRing'),
      napiBudget: v('guest.napiBudget'),
      itr: {
        dynamic: v('peer.itr.dynamic') === 1,
        rxInitialRate: v('peer.itr.rxInitialRate'),
        txInitialRate: v('peer.itr.txInitialRate'),
        lowestRate: v('peer.itr.lowestRate'),
        lowRate: v('peer.itr.lowRate'),
        bulkRate: v('peer.itr.bulkRate'),
        lowBytesPerUs: v('peer.itr.lowBytesPerUs'),
        highBytesPerUs: v('peer.itr.highBytesPerUs'),
      },
    },
  };
}

/**
 * The far end of the wire when several load generators share it (one per guest): a
 * learning-free switch that hands each frame to the generator whose MAC it is addressed to,
 * and lets every generator transmit through the one port (the wire serialises them).
 * Frames for no registered MAC are dropped and counted.
 */
export class PeerSwitch implements EthernetEndpoint {
  private readonly wire: WirePort;
  private readonly byMac = new Map<number, EthernetEndpoint>();
  private readonly unknown: Counter;

  constructor(wire: WirePort, stats: ScopedStats) {
    this.wire = wire;
    this.unknown = stats.counter('unknown-destination');
    wire.connect(this);
  }

  /** The port a generator with MAC `mac` uses: transmitting goes to the wire, receiving comes from this switch. */
  port(mac: number): SenderPort {
    const wire = this.wire;
    const byMac = this.byMac;
    // Frames go straight to the wire (send null: no function in between).
    return new ForwardingPort(wire, null, (endpoint) => {
      if (endpoint === null) byMac.delete(mac);
      else byMac.set(mac, endpoint);
    });
  }

  receiveFrame(data: Uint8Array, length: number): void {
    const target = this.byMac.get(readMac(data, 0));
    if (target === undefined) {
      this.unknown.inc();
      return;
    }
    target.receiveFrame(data, length);
  }
}
