/**
 * What a guest kernel is built from (its options, the application it runs, where its VF is)
 * and the checks of those options: every mistake a user can make is a `GuestConfigError`
 * that says what to change.
 */

import type { ScopedStats } from '@exitless/sim';
import type { PhysicalMemory, Routine } from '@exitless/x86';
import { UserError } from '@exitless/x86';
import type { GuestCosts } from './costs.js';
import type { InterruptThrottling } from './ixgbevf.js';
import type { GuestKernel } from './kernel.js';
import { GUEST_LAYOUT } from './layout.js';
import type { GuestPvEoiOptions } from './pv-eoi.js';
import type { TcpServerOptions, UdpSocketOptions } from './sockets.js';
import type { TcpReceiverOptions } from './tcp.js';

/** Thrown when a guest kernel is configured wrong. */
export class GuestConfigError extends UserError {
  constructor(message: string) {
    super(message);
    this.name = 'GuestConfigError';
  }
}

/**
 * The guest's application (netperf's receiver, a web server…): work it does in process
 * context. A burst may call the socket layer (accept, read, write, close, sendto); the
 * stack work those calls do (segments built and posted) is charged by the kernel on top of
 * the burst's own cycles, and the TX tail write that hands the frames to the NIC follows
 * the burst.
 */
export interface GuestApplication {
  /** The application's name, for reports. */
  readonly name: string;
  /** Called once, when the kernel is built (sockets are opened here: listenTcp, bindUdp). */
  attach(kernel: GuestKernel): void;
  /** True when the application has work it can do now (data to read…). */
  runnable(): boolean;
  /** Performs the application's next burst of work and returns its cost in cycles (0: nothing to do, it sleeps). */
  nextBurst(now: number): number;
}

/** Where the guest finds its assigned virtual function, in its own physical address space. */
export interface GuestNicConfig {
  /** Guest-physical address of the VF's BAR0 (registers). */
  readonly bar0: number;
  /** Guest-physical address of the VF's BAR3 (MSI-X table and PBA). */
  readonly bar3: number;
  /** The VF's MAC address. */
  readonly mac: number;
  /** The guest's IPv4 address. */
  readonly ip: number;
  /** RX and TX descriptors (multiples of 8, at most 4096; ixgbevf's defaults are 512 and 1024). */
  readonly rxRingSize: number;
  /** TX descriptors. */
  readonly txRingSize: number;
  /**
   * How the driver throttles its RX and TX vectors: ixgbevf 2.0.0-k2's dynamic throttling
   * (its parameters), or one fixed EITR interval for both.
   */
  readonly throttling: InterruptThrottling;
  /** NAPI weight (64 in Linux). */
  readonly napiBudget: number;
}

/**
 * Options of a {@link GuestKernel}: its memory, its LAPIC, its tick, its NIC driver, its TCP/IP stack, its
 * costs and the application it runs.
 */
export interface GuestKernelOptions {
  /** The kernel's name: its statistics are under it. */
  readonly name: string;
  /** The kernel's physical memory as it sees it (guest-physical in a VM). */
  readonly memory: PhysicalMemory;
  /** Registers a routine at a (guest-)physical address in the machine's CodeSpace. */
  readonly registerCode: (address: number, routine: Routine) => void;
  /** How the kernel drives its local APIC: through the xAPIC page or the x2APIC MSRs. */
  readonly apicMode: 'xapic' | 'x2apic';
  /** The APIC ID of the CPU the kernel runs on (its MSI destination). */
  readonly apicId: number;
  /** Input clock of the LAPIC timer, Hz (after which the divider is 1). */
  readonly apicTimerHz: number;
  /** Scheduler tick rate (CONFIG_HZ). */
  readonly hz: number;
  /**
   * Where the scheduler tick falls in its period, ps, in [0, 1/hz): the kernel programs its
   * first tick one-shot this long after it sets up the LAPIC timer, and the periodic tick from
   * that first tick on. Absent or 0: periodic from the start. The machine draws it from the
   * seed, so that a run is not one fixed alignment of the guest's tick with everything else.
   */
  readonly tickPhasePs?: number;
  /** The guest's NIC (VF) and driver settings. */
  readonly nic: GuestNicConfig;
  /**
   * KVM's paravirtual EOI, given only when the host offers it (in a VM whose mode is
   * `pv-eoi`: CPUID's KVM_FEATURE_PV_EOI): the kernel then writes MSR_KVM_PV_EOI_EN at boot
   * and skips its EOI write whenever the host set the flag. Absent: EOIs as on bare metal.
   */
  readonly pvEoi?: GuestPvEoiOptions | undefined;
  /** The stream receiver's TCP options. */
  readonly tcp: TcpReceiverOptions;
  /** The kernel's cycle costs. */
  readonly costs: GuestCosts;
  /** Where the kernel's counters go. */
  readonly stats: ScopedStats;
  /** The application the kernel runs. */
  readonly app: GuestApplication;
}

