import type { GuestPhysicalMap } from './bus.js';

/**
 * The contract between software and a CPU core. Software — a guest kernel, the host
 * kernel, a hypervisor — is modeled as the operations that matter to virtualization, not
 * as instructions. A routine is a small state machine that lives at an address: each call
 * of `step` issues exactly one operation on the CPU, which performs it (taking simulated
 * time, possibly being interrupted, possibly exiting to the host) and calls `step` again
 * when the operation completes. Per-invocation state lives in the Frame, so the same
 * routine can be nested (an interrupt handler interrupted by another interrupt).
 */
export interface Routine {
  /** The routine's name, for traces and profiles. */
  readonly name: string;
  /** Issues exactly one operation on `cpu` for the invocation `frame`. */
  step(cpu: CpuContext, frame: Frame): void;
}

/** One invocation of a routine on a CPU (its activation record). */
export interface Frame {
  /** The routine this frame is an invocation of. */
  readonly routine: Routine;
  /** The routine's program counter: 0 when it starts, advanced by the routine itself. */
  pc: number;
  /** Scratch registers for the routine (loop counters, saved values). */
  r0: number;
  /** Scratch register 1. */
  r1: number;
  /** Scratch register 2. */
  r2: number;
  /** Scratch register 3. */
  r3: number;
  /** The vector that invoked this routine through the IDT, or −1 for a call or an entry point. */
  readonly vector: number;
  /** The error code pushed with the event, or −1 if none. */
  readonly errorCode: number;
}

/**
 * What software can do on a CPU. Methods that are operations (marked "op") must be
 * called at most once per `step`; the CPU performs the operation and steps the routine
 * again when it completes. The other members are immediate (they read or set state that a
 * real instruction would also reach without a trip through the pipeline, and their cost
 * belongs in the caller's `compute`).
 */
export interface CpuContext {
  /** Index of the CPU (0, 1, …). */
  readonly id: number;
  /** Current simulated time, ps. */
  readonly now: number;
  /** Core clock, Hz. */
  readonly hz: number;
  /** The time-stamp counter (cycles at the core clock since reset), as RDTSC reads it. */
  readonly tsc: number;
  /** True while the CPU is in VMX non-root operation (running a guest). */
  readonly vmxNonRoot: boolean;
  /** RFLAGS.IF. */
  readonly interruptsEnabled: boolean;
  /** EAX of the last RDMSR, or the value of the last MMIO read. */
  readonly resultLo: number;
  /** EDX of the last RDMSR. */
  readonly resultHi: number;
  /**
   * How the last VMX instruction (vmclear, vmptrld, vmread, vmwrite, vmlaunch, vmresume,
   * vmcall in root operation) ended: a VMX_STATUS value, i.e. RFLAGS.CF (VMfailInvalid) or
   * RFLAGS.ZF (VMfailValid, error number in VM_INSTRUCTION_ERROR), or 0 for VMsucceed.
   * A vmlaunch that entered the guest completes at the next VM exit with VMsucceed.
   */
  readonly vmxStatus: number;
  /** General-purpose registers that hypercalls and emulation use to pass values. */
  rax: number;
  /** RBX. */
  rbx: number;
  /** RCX. */
  rcx: number;
  /** RDX. */
  rdx: number;

