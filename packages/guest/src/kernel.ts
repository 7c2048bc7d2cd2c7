import {
  ETH_HEADER_LEN,
  makeTcpSegmentFields,
  makeUdpDatagramFields,
  OFFSET,
  readTcpSegment,
  readUdpDatagram,
  TCP_FLAG,
  type TcpSegmentFields,
  tcpHeadersLength,
  UDP_HEADERS_LEN,
  type UdpDatagramFields,
  writeTcpSegment,
  writeUdpDatagram,
} from '@exitless/net';
import type { Counter, ScopedStats } from '@exitless/sim';
import {
  APIC_BASE_MSR,
  APIC_DEFAULT_BASE,
  APIC_REG,
  type CpuContext,
  encodeIdtGate,
  encodeIdtr,
  type Frame,
  IDT_GATE_SIZE,
  interruptGate,
  LVT,
  MSR,
  type PhysicalMemory,
  type Routine,
  TIMER_MODE,
  UserError,
} from '@exitless/x86';
import type { GuestCosts } from './costs.js';
import { type IrqCounters, type IrqKernel, MailboxIrqRoutine, RxIrqRoutine, TxIrqRoutine } from './irq.js';
import { type InterruptThrottling, Ixgbevf, type IxgbevfStack } from './ixgbevf.js';
import { GUEST_LAYOUT, GUEST_VECTOR } from './layout.js';
import { Napi } from './napi.js';
import {
  type SocketTransmit,
  TcpListener,
  type TcpServerOptions,
  UdpSocket,
  type UdpSocketOptions,
} from './sockets.js';
import { TcpReceiver, type TcpReceiverOptions } from './tcp.js';

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
  readonly txRingSize: number;
  /**
   * How the driver throttles its RX and TX vectors: ixgbevf 2.0.0-k2's dynamic throttling
   * (its parameters), or one fixed EITR interval for both.
   */
  readonly throttling: InterruptThrottling;
  /** NAPI weight (64 in Linux). */
  readonly napiBudget: number;
}

export interface GuestKernelOptions {
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
  readonly nic: GuestNicConfig;
  readonly tcp: TcpReceiverOptions;
  readonly costs: GuestCosts;
  readonly stats: ScopedStats;
  readonly app: GuestApplication;
}

// Operation kinds of the boot script.
const OP_COMPUTE = 0;
const OP_WRMSR = 1;
const OP_MMIO_WRITE = 2;
const OP_LIDT = 3;
const OP_STI = 4;
const OP_HOOK = 5;

interface ScriptOp {
  readonly kind: number;
  readonly a: number;
  readonly b: number;
  readonly hook?: () => void;
}

/**
 * A Linux-like kernel of the ELI era, written as software for the CPU model. The same
 * kernel runs on bare metal and inside a VM (it is never told which). It builds a real IDT
 * in its memory and loads it with LIDT; its handlers are found by the CPU from the gates;
 * it drives its LAPIC through the xAPIC page or the x2APIC MSRs; its VF driver is ixgbevf
 * 2.0.0-k2 (`driver`, ixgbevf.ts: RX, TX and mailbox vectors, NAPI, dynamic throttling) and
 * its network stack (GRO, TCP ACKs, sockets) sits on top of it.
 */
export class GuestKernel implements IrqKernel, IxgbevfStack {
  readonly options: GuestKernelOptions;
  readonly memory: PhysicalMemory;
  readonly costs: GuestCosts;
  readonly tcp: TcpReceiver;
  /** The VF driver (ixgbevf 2.0.0-k2). */
  readonly driver: Ixgbevf;
  /** NAPI for the driver's RX vector. */
  readonly napi: Napi = new Napi();
  /** Guest-physical address of the boot routine (GUEST_RIP in a VM, the reset entry on bare metal). */
  readonly entryAddress: number;

