import { UserError } from '@exitless/x86';
import xeonSkylakeSp from './profiles/xeon-skylake-sp.json' with { type: 'json' };
import xeonX5570 from './profiles/xeon-x5570.json' with { type: 'json' };
import { describeRange, describeValue, inRange, isRecord, type NumberRange } from './validate.js';

/** One calibrated value with where it comes from. */
export interface ProfileEntry {
  /** The value, in `unit`. */
  readonly value: number;
  /** The value's unit (`cycles`, `ns`, `ps`, …). */
  readonly unit: string;
  /** A paper, a measurement, a datasheet — or, with `estimate`, the reasoning behind an estimate. */
  readonly source: string;
  /** True when the value is an estimate (its `source` then gives the reasoning). */
  readonly estimate?: boolean;
  /** Anything else worth knowing about the value. */
  readonly note?: string;
  /**
   * The range the value may really take on this machine generation: required for an
   * estimate, given for a cited value where its source reports a spread. `low ≤ value ≤ high`,
   * both accepted by the entry's schema. `sensitivity` moves one entry to each end;
   * `reproduce --uncertainty` samples every ranged entry across it.
   */
  readonly low?: number;
  /** The upper end of the range. */
  readonly high?: number;
  /** How the range was chosen (from what is known of the quantity, never from its effect on a result). */
  readonly range?: string;
  /** Set by `withOverrides`: the profile's own value, which `value` replaces (it may lie outside low–high). */
  readonly overridden?: number;
}

/** A calibration profile: every cost of one machine generation, each with its source. */
export interface CalibrationProfile {
  /** The profile's name (e.g. `xeon-x5570`). */
  readonly name: string;
  /** What machine the profile describes. */
  readonly description: string;
  /** Every calibrated value, by dotted key (`cpu.vmExitCycles`, `host.injection`, …). */
  readonly entries: Readonly<Record<string, ProfileEntry>>;
}

/** Thrown when a profile is missing a value or holds a bad one; the message names the entry and its range. */
export class ProfileError extends UserError {
  constructor(message: string) {
    super(message);
    this.name = 'ProfileError';
  }
}

/** Time and cycle costs: zero is allowed (a cost the model can leave out); the maxima keep a run finite. */
const CYCLES: NumberRange = { min: 0, max: 1e8, unit: 'cycles' };
const LATENCY_NS: NumberRange = { min: 0, max: 1e6, unit: 'ns' };
/**
 * A DMA crosses PCIe: no read or write reaches memory in less than tens of ns. The floor
 * also keeps a run finite: with every cost and latency at zero, a UDP_RR transaction would
 * take a few picoseconds and a millisecond would hold millions of them.
 */
const PCIE_NS: NumberRange = {
  min: 50,
  max: 1e6,
  unit: 'ns',
  why: 'a PCIe transaction takes tens of ns at least',
};
const PER_BYTE: NumberRange = { min: 0, max: 1000, unit: 'cycles/byte' };
/** An interrupt rate VTEITR can hold: intervals of 2 to 1022 µs. */
const ITR_RATE: NumberRange = {
  min: 978,
  max: 500_000,
  integer: true,
  unit: 'ints/s',
  why: "VTEITR's 2-1022 µs intervals",
};
/** ixgbevf's bytes-per-microsecond thresholds (u16 in the driver). */
const ITR_THRESHOLD: NumberRange = { min: 0, max: 65_535, integer: true, unit: 'bytes/us' };
/** The size-dependent part of a DMA's latency. */
const PCIE_NS_PER_BYTE: NumberRange = { min: 0, max: 100, unit: 'ns/byte' };
const TICK_HZ: NumberRange = { min: 1, max: 10_000, integer: true, unit: 'Hz', why: "a kernel's HZ" };
/** An interrupt rate ixgbe can program, ints/s. */
const PEER_ITR_RATE: NumberRange = { min: 100, max: 500_000, integer: true, unit: 'ints/s' };
const RING: NumberRange = {
  min: 8,
  max: 4096,
  integer: true,
  multipleOf: 8,
  unit: 'descriptors',
  why: 'ring lengths are multiples of 128 bytes, 8 descriptors',
};
const SOCKET_BUFFER: NumberRange = {
  min: 1448,
  max: 2 ** 24,
  integer: true,
  unit: 'bytes',
  why: 'one MSS to 16 MiB',
};
const CONNECTIONS: NumberRange = { min: 1, max: 65_536, integer: true, unit: 'connections' };
const RTO_MS: NumberRange = {
  min: 1,
  max: 120_000,
  unit: 'ms',
  why: "up to the guest TCP's 120 s maximum RTO",
};