  /** op: runs `cycles` cycles of the routine's own work (interruptible at any point). */
  compute(cycles: number): void;
  /**
   * op: spin-waits for up to `cycles` cycles: a loop that polls the same few cache lines until
   * something changes (KVM's halt polling). The CPU is busy, as in `compute`, but the wait ends
   * as soon as the CPU delivers an interrupt (or NMI) through the IDT: the routine steps again
   * once the handler has returned, and looks at what it changed. And the loop's footprint does
   * not grow with its time: a CPU model that charges the guest for the lines the host's work
   * evicted after an exit (its indirect cost) charges nothing for a spin.
   */
  spin(cycles: number): void;
  /** op: RDMSR; the value lands in resultLo/resultHi (or #GP is raised). */
  rdmsr(index: number): void;
  /** op: WRMSR of EDX:EAX = hi:lo. */
  wrmsr(index: number, lo: number, hi: number): void;
  /** op: an uncached load from a physical (in a guest: guest-physical) address; value in resultLo. */
  mmioRead(address: number, size: 1 | 2 | 4): void;
  /** op: an uncached store. */
  mmioWrite(address: number, size: 1 | 2 | 4, value: number): void;
  /** op: CLI. */
  cli(): void;
  /** op: STI (interrupts stay blocked until the next operation has begun: the STI shadow). */
  sti(): void;
  /** op: HLT; completes when an interrupt (or an NMI) wakes the CPU. */
  hlt(): void;
  /** op: PAUSE. */
  pause(): void;
  /** op: IRET: returns from an interrupt or exception handler, restoring RFLAGS.IF and unblocking NMIs. */
  iret(): void;
  /** op: calls the routine at `address` (the callee returns with ret()). */
  call(address: number): void;
  /** op: RET from a call. */
  ret(): void;
  /**
   * op (root operation): calls the routine at `address` with an interrupt frame for
   * `vector`, so that it returns with IRET — what a host kernel does with an interrupt the
   * CPU acknowledged on a VM exit (KVM's handle_external_interrupt builds the frame and
   * calls the handler its IDT gate names). IF is left as it is (the caller runs with IF = 0).
   */
  invokeInterruptHandler(address: number, vector: number): void;
  /** op: LIDT m16&64: loads IDTR from the 10-byte pseudo-descriptor at `address`. */
  lidt(address: number): void;
  /** op: SIDT m16&64: stores IDTR as a 10-byte pseudo-descriptor at `address`. */
  sidt(address: number): void;
  /** op: VMCALL (a hypercall, number in rax). */
  vmcall(): void;

  // VMX root operation (the hypervisor). Outside root operation they fail as the SDM says.
  /** Immediate: VMCLEAR: initialises the VMCS region at host-physical `address` to the clear state. */
  vmclear(address: number): void;
  /** Immediate: VMPTRLD: makes the VMCS at `address` current. */
  vmptrld(address: number): void;
  /** Immediate: VMREAD of the current VMCS (encodings in VMCS_FIELD). */
  vmread(field: number): number;
  /** Immediate: VMWRITE of the current VMCS. */
  vmwrite(field: number, value: number): void;
  /** op: VMLAUNCH; completes at the next VM exit (or at once on VMfail; see VM_INSTRUCTION_ERROR). */
  vmlaunch(): void;
  /** op: VMRESUME; completes at the next VM exit (or at once on VMfail). */
  vmresume(): void;
  /**
   * Immediate: binds the guest-physical map (the EPT's role, see GuestPhysicalMap) to the
   * current VMCS. Stands in for the EPT pointer field, whose paging structures are not modeled.
   */
  setGuestPhysicalMap(map: GuestPhysicalMap | null): void;
}

/**
 * Which routine lives at which host-physical address. Code is found the way the
 * hardware finds it: a gate's offset (or GUEST_RIP, or a call target) is an address, and
 * the routine registered there runs. One CodeSpace serves a whole machine.
 */
export class CodeSpace {
  private readonly routines = new Map<number, Routine>();

  /** Registers `routine` at host-physical `address` (an integer below 2^53). */
  register(address: number, routine: Routine): void {
    if (!Number.isSafeInteger(address) || address < 0) {
      throw new RangeError(`code address must be a non-negative safe integer, got ${address}`);
    }
    const existing = this.routines.get(address);
    if (existing !== undefined && existing !== routine) {
      throw new RangeError(
        `address 0x${address.toString(16)} already holds routine '${existing.name}' (registering '${routine.name}')`,
      );
    }
    this.routines.set(address, routine);
  }

  /** The routine at `address`, if any. */
  lookup(address: number): Routine | undefined {
    return this.routines.get(address);
  }

  /** Removes the routine at `address`. */
  unregister(address: number): boolean {
    return this.routines.delete(address);
  }
}
