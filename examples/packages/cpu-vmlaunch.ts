/**
 * `@exitless/cpu`'s `Cpu` on its own: a host routine fills a VMCS and launches a guest that
 * computes for 10,000 cycles and halts; HLT exiting brings the CPU back to the host with exit
 * reason 12. The cpu README's example.
 *
 *   node --conditions=source --import tsx examples/packages/cpu-vmlaunch.ts
 */
import { Cpu, VMX_DEFAULT1 } from '@exitless/cpu';
import { InterruptBus, LocalApicDevice } from '@exitless/lapic';
import { Simulator, Stats } from '@exitless/sim';
import {
  CodeSpace,
  ENTRY_CONTROLS,
  EXIT_CONTROLS,
  exitReasonName,
  PhysicalBus,
  PROC_BASED,
  RFLAGS,
  SparseMemory,
  VMCS_FIELD,
} from '@exitless/x86';
import { type ExampleOptions, exampleRun, isMain } from '../common.js';

export function main(options: ExampleOptions = {}): {
  readonly exitReason: number;
  readonly exitAtPs: number;
} {
  const { log } = exampleRun(options);
  const sim = new Simulator();
  const code = new CodeSpace();
  const lapic = new LocalApicDevice({
    sim,
    bus: new InterruptBus({ sim, ipiLatencyPs: 100_000 }),
    apicId: 0,
    tscHz: 2.93e9,
    timerHz: 133.33e6,
    bsp: true,
  });
  const cpu = new Cpu({
    id: 0,
    sim,
    hz: 2.93e9,
    bus: new PhysicalBus(new SparseMemory(1 << 24)),
    code,
    lapic,
    costs: {
      vmExitCycles: 1000,
      vmEntryCycles: 1000,
      exitIndirectCycles: 5000,
      exitPollutionPerHostCycle: 0,
      exitPollutionMaxCycles: 0,
      eventDeliveryCycles: 100,
      iretCycles: 50,
      rdmsrCycles: 30,
      wrmsrCycles: 40,
      mmioReadCycles: 250,
      mmioWriteCycles: 150,
      cliStiCycles: 2,
      descriptorTableCycles: 10,
      pauseCycles: 10,
    },
    stats: new Stats(sim),
  });

  // Guest software: 10,000 cycles of work, then HLT.
  code.register(0x200000, {
    name: 'guest',
    step(c, f) {
      if (f.pc++ === 0) c.compute(10_000);
      else c.hlt();
    },
  });
  // Host software: VMCLEAR, VMPTRLD, the VMCS (the SDM's default1 control bits plus HLT
  // exiting, a 64-bit host and guest), VMLAUNCH; then, after the exit, read why and halt.
  let exitAtPs = 0;
  let exitReason = -1;
  code.register(0x100000, {
    name: 'host',
    step(c, f) {
      if (f.pc++ === 0) {
        c.vmclear(0x10000);
        c.vmptrld(0x10000);
        c.vmwrite(VMCS_FIELD.PIN_BASED_VM_EXEC_CONTROL, VMX_DEFAULT1.PIN_BASED);
        c.vmwrite(VMCS_FIELD.CPU_BASED_VM_EXEC_CONTROL, VMX_DEFAULT1.PROC_BASED | PROC_BASED.HLT_EXITING);
        c.vmwrite(VMCS_FIELD.VM_EXIT_CONTROLS, VMX_DEFAULT1.EXIT | EXIT_CONTROLS.HOST_ADDRESS_SPACE_SIZE);
        c.vmwrite(VMCS_FIELD.VM_ENTRY_CONTROLS, VMX_DEFAULT1.ENTRY | ENTRY_CONTROLS.IA32E_MODE_GUEST);
        c.vmwrite(VMCS_FIELD.GUEST_RFLAGS, RFLAGS.FIXED1);
        c.vmwrite(VMCS_FIELD.GUEST_RIP, 0x200000);
        c.vmlaunch(); // completes at the next VM exit
        return;
      }
      exitAtPs = c.now;
      exitReason = c.vmread(VMCS_FIELD.VM_EXIT_REASON);
      c.hlt();
    },
  });
  cpu.start(0x100000);
  sim.runUntil(1e9); // 1 ms

  // Back in the host after VM entry (1,000 cycles), the guest (10,000) and VM exit (1,000).
  log(
    `VM exit reason ${exitReason} (${exitReasonName(exitReason)}), host resumes at ${(exitAtPs / 1000).toFixed(1)} ns`,
  );
  return { exitReason, exitAtPs };
}

if (isMain(import.meta.url)) main();
