import type { Counter, ScopedStats } from '@exitless/sim';
import {
  APIC_BASE_MSR,
  APIC_DEFAULT_BASE,
  APIC_REG,
  type CpuContext,
  type Frame,
  KVM_MSR,
  MSR,
  type PhysicalMemory,
  type Routine,
} from '@exitless/x86';
import { LapicDriver, SchedulerTick } from './apic.js';
import { BOOT_OP, BootRoutine, BootScript, type KernelHandlers, writeIdt } from './boot.js';
import { type GuestApplication, type GuestKernelOptions, validateKernelOptions } from './config.js';
import type { GuestCosts } from './costs.js';
import { type IrqCounters, type IrqKernel, MailboxIrqRoutine, RxIrqRoutine, TxIrqRoutine } from './irq.js';
import { Ixgbevf, type IxgbevfStack } from './ixgbevf.js';
import { GUEST_LAYOUT, GUEST_VECTOR } from './layout.js';
import { Napi } from './napi.js';
import { NetStack } from './netstack.js';
import { PvEoiGuest } from './pv-eoi.js';
import { Scheduler } from './sched.js';
import type { TcpListener, TcpServerOptions, UdpSocket, UdpSocketOptions } from './sockets.js';
import { TcpReceiver } from './tcp.js';
import { ExceptionRoutine, SpuriousIrqRoutine, TimerIrqRoutine, UnexpectedIrqRoutine } from './vectors.js';

export type { GuestApplication, GuestKernelOptions, GuestNicConfig } from './config.js';
export { GuestConfigError } from './config.js';

/**
 * The guest kernel's counters (under its stats scope, `guest<i>`), each registered under the
 * name in parentheses.
 */
export interface GuestKernelCounters {
  /** Every interrupt the kernel took, of any vector (interrupts). */
  readonly interrupts: Counter;
  /** Interrupts of the VF's three vectors (interrupts-nic). */
  readonly nicInterrupts: Counter;
  /** The VF's RX vector (interrupts-nic-rx). */
  readonly nicRxInterrupts: Counter;
  /** The VF's TX vector (interrupts-nic-tx). */
  readonly nicTxInterrupts: Counter;
  /** The VF's mailbox vector (interrupts-nic-mailbox). */
  readonly nicMailboxInterrupts: Counter;
  /** The LAPIC timer's tick (interrupts-timer). */
  readonly timerInterrupts: Counter;
  /** The APIC's spurious vector, 0xFF (interrupts-spurious). */
  readonly spuriousInterrupts: Counter;
  /** Vectors the kernel has no handler for (interrupts-unexpected). */
  readonly unexpectedInterrupts: Counter;
  /** Exceptions 0–31 (exceptions). */
  readonly exceptions: Counter;
  /** Frames the driver's NAPI polls took from the RX ring (rx.frames). */
  readonly rxFrames: Counter;
  /** Frames the driver posted to the TX ring (tx.frames). */
  readonly txFrames: Counter;
  /** Frames refused for a full TX ring (tx.ring-full). */
  readonly txRingFull: Counter;
  /** NAPI poll calls (napi.polls). */
  readonly napiPolls: Counter;
  /** skbs GRO handed to the stream receiver's TCP (rx.skbs). */
  readonly rxSkbs: Counter;
  /** UDP datagrams for a port no socket is bound to (udp.no-port). */
  readonly udpNoPort: Counter;
}

/**
 * A Linux-like kernel of the ELI era, written as software for the CPU model. The same
 * kernel runs on bare metal and inside a VM (it is never told which). It is put together
 * here from its parts: boot and the IDT (boot.ts), the LAPIC driver and the tick (apic.ts),
 * the scheduler's idle loop (sched.ts), its own interrupt routines (vectors.ts), the VF driver
 * ixgbevf 2.0.0-k2 with its interrupt routines and NAPI (ixgbevf.ts, irq.ts, napi.ts) and the
 * network stack on top of it (netstack.ts: GRO, the stream receiver's ACKs, sockets).
 */
