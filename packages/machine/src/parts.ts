/**
 * The parts' costs and settings from the calibration profile: the one place that says which
 * profile entry each component option is (the CPU's cycles, the guest kernel's, the host's,
 * the guest driver's interrupt throttling, KVM's halt polling).
 */
import type { CpuCosts } from '@exitless/cpu';
import type { GuestCosts, InterruptThrottling } from '@exitless/guest';
import type { HaltPollOptions, HostCosts } from '@exitless/hypervisor';
import { type CalibrationProfile, profileValue } from './profile.js';

/** The CPU's costs from the calibration profile's `cpu.*` entries. */
export function cpuCosts(p: CalibrationProfile): CpuCosts {
  const v = (k: string) => profileValue(p, `cpu.${k}`);
  return {
    vmExitCycles: v('vmExitCycles'),
    vmEntryCycles: v('vmEntryCycles'),
    exitIndirectCycles: v('exitIndirectCycles'),
    exitPollutionPerHostCycle: v('exitPollutionPerHostCycle'),
    exitPollutionMaxCycles: v('exitPollutionMaxCycles'),
    eventDeliveryCycles: v('eventDeliveryCycles'),
    iretCycles: v('iretCycles'),
    rdmsrCycles: v('rdmsrCycles'),
    wrmsrCycles: v('wrmsrCycles'),
    mmioReadCycles: v('mmioReadCycles'),
    mmioWriteCycles: v('mmioWriteCycles'),
    cliStiCycles: v('cliStiCycles'),
    descriptorTableCycles: v('descriptorTableCycles'),
    pauseCycles: v('pauseCycles'),
  };
}

/** The guest kernel's costs from the calibration profile's `guest.*` entries. */
export function guestCosts(p: CalibrationProfile): GuestCosts {
  const v = (k: string) => profileValue(p, `guest.${k}`);
  return {
    irqEntry: v('irqEntry'),
    irqExit: v('irqExit'),
    nicIrqHandler: v('nicIrqHandler'),
    nicTxIrqHandler: v('nicTxIrqHandler'),
    itrUpdate: v('itrUpdate'),
    napiPollBase: v('napiPollBase'),
    rxPerFrame: v('rxPerFrame'),
    rxRefillPerBuffer: v('rxRefillPerBuffer'),
    rxPerSkb: v('rxPerSkb'),
    txPerFrame: v('txPerFrame'),
    txCleanPerFrame: v('txCleanPerFrame'),
    wakeup: v('wakeup'),
    contextSwitch: v('contextSwitch'),
    recvSyscall: v('recvSyscall'),
    copyPerByte: v('copyPerByte'),
    timerTick: v('timerTick'),
    bootStep: v('bootStep'),
    udpRxPerDatagram: v('udpRxPerDatagram'),
    tcpConnectionSetup: v('tcpConnectionSetup'),
    acceptSyscall: v('acceptSyscall'),
    sendSyscall: v('sendSyscall'),
    copyFromUserPerByte: v('copyFromUserPerByte'),
    closeSyscall: v('closeSyscall'),
    eventWait: v('eventWait'),
  };
}

/** The guest driver's interrupt throttling: fixed at `intervalUs` when given, else ixgbevf's dynamic throttling. */
export function guestThrottling(p: CalibrationProfile, intervalUs: number | null): InterruptThrottling {
  if (intervalUs !== null) return { mode: 'fixed', intervalUs };
  const v = (k: string) => profileValue(p, `guest.ixgbevf.${k}`);
  return {
    mode: 'dynamic',
    eitrParam: v('eitrParam'),
    eitrLow: v('eitrLow'),
    eitrHigh: v('eitrHigh'),
    lowestRate: v('lowestRate'),
    lowRate: v('lowRate'),
    bulkRate: v('bulkRate'),
    doubleConversion: v('itrDoubleConversion') === 1,
  };
}

/** The host's (hypervisor's) costs from the calibration profile's `host.*` entries. */
export function hostCosts(p: CalibrationProfile): HostCosts {
  const v = (k: string) => profileValue(p, `host.${k}`);
  return {
    exitDispatch: v('exitDispatch'),
    entryPrepare: v('entryPrepare'),
    injection: v('injection'),
    externalInterruptExit: v('externalInterruptExit'),
    msrEmulation: v('msrEmulation'),
    eoiEmulation: v('eoiEmulation'),
    mmioEmulation: v('mmioEmulation'),
    interruptWindowExit: v('interruptWindowExit'),
    haltBlock: v('haltBlock'),
    haltWake: v('haltWake'),
    irqEntry: v('irqEntry'),
    irqExit: v('irqExit'),
    assignedHardIrq: v('assignedHardIrq'),
    irqThreadWake: v('irqThreadWake'),
    contextSwitch: v('contextSwitch'),
    kvmSetIrq: v('kvmSetIrq'),
    vcpuPutLoad: v('vcpuPutLoad'),
    hostTick: v('hostTick'),
    hrtimerExpire: v('hrtimerExpire'),
    vmcall: v('vmcall'),
    otherExit: v('otherExit'),
  };
}

/**
 * KVM's halt polling as the profile's host has it (Linux 4.0+): none when host.haltPollNs is 0
 * (a 2.6.3x host), and then the other halt-polling entries are not read.
 */
export function haltPoll(p: CalibrationProfile): {
  /** KVM's halt polling, absent when host.haltPollNs is 0. */
  readonly haltPoll?: HaltPollOptions;
} {
  const v = (k: string) => profileValue(p, `host.${k}`);
  const maxNs = v('haltPollNs');
  if (maxNs === 0) return {};
  return {
    haltPoll: {
      maxNs,
      grow: v('haltPollGrow'),
      growStartNs: v('haltPollGrowStartNs'),
      shrink: v('haltPollShrink'),
      iterationCycles: v('haltPollIteration'),
    },
  };
}