/**
 * Every entry the machine reads, with its unit and the range it accepts: the one place that
 * says what a profile must hold. `validateProfile` checks a whole profile against it when a
 * Machine is built; `profileValue` checks one entry as it is read. A profile may hold more
 * entries (a custom strategy's own costs): those are checked when read, as finite and ≥ 0.
 */
export const PROFILE_SCHEMA: Readonly<Record<string, NumberRange>> = {
  'cpu.hz': { min: 1e8, max: 1e10, unit: 'Hz', why: 'a core clock from 100 MHz to 10 GHz' },
  'cpu.vmExitCycles': CYCLES,
  'cpu.vmEntryCycles': CYCLES,
  'cpu.exitIndirectCycles': CYCLES,
  'cpu.exitPollutionPerHostCycle': { min: 0, max: 100, unit: 'cycles/cycle' },
  'cpu.exitPollutionMaxCycles': CYCLES,
  'cpu.eventDeliveryCycles': CYCLES,
  'cpu.iretCycles': CYCLES,
  'cpu.rdmsrCycles': CYCLES,
  'cpu.wrmsrCycles': CYCLES,
  'cpu.mmioReadCycles': CYCLES,
  'cpu.mmioWriteCycles': CYCLES,
  'cpu.cliStiCycles': CYCLES,
  'cpu.descriptorTableCycles': CYCLES,
  'cpu.pauseCycles': CYCLES,
  'cpu.vmxPreemptionRate': { min: 0, max: 31, integer: true, unit: 'shift', why: 'IA32_VMX_MISC[4:0]' },
  'cpu.apicVirtualization': {
    min: 0,
    max: 1,
    integer: true,
    unit: 'flag',
    why: '1: the CPU offers APICv (SDM ch. 29), 0: it does not',
  },
  'lapic.timerHz': { min: 1e6, max: 1e10, unit: 'Hz' },
  'lapic.ipiLatencyNs': LATENCY_NS,
  'iommu.iotlbHitNs': LATENCY_NS,
  'iommu.contextFetchNs': LATENCY_NS,
  'iommu.pageWalkLevelNs': LATENCY_NS,
  'iommu.irteFetchNs': LATENCY_NS,
  'iommu.postedDescriptorNs': LATENCY_NS,
  'iommu.iotlbEntries': { min: 1, max: 4096, integer: true, unit: 'entries' },
  'nic.lineRate': { min: 1e6, max: 1e12, unit: 'bit/s', why: '1 Mb/s to 1 Tb/s' },
  'nic.linkLatencyNs': { min: 0, max: 1e7, unit: 'ns' },
  'nic.dmaReadLatencyNs': PCIE_NS,
  'nic.dmaWriteLatencyNs': PCIE_NS,
  'nic.dmaReadPerByteNs': PCIE_NS_PER_BYTE,
  'nic.dmaWritePerByteNs': PCIE_NS_PER_BYTE,
  // The NIC's PCIe link (PcieLink): 0 makes a direction transparent.
  'pcie.postedWriteNs': LATENCY_NS,
  'pcie.msiNs': LATENCY_NS,
  'guest.hz': TICK_HZ,
  'guest.irqEntry': CYCLES,
  'guest.irqExit': CYCLES,
  'guest.nicIrqHandler': CYCLES,
  'guest.nicTxIrqHandler': CYCLES,
  'guest.itrUpdate': CYCLES,
  'guest.napiPollBase': CYCLES,
  'guest.rxPerFrame': CYCLES,
  'guest.rxRefillPerBuffer': CYCLES,
  'guest.rxPerSkb': CYCLES,
  'guest.txPerFrame': CYCLES,
  'guest.txCleanPerFrame': CYCLES,
  'guest.wakeup': CYCLES,
  'guest.contextSwitch': CYCLES,
  'guest.recvSyscall': CYCLES,
  'guest.copyPerByte': PER_BYTE,
  'guest.timerTick': CYCLES,
  'guest.bootStep': CYCLES,
  'guest.rxRing': RING,
  'guest.txRing': RING,
  'guest.napiBudget': { min: 1, max: 4096, integer: true, unit: 'frames' },
  'guest.ixgbevf.eitrParam': ITR_RATE,
  'guest.ixgbevf.eitrLow': ITR_THRESHOLD,
  'guest.ixgbevf.eitrHigh': ITR_THRESHOLD,
  'guest.ixgbevf.lowestRate': ITR_RATE,
  'guest.ixgbevf.lowRate': ITR_RATE,
  'guest.ixgbevf.bulkRate': ITR_RATE,
  'guest.ixgbevf.itrDoubleConversion': { min: 0, max: 1, integer: true, unit: 'flag', why: '0 or 1' },
  'guest.tcpReceiveBuffer': SOCKET_BUFFER,
  'guest.tcpWindowScale': { min: 0, max: 14, integer: true, unit: 'shift', why: 'RFC 7323 §2.3' },
  'guest.tcpDelayedAckMs': { min: 0.001, max: 500, unit: 'ms', why: 'RFC 1122 §4.2.3.2: under 0.5 s' },
  'guest.udpRxPerDatagram': CYCLES,
  'guest.tcpConnectionSetup': CYCLES,
  'guest.acceptSyscall': CYCLES,
  'guest.sendSyscall': CYCLES,
  'guest.copyFromUserPerByte': PER_BYTE,
  'guest.closeSyscall': CYCLES,
  'guest.eventWait': CYCLES,
  'guest.tcpServerReceiveBuffer': SOCKET_BUFFER,
  'guest.tcpServerSendBuffer': SOCKET_BUFFER,
  'guest.tcpInitialWindow': { min: 1, max: 1000, integer: true, unit: 'segments' },
  'guest.tcpInitialRtoMs': RTO_MS,
  'guest.tcpMinRtoMs': RTO_MS,
  'guest.tcpMaxConnections': CONNECTIONS,
  'guest.tcpBacklog': CONNECTIONS,
  'guest.udpQueueLength': { min: 1, max: 65_536, integer: true, unit: 'datagrams' },
  'host.hz': TICK_HZ,
  'host.exitDispatch': CYCLES,
  'host.entryPrepare': CYCLES,
  'host.injection': CYCLES,
  'host.externalInterruptExit': CYCLES,
  'host.msrEmulation': CYCLES,
  'host.eoiEmulation': CYCLES,
  'host.mmioEmulation': CYCLES,
  'host.interruptWindowExit': CYCLES,
  'host.haltBlock': CYCLES,
  'host.haltWake': CYCLES,
  'host.irqEntry': CYCLES,
  'host.irqExit': CYCLES,
  'host.assignedIrqThreaded': {
    min: 0,
    max: 1,
    integer: true,
    unit: 'flag',
    why: "1: KVM's threaded assigned-device IRQ (2.6.36-3.x), 0: VFIO and an irqfd from the hard IRQ (4.x-5.x)",
  },
  // KVM's halt polling (Linux 4.0+): its module parameters and the cost of one poll iteration.
  'host.haltPollNs': {
    min: 0,
    max: 4_294_967_295,
    integer: true,
    unit: 'ns',
    why: "KVM's halt_poll_ns, an unsigned int; 0: no halt polling, as before Linux 4.0",
  },
  'host.haltPollGrow': { min: 0, max: 1000, integer: true, unit: 'factor', why: "KVM's halt_poll_ns_grow" },
  'host.haltPollGrowStartNs': {
    min: 0,
    max: 4_294_967_295,
    integer: true,
    unit: 'ns',
    why: "KVM's halt_poll_ns_grow_start, an unsigned int",
  },
  'host.haltPollShrink': {
    min: 0,
    max: 1000,
    integer: true,
    unit: 'divisor',
    why: "KVM's halt_poll_ns_shrink; 0 resets the window",
  },
  'host.haltPollIteration': {
    min: 1,
    max: 1e8,
    unit: 'cycles',
    why: 'one iteration of the poll loop takes some time, or the poll would never end',
  },
  'host.assignedHardIrq': CYCLES,
  'host.irqThreadWake': CYCLES,
  'host.contextSwitch': CYCLES,
  'host.kvmSetIrq': CYCLES,
  'host.vcpuPutLoad': CYCLES,
  'host.hostTick': CYCLES,
  'host.hrtimerExpire': CYCLES,
  'host.vmcall': CYCLES,
  'host.otherExit': CYCLES,
  'workload.udpRr.transactionCycles': CYCLES,
  'workload.udpRr.timeoutMs': { min: 0.001, max: 60_000, unit: 'ms' },
  'workload.apache.requestCycles': CYCLES,
  'workload.memcached.getCycles': CYCLES,
  'workload.memcached.setCycles': CYCLES,
  // The load generator's machine (PeerHost): its driver's settings and its programs' own work.
  'peer.rxRing': RING,
  'peer.txRing': RING,
  'peer.itr.dynamic': { min: 0, max: 1, integer: true, unit: 'flag', why: '1: dynamic throttling, 0: fixed' },
  'peer.itr.rxInitialRate': PEER_ITR_RATE,
  'peer.itr.txInitialRate': PEER_ITR_RATE,
  'peer.itr.lowestRate': PEER_ITR_RATE,
  'peer.itr.lowRate': PEER_ITR_RATE,
  'peer.itr.bulkRate': PEER_ITR_RATE,
  'peer.itr.lowBytesPerUs': { min: 0, max: 65_535, integer: true, unit: 'bytes/us' },
  'peer.itr.highBytesPerUs': { min: 0, max: 65_535, integer: true, unit: 'bytes/us' },
  'peer.tsoMaxBytes': { min: 1448, max: 262_144, integer: true, unit: 'bytes', why: 'one MSS to 256 KiB' },
  'peer.ab.requestCycles': CYCLES,
  'peer.memslap.operationCycles': CYCLES,
  'eli.preemptionTimerMs': { min: 0.001, max: 1000, unit: 'ms' },
  'eli.modeSwitch': CYCLES,
  'eli.shadowRebuild': CYCLES,
  'eli.hostInterruptExit': CYCLES,
  'eli.descriptorTableEmulation': CYCLES,
};