export class GuestKernel implements IrqKernel, IxgbevfStack {
  /** The options the kernel was built with. */
  readonly options: GuestKernelOptions;
  /** The kernel's physical memory (guest-physical in a VM). */
  readonly memory: PhysicalMemory;
  /** The kernel's cycle costs. */
  readonly costs: GuestCosts;
  /** The stream receiver (netperf TCP_STREAM's socket). */
  readonly tcp: TcpReceiver;
  /** The VF driver (ixgbevf 2.0.0-k2). */
  readonly driver: Ixgbevf;
  /** NAPI for the driver's RX vector. */
  readonly napi: Napi = new Napi();
  /** The network stack above the driver. */
  readonly net: NetStack;
  /** The local APIC driver. */
  readonly lapic: LapicDriver;
  /** The scheduler tick on the LAPIC timer. */
  readonly tick: SchedulerTick;
  /** KVM's paravirtual EOI, when the host offers it (`options.pvEoi`), else null. */
  readonly pvEoi: PvEoiGuest | null;
  /** The idle task and the application's task. */
  readonly scheduler: Scheduler;
  /** The kernel's counters. */
  readonly counters: GuestKernelCounters;
  /** Guest-physical address of the boot routine (GUEST_RIP in a VM, the reset entry on bare metal). */
  readonly entryAddress: number;
  /** Addresses of the kernel's interrupt handlers (the offsets its IDT gates point at). */
  readonly handlers: KernelHandlers;

  private readonly script: BootScript;

  constructor(options: GuestKernelOptions) {
    this.options = options;
    this.memory = options.memory;
    this.costs = options.costs;
    this.lapic = new LapicDriver(options.apicMode);
    validateKernelOptions(options);
    this.tick = new SchedulerTick(options.apicTimerHz, options.hz, options.tickPhasePs ?? 0);
    const s = options.stats;
    this.pvEoi =
      options.pvEoi !== undefined
        ? new PvEoiGuest(options.memory, GUEST_LAYOUT.PV_EOI_FLAG, options.pvEoi, s.scope('pv-eoi'))
        : null;
    this.tcp = new TcpReceiver(options.tcp, s.scope('tcp'));
    this.driver = new Ixgbevf({
      memory: options.memory,
      bar0: options.nic.bar0,
      bar3: options.nic.bar3,
      apicId: options.apicId,
      vectors: { rx: GUEST_VECTOR.NIC_RX, tx: GUEST_VECTOR.NIC_TX, mailbox: GUEST_VECTOR.NIC_MAILBOX },
      rxRingSize: options.nic.rxRingSize,
      txRingSize: options.nic.txRingSize,
      napiBudget: options.nic.napiBudget,
      throttling: options.nic.throttling,
      costs: options.costs,
      stats: s,
    });
    this.net = new NetStack({
      memory: options.memory,
      driver: this.driver,
      tcp: this.tcp,
      mac: options.nic.mac,
      ip: options.nic.ip,
      costs: options.costs,
      stats: s,
    });
    const d = this.driver.counters;
    this.counters = {
      interrupts: s.counter('interrupts'),
      nicInterrupts: s.counter('interrupts-nic'),
      nicRxInterrupts: s.counter('interrupts-nic-rx'),
      nicTxInterrupts: s.counter('interrupts-nic-tx'),
      nicMailboxInterrupts: s.counter('interrupts-nic-mailbox'),
      timerInterrupts: s.counter('interrupts-timer'),
      spuriousInterrupts: s.counter('interrupts-spurious'),
      unexpectedInterrupts: s.counter('interrupts-unexpected'),
      exceptions: s.counter('exceptions'),
      rxFrames: d.rxFrames,
      txFrames: d.txFrames,
      txRingFull: d.txRingFull,
      napiPolls: d.napiPolls,
      rxSkbs: this.net.counters.rxSkbs,
      udpNoPort: this.net.counters.udpNoPort,
    };
    this.scheduler = new Scheduler(this);

    const c = this.counters;
    const nic = (vector: Counter): IrqCounters => ({ nic: c.nicInterrupts, vector });
    let next = GUEST_LAYOUT.CODE_BASE;
    const place = (r: Routine): number => {
      const at = next;
      next += GUEST_LAYOUT.CODE_STRIDE;
      options.registerCode(at, r);
      return at;
    };
    this.entryAddress = place(new BootRoutine(this));
    this.handlers = {
      nicRxIrq: place(new RxIrqRoutine(this, this.driver, this.napi, nic(c.nicRxInterrupts))),
      nicTxIrq: place(new TxIrqRoutine(this, this.driver, nic(c.nicTxInterrupts))),
      nicMailboxIrq: place(new MailboxIrqRoutine(this, options.nic.bar0, nic(c.nicMailboxInterrupts))),
      timerIrq: place(new TimerIrqRoutine(this)),
      spuriousIrq: place(
        new SpuriousIrqRoutine(this, { interrupts: c.interrupts, kind: c.spuriousInterrupts }),
      ),
      exception: place(new ExceptionRoutine(options.costs, c.exceptions)),
      unexpected: place(
        new UnexpectedIrqRoutine(this, { interrupts: c.interrupts, kind: c.unexpectedInterrupts }),
      ),
    };
    this.script = this.buildScript();
    options.app.attach(this);
  }