  private readonly script: ScriptOp[] = [];
  /** LAPIC timer counts of one tick period, and of the phased first tick (0: none). */
  private readonly tickPeriodCount: number;
  private readonly tickPhaseCount: number;
  /** LAPIC writes left to turn the phased first tick into the periodic tick (restartTick). */
  private tickRestartWrites = 0;
  private readonly nic: GuestNicConfig;
  private readonly x2apic: boolean;
  /** The application task is asleep (the CPU is in the idle loop). */
  private appSleeping = true;
  private readonly headerScratch = new Uint8Array(128);
  private readonly seg: TcpSegmentFields = makeTcpSegmentFields();
  private readonly agg: TcpSegmentFields = makeTcpSegmentFields();
  private aggBytes = 0;
  private aggActive = false;
  private readonly ack: TcpSegmentFields = makeTcpSegmentFields();
  private peerKnown = false;
  private ipId = 0;
  /** Listening TCP sockets and bound UDP sockets (the socket layer beside the stream receiver). */
  private readonly listeners: TcpListener[] = [];
  private readonly udpSockets: UdpSocket[] = [];
  private usesSockets = false;
  /** Stack cycles the socket layer ran up in the current context, charged at its end. */
  private stackCycles = 0;
  /** Time of the current entry into the kernel (poll, tick, system call), ps. */
  private nowPs = 0;
  private readonly udpIn: UdpDatagramFields = makeUdpDatagramFields();
  private readonly txScratch = new Uint8Array(128);
  private readonly sockTx: SocketTransmit;
  private readonly udpNoPort: Counter;

  private readonly interrupts: Counter;
  private readonly timerInterrupts: Counter;
  private readonly spurious: Counter;
  private readonly exceptions: Counter;
  private readonly skbs: Counter;

  constructor(options: GuestKernelOptions) {
    this.options = options;
    this.memory = options.memory;
    this.costs = options.costs;
    this.nic = options.nic;
    this.x2apic = options.apicMode === 'x2apic';
    validate(options);
    this.tickPeriodCount = Math.round(options.apicTimerHz / options.hz);
    this.tickPhaseCount = Math.round(((options.tickPhasePs ?? 0) * options.apicTimerHz) / 1e12);
    const s = options.stats;
    this.tcp = new TcpReceiver(options.tcp, s.scope('tcp'));
    this.interrupts = s.counter('interrupts');
    const nicInterrupts = s.counter('interrupts-nic');
    const nicCounters = (kind: string): IrqCounters => ({
      nic: nicInterrupts,
      vector: s.counter(`interrupts-nic-${kind}`),
    });
    this.timerInterrupts = s.counter('interrupts-timer');
    this.spurious = s.counter('interrupts-spurious');
    this.exceptions = s.counter('exceptions');
    this.skbs = s.counter('rx.skbs');
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
    this.udpNoPort = s.counter('udp.no-port');
    const kernel = this;
    this.sockTx = {
      transmitTcp: (f, ring, start) => this.transmitTcp(f, ring, start),
      transmitUdp: (f) => this.transmitUdp(f),
      charge: (cycles) => {
        this.stackCycles += cycles;
      },
      get now(): number {
        return kernel.nowPs;
      },
    };

    let next = GUEST_LAYOUT.CODE_BASE;
    const place = (r: Routine): number => {
      const at = next;
      next += GUEST_LAYOUT.CODE_STRIDE;
      options.registerCode(at, r);
      return at;
    };
    this.entryAddress = place(new BootRoutine(this));
    const nicRxIrq = place(new RxIrqRoutine(this, this.driver, this.napi, nicCounters('rx')));
    const nicTxIrq = place(new TxIrqRoutine(this, this.driver, nicCounters('tx')));
    const nicMailboxIrq = place(new MailboxIrqRoutine(this, options.nic.bar0, nicCounters('mailbox')));
    const timerIrq = place(new TimerIrqRoutine(this));
    const spuriousIrq = place(new SimpleIrqRoutine(this, 'spurious_interrupt', false));
    const exception = place(new ExceptionRoutine(this));
    const unexpected = place(new SimpleIrqRoutine(this, 'unexpected_irq', true));
    this.handlers = { nicRxIrq, nicTxIrq, nicMailboxIrq, timerIrq, spuriousIrq, exception, unexpected };
    this.buildScript();
    options.app.attach(this);
  }

  /** Addresses of the kernel's interrupt handlers (the offsets its IDT gates point at). */
  readonly handlers: {
    readonly nicRxIrq: number;
    readonly nicTxIrq: number;
    readonly nicMailboxIrq: number;
    readonly timerIrq: number;
    readonly spuriousIrq: number;
    readonly exception: number;
    readonly unexpected: number;
  };