/** Entries outside the schema (a custom strategy's): a finite number ≥ 0, in whatever unit they give. */
const ANY_COST: NumberRange = { min: 0, max: Number.MAX_VALUE };

/** The default profile: the ELI paper's machine generation (Xeon X5570, Nehalem, 2.93 GHz). */
export const XEON_X5570: CalibrationProfile = xeonX5570 as CalibrationProfile;

/**
 * A Skylake-SP server of 2017-2019 (Xeon Gold 6138 at 2.0 GHz, DDIO, an 82599 SR-IOV NIC,
 * a Linux 5.x KVM host and a Linux 4.15 guest): exit costs from kvm-unit-tests on SKX servers.
 */
export const XEON_SKYLAKE_SP: CalibrationProfile = xeonSkylakeSp as CalibrationProfile;

/** The profiles shipped with the package, by name (the default, XEON_X5570, first). */
export const PROFILES: Readonly<Record<string, CalibrationProfile>> = {
  [XEON_X5570.name]: XEON_X5570,
  [XEON_SKYLAKE_SP.name]: XEON_SKYLAKE_SP,
};

/** A shipped profile by name, or a ProfileError that lists the names there are. */
export function profileByName(name: string): CalibrationProfile {
  const profile = Object.hasOwn(PROFILES, name) ? PROFILES[name] : undefined;
  if (profile === undefined) {
    throw new ProfileError(
      `unknown calibration profile '${name}': use one of ${Object.keys(PROFILES).join(', ')}`,
    );
  }
  return profile;
}

