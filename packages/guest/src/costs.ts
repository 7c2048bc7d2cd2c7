/**
 * CPU cycles the guest kernel spends in each piece of its own work (on top of what the CPU
 * model charges for the operations themselves: MMIO, MSR accesses, IDT delivery, IRET).
 * The machine fills these from the calibration profile, each with its source.
 */
export interface GuestCosts {
  /** Interrupt entry: the IDT stub, do_IRQ, irq_enter, the flow handler. */
  readonly irqEntry: number;
  /** irq_exit without softirqs, back to the interrupted context. */
  readonly irqExit: number;
  /** The RX vector's hard-IRQ handler itself (ixgbevf_msix_clean_rx → napi_schedule; its VTEIMC write is an MMIO operation). */
  readonly nicIrqHandler: number;
  /** The TX vector's hard-IRQ handler's fixed work (ixgbevf_msix_clean_tx and the set-up of ixgbevf_clean_tx_irq); per descriptor it is txCleanPerFrame. */
  readonly nicTxIrqHandler: number;
  /** One dynamic-throttling update (ixgbevf_set_itr_msix with ixgbevf_update_itr's divisions); its VTEITR write, if any, is an MMIO operation. */
  readonly itrUpdate: number;
  /** One NAPI poll call's fixed work (net_rx_action bookkeeping, ring checks). */
  readonly napiPollBase: number;
  /** Per received frame in the driver: descriptor, skb build, GRO. */
  readonly rxPerFrame: number;
  /** Per RX buffer refilled (page/skb allocation, descriptor write). */
  readonly rxRefillPerBuffer: number;
  /** Per aggregated skb through IP and TCP receive processing. */
  readonly rxPerSkb: number;
  /** Per transmitted frame: build headers, map, post the descriptor. */
  readonly txPerFrame: number;
  /** Per transmit descriptor reclaimed by the TX hard IRQ (ixgbevf_clean_tx_irq). */
  readonly txCleanPerFrame: number;
  /** Waking the reading task (try_to_wake_up). */
  readonly wakeup: number;
  /** Switching from the idle task to the application and back (schedule()). */
  readonly contextSwitch: number;
  /** A recv() system call's fixed cost. */
  readonly recvSyscall: number;
  /** Copying received payload to user space, per byte (the buffers are cold: DMA wrote them). */
  readonly copyPerByte: number;
  /** The scheduler tick (timer interrupt handler body). */
  readonly timerTick: number;
  /** The boot-time setup work between device programming steps. */
  readonly bootStep: number;
  /** Per received UDP datagram through IP and UDP (ip_rcv, udp_rcv, the socket queue). */
  readonly udpRxPerDatagram: number;
  /** A passive open in the NET_RX softirq: the request sock on the SYN, the child socket on the ACK. */
  readonly tcpConnectionSetup: number;
  /** An accept() system call (socket and file allocation, the accept queue). */
  readonly acceptSyscall: number;
  /** A send()/sendto()/write() system call's fixed cost (the per-frame cost is txPerFrame). */
  readonly sendSyscall: number;
  /** Copying data to send from user space into the socket buffer, per byte (warm: the application just wrote it). */
  readonly copyFromUserPerByte: number;
  /** A close() of a TCP socket (the FIN itself is txPerFrame). */
  readonly closeSyscall: number;
  /** One return of the event loop's wait (epoll_wait or a blocking accept/recv) with events. */
  readonly eventWait: number;
}