  /** The boot sequence as a script of operations (built once). */
  private buildScript(): BootScript {
    const s = new BootScript(this.lapic);
    const c = this.costs;
    s.hook(() => writeIdt(this.memory, this.handlers));
    s.add(BOOT_OP.COMPUTE, c.bootStep);
    s.add(BOOT_OP.LIDT, GUEST_LAYOUT.IDTR_SCRATCH);
    if (this.lapic.x2apic) {
      // Enter x2APIC mode (SDM §10.12.5: xAPIC → x2APIC by setting EXTD with EN set).
      s.add(
        BOOT_OP.WRMSR,
        MSR.IA32_APIC_BASE,
        APIC_DEFAULT_BASE | APIC_BASE_MSR.ENABLE | APIC_BASE_MSR.EXTD | APIC_BASE_MSR.BSP,
      );
    }
    const pvEoi = this.pvEoi;
    if (pvEoi !== null) {
      // kvm_guest_cpu_init: the flag zeroed, then its address with KVM_MSR_ENABLED to
      // MSR_KVM_PV_EOI_EN (an exit the host emulates; the flag is below 4 GiB, so EDX is 0).
      s.hook(() => pvEoi.zeroFlag());
      s.add(BOOT_OP.WRMSR, KVM_MSR.PV_EOI_EN, pvEoi.msrValue);
    }
    // The LAPIC software-enabled with the spurious vector (SDM §10.9: SVR bit 8), TPR 0.
    s.add(BOOT_OP.APIC_WRITE, APIC_REG.SVR, 0x100 | GUEST_VECTOR.SPURIOUS);
    s.add(BOOT_OP.APIC_WRITE, APIC_REG.TPR, 0);
    // The tick: with a phase the first tick is one-shot after it; restartTick makes it periodic.
    for (const [offset, value] of this.tick.bootWrites()) s.add(BOOT_OP.APIC_WRITE, offset, value);
    s.add(BOOT_OP.COMPUTE, c.bootStep);

    // The VF driver's probe and open: RX buffers into the ring, then its register writes
    // (MSI-X table, rings, IVAR, EITR, VTEIAC, VTEIMS).
    s.hook(() => this.driver.configureRings());
    s.add(BOOT_OP.COMPUTE, c.bootStep);
    for (const [address, value] of this.driver.openWrites()) s.add(BOOT_OP.MMIO_WRITE, address, value);
    s.add(BOOT_OP.COMPUTE, c.bootStep);
    s.add(BOOT_OP.STI);
    return s;
  }

  /** Issues the next boot-script operation; returns false when the script is done. */
  bootStep(cpu: CpuContext, frame: Frame): boolean {
    return this.script.step(cpu, frame);
  }

  /** The idle loop and the application task: r0 holds the loop's state (sched.ts IDLE_STATE). */
  mainStep(cpu: CpuContext, frame: Frame): void {
    this.scheduler.step(cpu, frame);
  }

  // ---- what the idle loop needs (sched.ts IdleKernel) -----------------------------

  /** The application this kernel runs. */
  get app(): GuestApplication {
    return this.options.app;
  }

  /** True once any socket is bound or listening. */
  get usesSockets(): boolean {
    return this.net.usesSockets;
  }