/** Checks one entry (against its schema range when it has one) and returns its value. */
function entryValue(profileName: string, key: string, entry: unknown): number {
  const where = `calibration profile '${profileName}'`;
  if (entry === undefined) {
    throw new ProfileError(`${where} has no entry '${key}': add it with its value, unit and source`);
  }
  if (!isRecord(entry)) {
    throw new ProfileError(
      `${where}: '${key}' must be an entry { value, unit, source }, got ${describeValue(entry)}`,
    );
  }
  const spec = PROFILE_SCHEMA[key];
  if (!inRange(entry.value, spec ?? ANY_COST)) {
    const accepts = spec !== undefined ? describeRange(spec) : 'a finite number ≥ 0';
    throw new ProfileError(`${where}: '${key}' must be ${accepts}, got ${describeValue(entry.value)}`);
  }
  if (spec?.unit !== undefined && entry.unit !== spec.unit) {
    throw new ProfileError(
      `${where}: '${key}' must be in ${spec.unit} (its unit in the schema), got unit ${describeValue(entry.unit)}`,
    );
  }
  if (typeof entry.source !== 'string' || entry.source.trim() === '') {
    throw new ProfileError(
      `${where}: '${key}' must have a source (a paper, a measurement, or an estimate with its reasoning), got ${describeValue(entry.source)}`,
    );
  }
  checkRange(where, key, entry, spec ?? ANY_COST);
  return entry.value;
}

