import { readMac } from '@exitless/net';
import type { EthernetEndpoint, WirePort } from '@exitless/nic';
import type { Counter, ScopedStats } from '@exitless/sim';
import type { SenderPort } from '@exitless/workloads';

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
    return {
      get bitsPerSecond(): number {
        return wire.bitsPerSecond;
      },
      get busyUntil(): number {
        return wire.busyUntil;
      },
      backlogPs: () => wire.backlogPs(),
      transmit: (data, offset, length, notBefore) => wire.transmit(data, offset, length, notBefore),
      connect: (endpoint) => {
        if (endpoint === null) byMac.delete(mac);
        else byMac.set(mac, endpoint);
      },
    };
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