  /** Writes the IDT: exceptions, the NIC vectors, the timer, spurious; every other vector an "unexpected IRQ" gate. */
  private writeIdt(): void {
    const gate = new Uint8Array(IDT_GATE_SIZE);
    for (let v = 0; v < 256; v++) {
      let target = this.handlers.unexpected;
      if (v < 32) target = this.handlers.exception;
      else if (v === GUEST_VECTOR.NIC_RX) target = this.handlers.nicRxIrq;
      else if (v === GUEST_VECTOR.NIC_TX) target = this.handlers.nicTxIrq;
      else if (v === GUEST_VECTOR.NIC_MAILBOX) target = this.handlers.nicMailboxIrq;
      else if (v === GUEST_VECTOR.LOCAL_TIMER) target = this.handlers.timerIrq;
      else if (v === GUEST_VECTOR.SPURIOUS) target = this.handlers.spuriousIrq;
      encodeIdtGate(interruptGate(target), gate);
      this.memory.writeBytes(GUEST_LAYOUT.IDT_BASE + v * IDT_GATE_SIZE, gate);
    }
    const idtr = new Uint8Array(10);
    encodeIdtr(256 * IDT_GATE_SIZE - 1, BigInt(GUEST_LAYOUT.IDT_BASE), idtr);
    this.memory.writeBytes(GUEST_LAYOUT.IDTR_SCRATCH, idtr);
  }

  /** The boot sequence as a script of operations (built once). */
  private buildScript(): void {
    const s = this.script;
    const c = this.costs;
    const add = (kind: number, a = 0, b = 0, hook?: () => void): void => {
      s.push(hook === undefined ? { kind, a, b } : { kind, a, b, hook });
    };
    const apicWrite = (offset: number, value: number): void => {
      if (this.x2apic) add(OP_WRMSR, 0x800 + (offset >>> 4), value);
      else add(OP_MMIO_WRITE, APIC_DEFAULT_BASE + offset, value);
    };

    add(OP_HOOK, 0, 0, () => this.writeIdt());
    add(OP_COMPUTE, c.bootStep);
    add(OP_LIDT, GUEST_LAYOUT.IDTR_SCRATCH);
    if (this.x2apic) {
      // Enter x2APIC mode (SDM §10.12.5: xAPIC → x2APIC by setting EXTD with EN set).
      add(
        OP_WRMSR,
        MSR.IA32_APIC_BASE,
        APIC_DEFAULT_BASE | APIC_BASE_MSR.ENABLE | APIC_BASE_MSR.EXTD | APIC_BASE_MSR.BSP,
      );
    }
    apicWrite(APIC_REG.SVR, 0x100 | GUEST_VECTOR.SPURIOUS);
    apicWrite(APIC_REG.TPR, 0);
    apicWrite(APIC_REG.TIMER_DIVIDE_CONFIG, 0xb); // divide by 1
    // With a tick phase the first tick is one-shot after the phase; restartTick makes it periodic.
    const phased = this.tickPhaseCount > 0;
    this.tickRestartWrites = phased ? 2 : 0;
    const firstMode = phased ? TIMER_MODE.ONE_SHOT : TIMER_MODE.PERIODIC;
    apicWrite(APIC_REG.LVT_TIMER, GUEST_VECTOR.LOCAL_TIMER | (firstMode << LVT.TIMER_MODE_SHIFT));
    apicWrite(APIC_REG.TIMER_INITIAL_COUNT, phased ? this.tickPhaseCount : this.tickPeriodCount);
    add(OP_COMPUTE, c.bootStep);

    // The VF driver's probe and open: RX buffers into the ring, then its register writes
    // (MSI-X table, rings, IVAR, EITR, VTEIAC, VTEIMS).
    add(OP_HOOK, 0, 0, () => this.driver.configureRings());
    add(OP_COMPUTE, c.bootStep);
    for (const [address, value] of this.driver.openWrites()) add(OP_MMIO_WRITE, address, value);
    add(OP_COMPUTE, c.bootStep);
    add(OP_STI);
  }