/**
 * Checks an entry's range: an estimate must have one (low, high and the reasoning behind
 * it); a cited entry may. Both ends must be accepted by the schema and bracket the value.
 */
function checkRange(
  where: string,
  key: string,
  entry: Readonly<Record<string, unknown>>,
  spec: NumberRange,
): void {
  const { low, high, range } = entry;
  if (low === undefined && high === undefined && range === undefined) {
    if (entry.estimate === true) {
      throw new ProfileError(
        `${where}: '${key}' is an estimate, so it needs a range: add low, high and range (how the range was chosen, from what is known of the quantity)`,
      );
    }
    return;
  }
  for (const [name, v] of [
    ['low', low],
    ['high', high],
  ] as const) {
    if (!inRange(v, spec)) {
      throw new ProfileError(
        `${where}: '${key}'.${name} must be ${describeRange(spec)}, got ${describeValue(v)}`,
      );
    }
  }
  const value = entry.value as number;
  // An override (a sweep's value, a user's --set) may leave the range; the range must still hold the profile's own value.
  const own = typeof entry.overridden === 'number' ? entry.overridden : value;
  if (!((low as number) <= (high as number) && (low as number) <= own && own <= (high as number))) {
    throw new ProfileError(
      `${where}: '${key}' must have low ≤ value ≤ high, got low ${describeValue(low)}, value ${describeValue(entry.value)}, high ${describeValue(high)}`,
    );
  }
  if (typeof range !== 'string' || range.trim() === '') {
    throw new ProfileError(
      `${where}: '${key}' has low and high, so it needs range: how the range was chosen, got ${describeValue(range)}`,
    );
  }
}

/** The entries of a profile that have a range, in the profile's order, with their ends. */
export function rangedEntries(profile: CalibrationProfile): readonly {
  /** The entry's key. */
  readonly key: string;
  /** The entry. */
  readonly entry: ProfileEntry;
  /** The low end of its range. */
  readonly low: number;
  /** The high end of its range. */
  readonly high: number;
}[] {
  const out: { key: string; entry: ProfileEntry; low: number; high: number }[] = [];
  for (const [key, entry] of Object.entries(profile.entries)) {
    if (entry.low !== undefined && entry.high !== undefined && entry.low < entry.high) {
      out.push({ key, entry, low: entry.low, high: entry.high });
    }
  }
  return out;
}

/** What a profile entry accepts (its schema range), for a sampler that must produce valid values. */
export function entryRange(key: string): NumberRange {
  return PROFILE_SCHEMA[key] ?? ANY_COST;
}

/**
 * Checks a whole profile against PROFILE_SCHEMA: its shape, and every entry the machine
 * reads (present, a number in its range, in its unit, with a source). Returns it typed, or
 * throws a ProfileError naming the first entry at fault and what it accepts.
 */
export function validateProfile(profile: unknown): CalibrationProfile {
  const shape = 'an object { name, description, entries } like XEON_X5570';
  if (!isRecord(profile)) {
    throw new ProfileError(`profile must be a calibration profile, ${shape}, got ${describeValue(profile)}`);
  }
  if (typeof profile.name !== 'string' || profile.name.trim() === '') {
    throw new ProfileError(`profile.name must be a non-empty string, got ${describeValue(profile.name)}`);
  }
  if (typeof profile.description !== 'string') {
    throw new ProfileError(
      `profile.description of '${profile.name}' must be a string, got ${describeValue(profile.description)}`,
    );
  }
  const entries = profile.entries;
  if (!isRecord(entries)) {
    throw new ProfileError(
      `profile.entries of '${profile.name}' must be an object of entries by key ('cpu.hz': { value, unit, source }…), got ${describeValue(entries)}`,
    );
  }
  // A recording profile's check reads the entries behind the recorder: checking every entry is not reading it.
  const checked = RECORDED.get(entries) ?? entries;
  for (const key of Object.keys(PROFILE_SCHEMA)) entryValue(profile.name, key, checked[key]);
  return profile as unknown as CalibrationProfile;
}

/** Reads entry `key` of a profile: a number in its schema range, or a ProfileError that names the entry. */
export function profileValue(profile: CalibrationProfile, key: string): number {
  return entryValue(
    profile.name,
    key,
    Object.hasOwn(profile.entries, key) ? profile.entries[key] : undefined,
  );
}