  /** Process context starts running at `now`. */
  enterProcessContext(now: number): void {
    this.net.enter(now);
  }

  /** Issues the oldest pending driver register write; false when none is left. */
  flushWrite(cpu: CpuContext): boolean {
    return this.driver.flushWrite(cpu);
  }

  /** After a read: the stream receiver's window update if due (tcp_cleanup_rbuf); true when queued. */
  windowUpdate(): boolean {
    return this.net.windowUpdate();
  }

  // ---- the LAPIC ------------------------------------------------------------------

  /**
   * After the phased first tick: the LVT timer back to periodic, then the initial count of one
   * period (one LAPIC write per call, as the tick handler's steps). False when there is none left.
   */
  restartTick(cpu: CpuContext): boolean {
    return this.tick.restart(cpu, this.lapic);
  }

  /**
   * EOI to the local APIC, the way the kernel's APIC driver does it: with PV EOI
   * (kvm_guest_apic_eoi_write) the flag's bit 0 is tested and cleared first, and the EOI
   * write is skipped when it was set. One CPU operation either way.
   */
  eoi(cpu: CpuContext): void {
    if (this.pvEoi?.skipEoi(cpu) === true) return;
    this.lapic.eoi(cpu);
  }

  // ---- interrupts -----------------------------------------------------------------

  /** Counts one interrupt the kernel took (IrqKernel). */
  countInterrupt(): void {
    this.counters.interrupts.inc();
  }

  /** The network stack the driver hands frames to (IxgbevfStack). */
  get stack(): IxgbevfStack {
    return this.net;
  }

  /** The tick's work: counted, then the TCP timers; true when the stream receiver's delayed ACK was queued. */
  timerTick(now: number): boolean {
    this.counters.interrupts.inc();
    this.counters.timerInterrupts.inc();
    return this.net.timerTick(now);
  }

  // ---- the network stack ----------------------------------------------------------

  /** One received frame (IxgbevfStack): `NetStack.receive`. */
  receive(length: number, buffer: number, now: number): number {
    return this.net.receive(length, buffer, now);
  }

  /**
   * The stack's work when a NAPI poll returns (IrqKernel): the GRO skb flushed, the ACK TCP
   * owes sent, the socket layer's cycles charged, the reader woken. Returns the cycles.
   */
  napiPollDone(now: number): number {
    const c = this.costs;
    let cycles = this.net.pollDone(now);
    const sched = this.scheduler;
    if (this.net.usesSockets) {
      cycles += this.net.takeStackCycles();
      if (sched.appSleeping && this.options.app.runnable()) cycles += c.wakeup;
    } else if (this.tcp.queued > 0 && sched.appSleeping) cycles += c.wakeup;
    return cycles;
  }

  /**
   * After the TX hard IRQ reclaimed descriptors (IrqKernel): connections a full TX ring held
   * up go on (the driver waking its stopped queue). Returns the socket layer's cycles.
   */
  txCleaned(now: number): number {
    return this.net.txCleaned(now);
  }

  /**
   * Builds the stream receiver's ACK in the next TX buffer and hands it to the driver (the TDT
   * write is left pending). Returns false when the ring is full (counted) or no peer is known yet.
   */
  queueAck(): boolean {
    return this.net.queueAck();
  }

  /**
   * listen(): a TCP server socket on `options.port`. Its segments are told apart from the
   * stream receiver's by destination port; its connections come from a pool of
   * `options.maxConnections`.
   */
  listenTcp(
    options: TcpServerOptions,
    stats: ScopedStats = this.options.stats.scope(`tcp${options.port}`),
  ): TcpListener {
    return this.net.listenTcp(options, stats);
  }

  /** bind(): a UDP socket on `options.port`. */
  bindUdp(
    options: UdpSocketOptions,
    stats: ScopedStats = this.options.stats.scope(`udp${options.port}`),
  ): UdpSocket {
    return this.net.bindUdp(options, stats);
  }

  /** Returns and clears the stack cycles the socket layer ran up in the current context. */
  takeStackCycles(): number {
    return this.net.takeStackCycles();
  }

  /** The application reads from the TCP socket. */
  get socket(): TcpReceiver {
    return this.tcp;
  }
}