  /** Issues the next boot-script operation; returns false when the script is done. */
  bootStep(cpu: CpuContext, frame: Frame): boolean {
    while (frame.pc < this.script.length) {
      const op = this.script[frame.pc++]!;
      switch (op.kind) {
        case OP_HOOK:
          op.hook!();
          continue;
        case OP_COMPUTE:
          cpu.compute(op.a);
          return true;
        case OP_WRMSR:
          cpu.wrmsr(op.a, op.b >>> 0, 0);
          return true;
        case OP_MMIO_WRITE:
          cpu.mmioWrite(op.a, 4, op.b >>> 0);
          return true;
        case OP_LIDT:
          cpu.lidt(op.a);
          return true;
        case OP_STI:
          cpu.sti();
          return true;
      }
    }
    return false;
  }

  /** The idle loop and the application task: r0 holds the loop's state. */
  mainStep(cpu: CpuContext, frame: Frame): void {
    const app = this.options.app;
    for (;;) {
      switch (frame.r0) {
        case 0:
          cpu.cli();
          frame.r0 = 1;
          return;
        case 1:
          // local_irq_disable(); if (!need_resched()) safe_halt(); — STI;HLT is atomic.
          cpu.sti();
          frame.r0 = app.runnable() ? 2 : 5;
          return;
        case 2:
          if (this.appSleeping) {
            this.appSleeping = false;
            cpu.compute(this.costs.contextSwitch);
            frame.r0 = 3;
            return;
          }
          frame.r0 = 3;
          continue;
        case 3: {
          this.nowPs = cpu.now;
          const cycles = app.nextBurst(cpu.now);
          const stack = this.takeStackCycles();
          if (cycles <= 0 && stack === 0) {
            this.appSleeping = true;
            frame.r0 = 0;
            cpu.compute(this.costs.contextSwitch);
            return;
          }
          cpu.compute(Math.max(cycles, 0) + stack);
          frame.r0 = 4;
          return;
        }
        case 4:
          if (this.usesSockets) {
            // The frames the burst's system calls posted: their TDT writes (one per packet).
            if (this.driver.flushWrite(cpu)) return;
            frame.r0 = 3;
            continue;
          }
          frame.r0 = 3;
          // After a read, tcp_cleanup_rbuf may send a window update.
          if (this.tcp.windowUpdateDue() && this.queueAck()) {
            cpu.compute(this.costs.txPerFrame);
            frame.r0 = 6;
            return;
          }
          continue;
        case 6:
          // The window update's TDT write.
          if (this.driver.flushWrite(cpu)) return;
          frame.r0 = 3;
          continue;
        default:
          cpu.hlt();
          frame.r0 = 0;
          return;
      }
    }
  }

  /**
   * After the phased first tick: the LVT timer back to periodic, then the initial count of one
   * period (one LAPIC write per call, as the tick handler's steps). False when there is none left.
   */
  restartTick(cpu: CpuContext): boolean {
    if (this.tickRestartWrites === 0) return false;
    const lvt = this.tickRestartWrites === 2;
    this.tickRestartWrites--;
    const offset = lvt ? APIC_REG.LVT_TIMER : APIC_REG.TIMER_INITIAL_COUNT;
    const value = lvt
      ? GUEST_VECTOR.LOCAL_TIMER | (TIMER_MODE.PERIODIC << LVT.TIMER_MODE_SHIFT)
      : this.tickPeriodCount;
    if (this.x2apic) cpu.wrmsr(0x800 + (offset >>> 4), value >>> 0, 0);
    else cpu.mmioWrite(APIC_DEFAULT_BASE + offset, 4, value >>> 0);
    return true;
  }

  /** EOI to the local APIC, the way the kernel's APIC driver does it. */
  eoi(cpu: CpuContext): void {
    if (this.x2apic) cpu.wrmsr(MSR.X2APIC_EOI, 0, 0);
    else cpu.mmioWrite(APIC_DEFAULT_BASE + APIC_REG.EOI, 4, 0);
  }

  /** Counts one interrupt the kernel took (IrqKernel). */
  countInterrupt(): void {
    this.interrupts.inc();
  }

  /** The network stack the driver hands frames to (IxgbevfStack: this kernel). */
  get stack(): IxgbevfStack {
    return this;
  }

  timerTick(now: number): boolean {
    this.interrupts.inc();
    this.timerInterrupts.inc();
    if (this.usesSockets) {
      this.nowPs = now;
      for (let i = 0; i < this.listeners.length; i++) this.listeners[i]!.tick(now);
    }
    return this.tcp.delayedAckDue(now) && this.queueAck();
  }