/** The entries objects of recording profiles (recordProfileReads), each to the entries it records reads of. */
const RECORDED = new WeakMap<object, Readonly<Record<string, unknown>>>();

/** A profile that records which of its entries are read, and the keys read so far. */
export interface ProfileReads {
  /** The recording profile: read through it. */
  readonly profile: CalibrationProfile;
  /** The keys of the entries read so far, sorted. */
  keys(): string[];
}

/**
 * Wraps a profile so that every read of one of its entries (`entries[key]`, by profileValue
 * or by any other code, a copy of the entries included) records the key; validateProfile's
 * check of every entry is not counted. A run that never reads an entry gives the same result
 * whatever the entry's (valid) value: `exitless sensitivity` re-runs a configuration only for
 * the entries its base run read. Errs only towards recording too much (a copy records all).
 */
export function recordProfileReads(profile: CalibrationProfile): ProfileReads {
  const read = new Set<string>();
  const target = profile.entries;
  const entries = new Proxy(target, {
    get(t, key, receiver) {
      if (typeof key === 'string' && Object.hasOwn(t, key)) read.add(key);
      return Reflect.get(t, key, receiver);
    },
  });
  RECORDED.set(entries, target);
  return { profile: { ...profile, entries }, keys: () => [...read].sort() };
}

/** A profile with some entries replaced (for sweeps): the replaced ones say so in their source. */
export function withOverrides(
  profile: CalibrationProfile,
  overrides: Readonly<Record<string, number>>,
): CalibrationProfile {
  const entries: Record<string, ProfileEntry> = { ...profile.entries };
  for (const [key, value] of Object.entries(overrides)) {
    const e = entries[key];
    if (e === undefined)
      throw new ProfileError(`cannot override '${key}': profile '${profile.name}' has no such entry`);
    entries[key] = {
      ...e,
      value,
      source: `override of the profile's value ${e.value} (${e.source})`,
      overridden: e.overridden ?? e.value,
    };
  }
  return { ...profile, entries };
}

/** The profiles profileWithSets made, each to the profile and the values it was made from. */
const SET_FROM = new WeakMap<CalibrationProfile, ProfileSets>();

/** A profile with some entries set by its user: the profile they were set on and the values, in the order given. */
export interface ProfileSets {
  /** The profile the values were set on. */
  readonly base: CalibrationProfile;
  /** The values set, by entry key, in the order given. */
  readonly sets: Readonly<Record<string, number>>;
}

/**
 * `profile` with entries set by its user (`--set KEY=VALUE` in the reference app, `profile.set`
 * in a machine file), or `profile` itself when `sets` is empty. Each value replaces the entry's
 * through withOverrides (the entry keeps its source, range and unit, says it is an override, and
 * records the profile's own value in `overridden`); the profile is renamed
 * `NAME[KEY=VALUE,…]`, so that every report, table and chart tells it from the profile itself,
 * and checked like a profile file. A value may leave the entry's low–high range (the range stays
 * the profile's estimate), never what PROFILE_SCHEMA accepts. Throws a ProfileError naming the
 * entry: one the profile does not have, or a value it does not accept.
 */
export function profileWithSets(
  profile: CalibrationProfile,
  sets: Readonly<Record<string, number>>,
): CalibrationProfile {
  const keys = Object.keys(sets);
  if (keys.length === 0) return profile;
  for (const key of keys) {
    if (!Object.hasOwn(profile.entries, key)) {
      throw new ProfileError(
        `calibration profile '${profile.name}' has no entry '${key}': set one of its entries (its JSON lists them)`,
      );
    }
    profileValue(withOverrides(profile, { [key]: sets[key]! }), key);
  }
  const overridden = withOverrides(profile, sets);
  const made = validateProfile({
    ...overridden,
    name: `${profile.name}[${keys.map((k) => `${k}=${sets[k]}`).join(',')}]`,
    description: `${profile.description} — set: ${keys.map((k) => `${k} ${sets[k]} (the profile's ${profile.entries[k]!.value})`).join(', ')}`,
  });
  SET_FROM.set(made, { base: profile, sets: { ...sets } });
  return made;
}

/** The profile and values a profile of profileWithSets was made from (undefined for any other profile). */
export function profileSetsOf(profile: CalibrationProfile): ProfileSets | undefined {
  return SET_FROM.get(profile);
}