/** Checks a TCP server's options (listen()). */
export function validateTcpServerOptions(o: TcpServerOptions): void {
  const int = (v: number, lo: number, hi: number, what: string): void => {
    if (!Number.isSafeInteger(v) || v < lo || v > hi) {
      throw new GuestConfigError(`TCP server: ${what} must be an integer in [${lo}, ${hi}], got ${v}`);
    }
  };
  int(o.port, 1, 0xffff, 'port');
  int(o.maxConnections, 1, 65536, 'maxConnections');
  int(o.backlog, 1, 65536, 'backlog');
  int(o.mss, 1, 1460, 'mss (payload bytes of a 1500-byte MTU)');
  int(o.receiveBuffer, o.mss, 2 ** 30, 'receiveBuffer (at least one MSS)');
  int(o.sendBuffer, o.mss, 2 ** 30, 'sendBuffer (at least one MSS)');
  int(o.windowScale, 0, 14, 'windowScale (RFC 7323 §2.3)');
  int(o.initialWindowSegments, 1, 1000, 'initialWindowSegments');
  int(o.maxRetransmissions, 1, 1000, 'maxRetransmissions');
  int(o.initialRtoPs, 1, Number.MAX_SAFE_INTEGER, 'initialRtoPs');
  int(o.minRtoPs, 1, Number.MAX_SAFE_INTEGER, 'minRtoPs');
  int(o.maxRtoPs, o.minRtoPs, Number.MAX_SAFE_INTEGER, 'maxRtoPs (at least minRtoPs)');
  int(o.delayedAckPs, 0, Number.MAX_SAFE_INTEGER, 'delayedAckPs');
}

/** Checks a guest kernel's options. */
export function validateKernelOptions(o: GuestKernelOptions): void {
  const ring = (n: number, what: string) => {
    if (!Number.isInteger(n) || n < 8 || n > 4096 || n % 8 !== 0) {
      throw new GuestConfigError(`${what} must be a multiple of 8 between 8 and 4096, got ${n}`);
    }
  };
  ring(o.nic.rxRingSize, 'nic.rxRingSize');
  ring(o.nic.txRingSize, 'nic.txRingSize');
  if (o.memory.size < GUEST_LAYOUT.MIN_MEMORY) {
    throw new GuestConfigError(
      `guest memory must be at least ${GUEST_LAYOUT.MIN_MEMORY / 2 ** 20} MiB for the kernel's layout, got ${o.memory.size / 2 ** 20} MiB`,
    );
  }
  if (!(o.hz > 0 && o.hz <= 10_000)) throw new GuestConfigError(`hz must be in (0, 10000], got ${o.hz}`);
  const phase = o.tickPhasePs;
  if (phase !== undefined && !(phase >= 0 && phase < 1e12 / o.hz)) {
    throw new GuestConfigError(
      `tickPhasePs must be in [0, ${1e12 / o.hz}) ps (one tick period at hz ${o.hz}), got ${phase}`,
    );
  }
  if (!(o.nic.napiBudget >= 1)) throw new GuestConfigError('nic.napiBudget must be at least 1');
  if (o.pvEoi !== undefined && !(o.pvEoi.testAndClearCycles >= 0)) {
    throw new GuestConfigError(
      `pvEoi.testAndClearCycles must be a number of cycles, at least 0, got ${o.pvEoi.testAndClearCycles}`,
    );
  }
  validateThrottling(o.nic.throttling);
}

function validateThrottling(t: InterruptThrottling): void {
  if (t.mode === 'fixed') {
    if (!(t.intervalUs >= 0 && t.intervalUs <= 1022)) {
      throw new GuestConfigError(
        `nic.throttling.intervalUs must be in [0, 1022] µs (VTEITR's range), got ${t.intervalUs}`,
      );
    }
    return;
  }
  if (t.mode !== 'dynamic') {
    const mode: unknown = (t as { readonly mode: unknown }).mode;
    throw new GuestConfigError(`nic.throttling.mode must be 'dynamic' or 'fixed', got ${String(mode)}`);
  }
  // Rates from 978 to 500,000 ints/s are the intervals VTEITR can hold (2–1022 µs).
  for (const key of ['eitrParam', 'lowestRate', 'lowRate', 'bulkRate'] as const) {
    const v = t[key];
    if (!(Number.isInteger(v) && v >= 978 && v <= 500_000)) {
      throw new GuestConfigError(
        `nic.throttling.${key} must be an integer in [978, 500000] ints/s, got ${v}`,
      );
    }
  }
  for (const key of ['eitrLow', 'eitrHigh'] as const) {
    const v = t[key];
    if (!(Number.isInteger(v) && v >= 0 && v <= 65_535)) {
      throw new GuestConfigError(`nic.throttling.${key} must be an integer in [0, 65535] bytes/µs, got ${v}`);
    }
  }
  if (typeof t.doubleConversion !== 'boolean') {
    throw new GuestConfigError(
      `nic.throttling.doubleConversion must be a boolean, got ${String(t.doubleConversion)}`,
    );
  }
}

/** Checks a UDP socket's options (bind()). */
export function validateUdpSocketOptions(options: UdpSocketOptions): void {
  if (!Number.isInteger(options.port) || options.port < 1 || options.port > 0xffff) {
    throw new GuestConfigError(`UDP port must be an integer in [1, 65535], got ${options.port}`);
  }
  if (!Number.isInteger(options.queueLength) || options.queueLength < 1) {
    throw new GuestConfigError(`UDP queueLength must be a positive integer, got ${options.queueLength}`);
  }
}