  countSpurious(): void {
    this.interrupts.inc();
    this.spurious.inc();
  }

  countException(): void {
    this.exceptions.inc();
  }

  /**
   * napi_gro_receive for one frame the driver took from the RX ring (IxgbevfStack): its
   * headers are read from the buffer the NIC wrote by DMA; a frame for a socket goes to the
   * socket layer, anything else to the stream receiver through GRO. Returns the cycles of an
   * skb this frame made GRO flush (IP and TCP receive); the socket layer's are charged with
   * the poll.
   */
  receive(length: number, buffer: number, now: number): number {
    this.nowPs = now;
    this.memory.readBytes(buffer, this.headerScratch, 0, Math.min(length, this.headerScratch.length));
    return this.receiveFrame(length, now, buffer);
  }

  /**
   * The stack's work when a NAPI poll returns (IrqKernel): the GRO skb flushed, the ACK TCP
   * owes sent, the socket layer's cycles charged, the reader woken. Returns the cycles.
   */
  napiPollDone(now: number): number {
    this.nowPs = now;
    const c = this.costs;
    let cycles = this.flushGro(now);
    if (this.tcp.ackNow && this.queueAck()) cycles += c.txPerFrame;
    if (this.usesSockets) {
      cycles += this.takeStackCycles();
      if (this.appSleeping && this.options.app.runnable()) cycles += c.wakeup;
    } else if (this.tcp.queued > 0 && this.appSleeping) cycles += c.wakeup;
    return cycles;
  }

  /**
   * After the TX hard IRQ reclaimed descriptors (IrqKernel): connections a full TX ring held
   * up go on (the driver waking its stopped queue). Returns the socket layer's cycles.
   */
  txCleaned(now: number): number {
    if (!this.usesSockets) return 0;
    this.nowPs = now;
    for (let i = 0; i < this.listeners.length; i++) this.listeners[i]!.retryBlocked();
    return this.takeStackCycles();
  }

  private receiveFrame(length: number, now: number, buffer: number): number {
    if (this.usesSockets && this.receiveSocketFrame(length, buffer)) return 0;
    const seg = this.seg;
    if (!readTcpSegment(this.headerScratch, length, seg)) return 0;
    if (!this.peerKnown) {
      this.peerKnown = true;
      const a = this.ack;
      a.dstMac = seg.srcMac;
      a.srcMac = this.nic.mac;
      a.srcIp = this.nic.ip;
      a.dstIp = seg.srcIp;
      a.srcPort = seg.dstPort;
      a.dstPort = seg.srcPort;
    }
    const payload = seg.payloadLength;
    // GRO (napi_gro_receive): merge a segment that continues the current one, up to 64 KiB.
    if (
      this.aggActive &&
      seg.seq === (this.agg.seq + this.aggBytes) >>> 0 &&
      this.aggBytes + payload <= 65535
    ) {
      this.aggBytes += payload;
      this.agg.tsVal = seg.tsVal;
      return 0;
    }
    // A segment that does not continue the aggregate sends that one up the stack first.
    const cycles = this.flushGro(now);
    const a = this.agg;
    a.seq = seg.seq;
    a.tsVal = seg.tsVal;
    a.flags = seg.flags;
    this.aggBytes = payload;
    this.aggActive = true;
    return cycles;
  }

  /** Hands the aggregated skb to TCP; returns its IP/TCP processing cost. */
  private flushGro(now: number): number {
    if (!this.aggActive) return 0;
    this.aggActive = false;
    this.skbs.inc();
    this.tcp.receive(this.agg, this.aggBytes, now);
    // An ACK due after this skb goes out with the current RCV.NXT (tcp_ack_snd_check per skb).
    return this.costs.rxPerSkb;
  }

  /**
   * Builds an ACK in the next TX buffer and hands it to the driver (its descriptor in memory;
   * the TDT write that passes it to the NIC is left pending, a separate MMIO operation).
   * Returns false when the ring is full (counted) or no peer is known yet.
   */
  queueAck(): boolean {
    if (!this.peerKnown) return false;
    const buf = this.driver.txSlot();
    if (buf < 0) return false;
    const a = this.ack;
    a.seq = 1;
    a.ack = this.tcp.rcvNxt;
    a.flags = TCP_FLAG.ACK;
    a.window = this.tcp.windowField();
    a.payloadLength = 0;
    a.timestamps = true;
    a.tsEcr = this.agg.tsVal;
    a.ipId = this.ipId = (this.ipId + 1) & 0xffff;
    const scratch = this.headerScratch;
    const len = writeTcpSegment(scratch, a);
    this.memory.writeBytes(buf, scratch, 0, Math.max(len, tcpHeadersLength(true)));
    this.driver.xmit(len);
    this.tcp.ackSent();
    return true;
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
    validateServer(options);
    if (this.listeners.some((l) => l.port === options.port)) {
      throw new GuestConfigError(`TCP port ${options.port} already has a listener: use another port`);
    }
    const l = new TcpListener(
      options,
      this.sockTx,
      { mac: this.nic.mac, ip: this.nic.ip },
      this.costs.tcpConnectionSetup,
      makeTcpSegmentFields(),
      stats,
    );
    this.listeners.push(l);
    this.usesSockets = true;
    return l;
  }

  /** bind(): a UDP socket on `options.port`. */
  bindUdp(
    options: UdpSocketOptions,
    stats: ScopedStats = this.options.stats.scope(`udp${options.port}`),
  ): UdpSocket {
    if (!Number.isInteger(options.port) || options.port < 1 || options.port > 0xffff) {
      throw new GuestConfigError(`UDP port must be an integer in [1, 65535], got ${options.port}`);
    }
    if (!Number.isInteger(options.queueLength) || options.queueLength < 1) {
      throw new GuestConfigError(`UDP queueLength must be a positive integer, got ${options.queueLength}`);
    }
    if (this.udpSockets.some((u) => u.port === options.port)) {
      throw new GuestConfigError(`UDP port ${options.port} is already bound: use another port`);
    }
    const u = new UdpSocket(
      options,
      this.sockTx,
      { mac: this.nic.mac, ip: this.nic.ip },
      makeUdpDatagramFields(),
      stats,
    );
    this.udpSockets.push(u);
    this.usesSockets = true;
    return u;
  }

  /** Returns and clears the stack cycles the socket layer ran up in the current context. */
  takeStackCycles(): number {
    const c = this.stackCycles;
    this.stackCycles = 0;
    return c;
  }

  /**
   * A frame for the socket layer: a UDP datagram for a bound port, or a TCP segment for a
   * listening port (its payload copied from the RX buffer). False for anything else, which
   * goes to the stream receiver.
   */
  private receiveSocketFrame(length: number, buffer: number): boolean {
    const h = this.headerScratch;
    if (this.udpSockets.length > 0 && readUdpDatagram(h, length, this.udpIn)) {
      const port = this.udpIn.dstPort;
      this.stackCycles += this.costs.udpRxPerDatagram;
      for (let i = 0; i < this.udpSockets.length; i++) {
        const u = this.udpSockets[i]!;
        if (u.port === port) {
          u.deliver(this.udpIn);
          return true;
        }
      }
      // No socket: Linux answers ICMP port unreachable (not modeled).
      this.udpNoPort.inc();
      return true;
    }
    if (this.listeners.length === 0) return false;
    const seg = this.seg;
    if (!readTcpSegment(h, length, seg)) return false;
    for (let i = 0; i < this.listeners.length; i++) {
      const l = this.listeners[i]!;
      if (l.port !== seg.dstPort) continue;
      // Header lengths from the IHL and data-offset fields (RFC 791, RFC 9293 §3.1).
      const ihl = (h[OFFSET.IP]! & 0xf) * 4;
      const doff = (h[OFFSET.IP + ihl + 12]! >>> 4) * 4;
      this.stackCycles += this.costs.rxPerSkb;
      l.receive(seg, this.memory, buffer + ETH_HEADER_LEN + ihl + doff);
      return true;
    }
    return false;
  }

  /** Hands the frame built in the driver's TX slot to it, charging the transmit cost to the stack. */
  private postTx(length: number): void {
    this.driver.xmit(length);
    this.stackCycles += this.costs.txPerFrame;
  }

  private transmitTcp(f: TcpSegmentFields, ring: Uint8Array | null, start: number): boolean {
    const buf = this.driver.txSlot();
    if (buf < 0) return false;
    f.ipId = this.ipId = (this.ipId + 1) & 0xffff;
    const len = writeTcpSegment(this.txScratch, f);
    const hdr = tcpHeadersLength(f.timestamps);
    this.memory.writeBytes(buf, this.txScratch, 0, hdr);
    const pl = f.payloadLength;
    if (ring !== null && pl > 0) {
      const first = Math.min(pl, ring.length - start);
      this.memory.writeBytes(buf + hdr, ring, start, first);
      if (pl > first) this.memory.writeBytes(buf + hdr + first, ring, 0, pl - first);
    }
    this.postTx(len);
    return true;
  }

  private transmitUdp(f: UdpDatagramFields): boolean {
    const buf = this.driver.txSlot();
    if (buf < 0) return false;
    f.ipId = this.ipId = (this.ipId + 1) & 0xffff;
    const len = writeUdpDatagram(this.txScratch, f);
    // The payload bytes are whatever the buffer holds (netperf's are a fixed fill too).
    this.memory.writeBytes(buf, this.txScratch, 0, UDP_HEADERS_LEN);
    this.postTx(len);
    return true;
  }

  /** The application reads from the TCP socket. */
  get socket(): TcpReceiver {
    return this.tcp;
  }
}

function validateServer(o: TcpServerOptions): void {
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

function validate(o: GuestKernelOptions): void {
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

/** The reset entry: the boot script, then the idle loop and the application forever. */
class BootRoutine implements Routine {
  readonly name = 'start_kernel';
  private readonly k: GuestKernel;

  constructor(k: GuestKernel) {
    this.k = k;
  }

  step(cpu: CpuContext, frame: Frame): void {
    if (frame.r1 === 0) {
      if (this.k.bootStep(cpu, frame)) return;
      frame.r1 = 1;
      frame.r0 = 0;
    }
    this.k.mainStep(cpu, frame);
  }
}

/** LOCAL_TIMER_VECTOR: the scheduler tick (and the delayed-ACK timer). */
class TimerIrqRoutine implements Routine {
  readonly name = 'apic_timer_interrupt';
  private readonly k: GuestKernel;

  constructor(k: GuestKernel) {
    this.k = k;
  }

  step(cpu: CpuContext, frame: Frame): void {
    const k = this.k;
    switch (frame.pc) {
      case 0:
        frame.pc = 1;
        cpu.compute(k.costs.irqEntry);
        return;
      case 1:
        frame.pc = 2;
        k.eoi(cpu);
        return;
      case 2:
        if (k.restartTick(cpu)) return;
        frame.pc = 3;
        cpu.compute(
          k.costs.timerTick + (k.timerTick(cpu.now) ? k.costs.txPerFrame : 0) + k.takeStackCycles(),
        );
        return;
      case 3:
        // The delayed ACK's TDT write (and any segment a TCP timer sent).
        if (k.driver.flushWrite(cpu)) return;
        frame.pc = 4;
        cpu.compute(k.costs.irqExit);
        return;
      default:
        cpu.iret();
    }
  }
}

/** A handler that counts, EOIs (unless spurious: SDM §10.9, no EOI for the spurious vector) and returns. */
class SimpleIrqRoutine implements Routine {
  readonly name: string;
  private readonly k: GuestKernel;
  private readonly needsEoi: boolean;

  constructor(k: GuestKernel, name: string, needsEoi: boolean) {
    this.k = k;
    this.name = name;
    this.needsEoi = needsEoi;
  }

  step(cpu: CpuContext, frame: Frame): void {
    switch (frame.pc) {
      case 0:
        this.k.countSpurious();
        frame.pc = this.needsEoi ? 1 : 2;
        cpu.compute(this.k.costs.irqEntry);
        return;
      case 1:
        frame.pc = 2;
        this.k.eoi(cpu);
        return;
      default:
        cpu.iret();
    }
  }
}

/** Exceptions 0–31: counted (a real kernel would oops or fix up) and returned from. */
class ExceptionRoutine implements Routine {
  readonly name = 'exception';
  private readonly k: GuestKernel;

  constructor(k: GuestKernel) {
    this.k = k;
  }

  step(cpu: CpuContext, frame: Frame): void {
    if (frame.pc === 0) {
      this.k.countException();
      frame.pc = 1;
      cpu.compute(this.k.costs.irqEntry);
      return;
    }
    cpu.iret();
  }
}
