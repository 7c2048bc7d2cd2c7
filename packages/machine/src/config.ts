import type { MeasuredCpu } from '@exitless/cpu';
import { HOST_LAYOUT } from '@exitless/hypervisor';
import { VF_BAR0_SIZE, VF_BAR3_SIZE } from '@exitless/nic';
import type { ApicBus, LocalApic } from '@exitless/x86';
import { MachineConfigError } from './errors.js';
import {
  type AddressMap,
  checkAddresses,
  checkGuestBars,
  checkNicLayout,
  MAX_NICS,
  type NicLayout,
} from './layout.js';
import type { MachineConfig } from './machine.js';
import { PHASE_MODES, type PhaseMode } from './phases.js';
import { type CalibrationProfile, profileValue, validateProfile, XEON_X5570 } from './profile.js';
import {
  describeRange,
  describeValue,
  inRange,
  isRecord,
  type NumberRange,
  unknownKeys,
} from './validate.js';
import { validateWorkloadOptions, WORKLOADS, type WorkloadOptions } from './workload.js';

export { MachineConfigError };

/** The modes every machine knows; more come from `strategies`. */
/**
 * The modes the machine builds itself. `eli` and `eli-delivery` keep HLT exiting on in direct
 * mode, as the authors' KVM code does; `eli-guest-hlt` is `eli` with HLT left to the guest in
 * direct mode (the model's behaviour before it followed the authors). `pv-eoi` is baseline's
 * delivery with KVM's paravirtual EOI, the guest kernel's side of it included. `posted` is APICv
 * with posted interrupts and VT-d posted IRTEs, which a profile without APIC virtualization
 * refuses (`modeRefusal`): a front end running "every mode" leaves out the ones refused. `did`
 * is Direct Interrupt Delivery (VEE 2015) as the model builds it (see the root README).
 */
export const BUILTIN_MODES: readonly string[] = [
  'bare-metal',
  'baseline',
  'eli-delivery',
  'eli',
  'eli-guest-hlt',
  'pv-eoi',
  'posted',
  'did',
];

/** Built-in modes that need the CPU's APIC virtualization (`cpu.apicVirtualization` 1): the default profile refuses them (`modeRefusal`). */
export const APIC_VIRTUALIZATION_MODES: readonly string[] = ['posted'];

/**
 * Why `mode` cannot run on `profile` (a sentence naming what to change), or null when it can.
 * `posted` needs the CPU's APIC virtualization, which the ELI-era Nehalem did not have (it came
 * with Ivy Bridge-EP).
 */
export function modeRefusal(mode: string, profile: CalibrationProfile): string | null {
  if (mode === 'posted' && profileValue(profile, 'cpu.apicVirtualization') !== 1) {
    return `mode 'posted' needs APIC virtualization and posted interrupts in the CPU, which profile '${profile.name}' does not have (its cpu.apicVirtualization is ${profileValue(profile, 'cpu.apicVirtualization')}): use --profile xeon-skylake-sp (cpu.apicVirtualization 1), or another mode — or, as a counterfactual, --set cpu.apicVirtualization=1`;
  }
  return null;
}

const MIB = 1024 * 1024;

/** Host RAM of a virtualized machine, MiB (sparse: only what is written is allocated). */
export const HOST_MEMORY_MIB = 8192;

/** Guest RAM the host can give its VMs, MiB: from HOST_LAYOUT.GUEST_MEMORY_BASE to the end of host RAM. */
const GUEST_ROOM_MIB = HOST_MEMORY_MIB - HOST_LAYOUT.GUEST_MEMORY_BASE / MIB;

/**
 * Where the machine places the VF's BARs (guest-physical in a VM, host-physical on bare
 * metal: 0xF000_0000), so where the guest's RAM must end: the 32-bit MMIO hole.
 */
const MMIO_HOLE_MIB = 0xf000_0000 / MIB;

/** What MachineConfig's numeric fields accept (the CLI checks its flags against the same limits). */
export const MACHINE_LIMITS: {
  /** Guests per machine: 1–8. */
  readonly guests: NumberRange;
  /** The seed: any safe non-negative integer. */
  readonly seed: NumberRange;
  /** Guest RAM, MiB: from 64 up to the 32-bit MMIO hole. */
  readonly guestMemoryMiB: NumberRange;
  /** A fixed interrupt moderation interval, µs: 0–1022 (EITR's range). */
  readonly interruptIntervalUs: NumberRange;
} = {
  guests: { min: 1, max: 8, integer: true, why: 'each on its own core with its own VF' },
  seed: { min: 0, max: Number.MAX_SAFE_INTEGER, integer: true },
  guestMemoryMiB: {
    min: 64,
    max: MMIO_HOLE_MIB,
    integer: true,
    multipleOf: 2,
    unit: 'MiB',
    why: "2 MiB pages, ending below the VF's BARs at 0xF0000000",
  },
  interruptIntervalUs: { min: 0, max: 1022, unit: 'us', why: "EITR's range" },
};

/**
 * Every field of MachineConfig, so that a key the machine does not know (a typo, a field of
 * another version) is an error rather than silently ignored. Typed so that a field added to
 * MachineConfig must be added here too.
 */
const MACHINE_CONFIG_KEYS: { readonly [K in keyof Required<MachineConfig>]: true } = {
  mode: true,
  workload: true,
  workloadOptions: true,
  guests: true,
  guestModes: true,
  guestWorkloads: true,
  seed: true,
  phases: true,
  profile: true,
  guestMemoryMiB: true,
  guestApicMode: true,
  interruptIntervalUs: true,
  nics: true,
  guestNics: true,
  addresses: true,
  strategies: true,
  lapicFactory: true,
  guestOverride: true,
  tracer: true,
};

/** How a guest kernel may drive its LAPIC (MachineConfig's `guestApicMode`). */
export const APIC_MODES: readonly ('xapic' | 'x2apic')[] = ['xapic', 'x2apic'];

/** The methods of a Tracer (@exitless/sim) the components call. */
const TRACER_METHODS: readonly string[] = ['begin', 'end', 'instant', 'counter'];

/** The methods of x86's LocalApic (InterruptLine, MsrDevice and MmioDevice with its own). */
const LOCAL_APIC_METHODS: readonly string[] = [
  'hasInterrupt',
  'acknowledge',
  'hasNmi',
  'acknowledgeNmi',
  'connect',
  'ownsMsr',
  'readMsr',
  'writeMsr',
  'mmioRead',
  'mmioWrite',
  'matchesDestination',
  'acceptInterrupt',
];

/** A configuration with every default filled in and every field checked. */
export interface ResolvedMachineConfig {
  /** The interrupt-delivery mode ('bare-metal', 'baseline', or a registered one). */
  readonly mode: string;
  /** The workload's name. */
  readonly workload: string;
  /** Knobs of the workload. */
  readonly workloadOptions: WorkloadOptions;
  /** Guests in the machine. */
  readonly guests: number;
  /** Each guest's mode (guest i runs in `guestModes[i]`); every entry is `mode` unless `guestModes` was given. */
  readonly guestModes: readonly string[];
  /** True when `guestModes` was given (the run report then names each guest's mode). */
  readonly perGuestModes: boolean;
  /** Each guest's workload (guest i runs `guestWorkloads[i]`); every entry is `workload` unless `guestWorkloads` was given. */
  readonly guestWorkloads: readonly string[];
  /** True when `guestWorkloads` was given (the run report then names each guest's workload). */
  readonly perGuestWorkloads: boolean;
  /** The seed. */
  readonly seed: number;
  /** How the periodic sources start. */
  readonly phases: PhaseMode;
  /** The calibration profile. */
  readonly profile: CalibrationProfile;
  /** Guest RAM, MiB. */
  readonly guestMemoryMiB: number;
  /** How the guests drive their LAPICs. */
  readonly guestApicMode: 'xapic' | 'x2apic';
  /** A fixed interrupt moderation interval, µs, or null: the guest driver's dynamic throttling. */
  readonly interruptIntervalUs: number | null;
  /** Anything but bare metal: a host runs the guests in VMs. */
  readonly virtualized: boolean;
  /** The NICs with every VF count filled in, or null: `nics` was not given (one NIC, a VF per guest). */
  readonly nics: readonly NicLayout[] | null;
  /** Each guest's NIC (0 unless `guestNics` was given). */
  readonly guestNics: readonly number[];
  /** Each guest's VF on its NIC: the next free one, in guest order. */
  readonly guestVfs: readonly number[];
  /** The address map with every default filled in, or null: `addresses` was not given. */
  readonly addresses: AddressMap | null;
}

/**
 * A field's value, or `fallback` when it is absent. Only `undefined` means absent: `null` is
 * a value (of the wrong type), never a request for the default.
 */
function given(config: Readonly<Record<string, unknown>>, key: string, fallback: unknown): unknown {
  const v = config[key];
  return v === undefined ? fallback : v;
}

function number(
  config: Readonly<Record<string, unknown>>,
  key: keyof typeof MACHINE_LIMITS,
  fallback: number,
): number {
  const v = given(config, key, fallback);
  const range = MACHINE_LIMITS[key];
  if (!inRange(v, range)) {
    throw new MachineConfigError(`${key} must be ${describeRange(range)}, got ${describeValue(v)}`);
  }
  return v;
}

function oneOf(
  config: Readonly<Record<string, unknown>>,
  key: string,
  fallback: string | undefined,
  allowed: readonly string[],
): string {
  const v = given(config, key, fallback);
  if (typeof v !== 'string' || !allowed.includes(v)) {
    const what = typeof v === 'string' ? `unknown ${key} ${describeValue(v)}` : `${key} must be a string`;
    throw new MachineConfigError(
      `${what}: use one of ${allowed.join(', ')}${typeof v === 'string' ? '' : `, got ${describeValue(v)}`}`,
    );
  }
  return v;
}

function optionalFunction(config: Readonly<Record<string, unknown>>, key: string, what: string): void {
  const v = config[key];
  if (v !== undefined && typeof v !== 'function') {
    throw new MachineConfigError(`${key} must be a function (${what}), got ${describeValue(v)}`);
  }
}

/**
 * Checks a machine configuration and fills in its defaults — the one place that decides
 * what MachineConfig accepts. Every field is checked for its type and range (a value of the
 * wrong type, NaN, an unknown key or mode are errors, never defaults), the profile against
 * PROFILE_SCHEMA, the workload options against WORKLOAD_OPTIONS_SCHEMA, and the fields
 * against each other. Throws a MachineConfigError, ProfileError or WorkloadOptionsError
 * naming the field and what it accepts; builds nothing.
 */
export function validateMachineConfig(config: MachineConfig): ResolvedMachineConfig {
  const c: unknown = config;
  if (!isRecord(c)) {
    throw new MachineConfigError(
      `MachineConfig must be an object with at least a mode, got ${describeValue(c)}`,
    );
  }
  const known = Object.keys(MACHINE_CONFIG_KEYS);
  const strays = unknownKeys(c, known);
  if (strays.length > 0) {
    throw new MachineConfigError(`unknown MachineConfig field '${strays[0]}': use ${known.join(', ')}`);
  }

  const strategies = c.strategies;
  if (strategies !== undefined) {
    if (!isRecord(strategies)) {
      throw new MachineConfigError(
        `strategies must be an object of strategy factories by mode name, got ${describeValue(strategies)}`,
      );
    }
    for (const [name, factory] of Object.entries(strategies)) {
      if (BUILTIN_MODES.includes(name)) {
        throw new MachineConfigError(
          `strategies['${name}'] must not reuse the built-in mode '${name}': use another name for your mode`,
        );
      }
      if (typeof factory !== 'function') {
        throw new MachineConfigError(
          `strategies['${name}'] must be a function (a StrategyFactory), got ${describeValue(factory)}`,
        );
      }
    }
  }
  const mode = oneOf(c, 'mode', undefined, [...BUILTIN_MODES, ...Object.keys(strategies ?? {})]);
  const workload = oneOf(c, 'workload', 'netperf-tcp-stream', WORKLOADS);
  const guestApicMode = oneOf(c, 'guestApicMode', 'x2apic', APIC_MODES) as 'xapic' | 'x2apic';
  const seed = number(c, 'seed', 1);
  const phases = oneOf(c, 'phases', 'seeded', PHASE_MODES) as PhaseMode;
  const guests = number(c, 'guests', 1);
  const guestMemoryMiB = number(c, 'guestMemoryMiB', 256);
  optionalFunction(c, 'lapicFactory', 'options => LocalApic');
  optionalFunction(c, 'guestOverride', 'env => { entryAddress }');
  const tracer = c.tracer;
  if (
    tracer !== undefined &&
    !(isRecord(tracer) && TRACER_METHODS.every((m) => typeof tracer[m] === 'function'))
  ) {
    throw new MachineConfigError(
      `tracer must be a Tracer from @exitless/sim (an object with ${TRACER_METHODS.join(', ')}), got ${describeValue(tracer)}`,
    );
  }
  const profile = validateProfile(given(c, 'profile', XEON_X5570));
  // Absent: the guest driver throttles dynamically (ixgbevf's default); given: fixed at it.
  const interruptIntervalUs =
    c.interruptIntervalUs === undefined ? null : number(c, 'interruptIntervalUs', 0);
  const workloadOptions = validateWorkloadOptions(given(c, 'workloadOptions', {}));

  const virtualized = mode !== 'bare-metal';
  if (!virtualized && guests !== 1) {
    throw new MachineConfigError('bare-metal runs one OS on one core: use guests: 1, or a virtualized mode');
  }
  if (c.guestOverride !== undefined && guests !== 1) {
    throw new MachineConfigError('guestOverride supplies one guest: use guests: 1 with it');
  }
  if (virtualized && guests * guestMemoryMiB > GUEST_ROOM_MIB) {
    throw new MachineConfigError(
      `guests × guestMemoryMiB must be at most ${GUEST_ROOM_MIB} MiB (the host's RAM for guests), got ${guests} × ${guestMemoryMiB}`,
    );
  }
  // Each guest's mode: `mode` for all, or one per guest (two guests on different designs on
  // one host and one NIC); every per-mode check below applies to each.
  const perGuestModes = c.guestModes !== undefined;
  const guestModes: string[] = [];
  if (perGuestModes) {
    const list = c.guestModes;
    const known = [...BUILTIN_MODES.filter((m) => m !== 'bare-metal'), ...Object.keys(strategies ?? {})];
    if (!Array.isArray(list) || list.length !== guests) {
      throw new MachineConfigError(
        `guestModes must be an array of ${guests} mode name(s), one per guest (guests is ${guests}), got ${describeValue(list)}`,
      );
    }
    if (!virtualized) {
      throw new MachineConfigError('guestModes needs a virtualized mode: bare-metal runs one OS, no VMs');
    }
    for (const [i, m] of list.entries()) {
      if (typeof m !== 'string' || !known.includes(m)) {
        throw new MachineConfigError(
          `guestModes[${i}] must be one of ${known.join(', ')}, got ${describeValue(m)}`,
        );
      }
      guestModes.push(m);
    }
  } else {
    for (let i = 0; i < guests; i++) guestModes.push(mode);
  }
  for (const m of new Set([mode, ...guestModes])) checkModeFits(m, guestApicMode, profile);
  // Each guest's workload: `workload` for all, or one per guest.
  const perGuestWorkloads = c.guestWorkloads !== undefined;
  const guestWorkloads: string[] = [];
  if (perGuestWorkloads) {
    const list = c.guestWorkloads;
    if (!Array.isArray(list) || list.length !== guests) {
      throw new MachineConfigError(
        `guestWorkloads must be an array of ${guests} workload name(s), one per guest (guests is ${guests}), got ${describeValue(list)}`,
      );
    }
    for (const [i, w] of list.entries()) {
      if (typeof w !== 'string' || !WORKLOADS.includes(w)) {
        throw new MachineConfigError(
          `guestWorkloads[${i}] must be one of ${WORKLOADS.join(', ')}, got ${describeValue(w)}`,
        );
      }
      guestWorkloads.push(w);
    }
  } else {
    for (let i = 0; i < guests; i++) guestWorkloads.push(workload);
  }
  const layout = checkedLayout(c, guests, virtualized, guestMemoryMiB);
  return {
    mode,
    workload,
    workloadOptions,
    guests,
    guestModes,
    perGuestModes,
    guestWorkloads,
    perGuestWorkloads,
    seed,
    phases,
    profile,
    guestMemoryMiB,
    guestApicMode,
    interruptIntervalUs,
    virtualized,
    ...layout,
  };
}

/** MachineConfig's `nics`, `guestNics` and `addresses`, checked, with each guest's NIC and VF. */
function checkedLayout(
  c: Readonly<Record<string, unknown>>,
  guests: number,
  virtualized: boolean,
  guestMemoryMiB: number,
): Pick<ResolvedMachineConfig, 'nics' | 'guestNics' | 'guestVfs' | 'addresses'> {
  const list = c.nics;
  if (list !== undefined && !(Array.isArray(list) && list.length >= 1 && list.length <= MAX_NICS)) {
    throw new MachineConfigError(
      `nics must be a list of 1 to ${MAX_NICS} NICs (each { vfs?, wire?, link? }), got ${describeValue(list)}`,
    );
  }
  const count = list?.length ?? 1;
  const guestNics: number[] = [];
  if (c.guestNics !== undefined) {
    const g = c.guestNics;
    if (!Array.isArray(g) || g.length !== guests) {
      throw new MachineConfigError(
        `guestNics must be a list of ${guests} NIC index(es), one per guest (guests is ${guests}), got ${describeValue(g)}`,
      );
    }
    for (const [i, k] of g.entries()) {
      if (!(Number.isInteger(k) && k >= 0 && k < count)) {
        throw new MachineConfigError(
          `guestNics[${i}] must be one of the NICs, 0 to ${count - 1} (${list === undefined ? 'no nics given: the machine has one NIC; list them in nics, which a machine file can hold' : `${count} in nics`}), got ${describeValue(k)}`,
        );
      }
      guestNics.push(k);
    }
  } else {
    for (let i = 0; i < guests; i++) guestNics.push(0);
  }
  // Each guest takes the next free VF of its NIC.
  const used = new Array<number>(count).fill(0);
  const guestVfs = guestNics.map((k) => used[k]!++);
  let nics: NicLayout[] | null = null;
  if (list !== undefined) {
    nics = [];
    for (const [k, n] of (list as unknown[]).entries()) {
      if (!isRecord(n)) {
        throw new MachineConfigError(
          `nics[${k}] must be a mapping of vfs, wire, link, got ${describeValue(n)}`,
        );
      }
      const strays = unknownKeys(n, ['vfs', 'wire', 'link']);
      if (strays.length > 0) {
        throw new MachineConfigError(`nics[${k}].${strays[0]} is not a field of a NIC: use vfs, wire, link`);
      }
      const layout = { ...n, vfs: n.vfs === undefined ? Math.max(1, used[k]!) : n.vfs } as NicLayout;
      checkNicLayout(`nics[${k}]`, layout);
      if (layout.vfs < used[k]!) {
        throw new MachineConfigError(
          `nics[${k}].vfs must be at least ${used[k]} (the guests guestNics puts on NIC ${k}), got ${layout.vfs}`,
        );
      }
      nics.push(layout);
    }
  }
  const addresses =
    c.addresses === undefined
      ? null
      : checkAddresses(c.addresses, {
          nics: count,
          virtualized,
          guestMemoryMiB: new Array<number>(guests).fill(guestMemoryMiB),
        });
  if (addresses !== null) {
    // The machine's NICs are 82599s: their VF BARs' sizes are known before any is built.
    if (virtualized) checkGuestBars(addresses, VF_BAR0_SIZE, VF_BAR3_SIZE);
    const most = Math.max(...(nics ?? [{ vfs: guests }]).map((n) => n.vfs));
    if (most * Math.max(VF_BAR0_SIZE, VF_BAR3_SIZE) > addresses.nicStride) {
      throw new MachineConfigError(
        `addresses.nicStride (${addresses.nicStride} bytes) must hold a NIC's ${most} VFs' BARs (${most} × ${Math.max(VF_BAR0_SIZE, VF_BAR3_SIZE)} bytes)`,
      );
    }
  }
  return { nics, guestNics, guestVfs, addresses };
}

/** Whether a guest in `mode` can run with `guestApicMode` on `profile`'s CPU; throws a MachineConfigError saying why not. */
function checkModeFits(mode: string, guestApicMode: string, profile: CalibrationProfile): void {
  if ((mode === 'eli' || mode === 'eli-guest-hlt') && guestApicMode !== 'x2apic') {
    throw new MachineConfigError(
      `mode '${mode}' (exitless EOI) needs the guest's LAPIC in x2APIC mode: use guestApicMode 'x2apic', or mode 'eli-delivery'`,
    );
  }
  const refusal = modeRefusal(mode, profile);
  if (refusal !== null) throw new MachineConfigError(refusal);
  if (mode === 'posted' && guestApicMode !== 'x2apic') {
    throw new MachineConfigError(
      "mode 'posted' virtualizes the guest's LAPIC in x2APIC mode only (the model has no APIC-access-page virtualization): use guestApicMode 'x2apic'",
    );
  }
  if (mode === 'did' && guestApicMode !== 'x2apic') {
    throw new MachineConfigError(
      "mode 'did' passes the guest's EOI (the x2APIC EOI MSR) through to the physical LAPIC: use guestApicMode 'x2apic'",
    );
  }
}

/**
 * `value`, checked to have `methods` (and `fields` of the types given) before anything is wired
 * to it; else a MachineConfigError: `<what it had to be>, got <what was missing>`.
 */
function checkedPart<T>(
  value: unknown,
  mustBe: string,
  methods: readonly string[],
  fields: Readonly<Record<string, 'number' | 'object'>> = {},
): T {
  const missing = isRecord(value)
    ? [
        ...methods.filter((m) => typeof value[m] !== 'function').map((m) => `${m}()`),
        ...Object.entries(fields)
          .filter(([f, type]) => typeof value[f] !== type || value[f] === null)
          .map(([f, type]) => `${f} (${type === 'number' ? 'a number' : 'an object'})`),
      ]
    : [];
  if (!isRecord(value) || missing.length > 0) {
    throw new MachineConfigError(
      `${mustBe}, got ${isRecord(value) ? `an object without ${missing.join(', ')}` : describeValue(value)}`,
    );
  }
  return value as unknown as T;
}

/** What a user's `lapicFactory` returned, checked to be a LocalApic before anything is wired to it. */
export function checkedLapic(value: unknown, apicId: number): LocalApic {
  return checkedPart(
    value,
    `lapicFactory must return a LocalApic (x86's interface) for APIC ID ${apicId}`,
    LOCAL_APIC_METHODS,
  );
}

/** What a core slot's `cpu` factory returned, checked to be a MeasuredCpu (`@exitless/cpu`'s interface). */
export function checkedCpu(value: unknown, core: number): MeasuredCpu {
  const cpu = checkedPart<MeasuredCpu>(
    value,
    `cores[${core}].cpu must build a MeasuredCpu (@exitless/cpu's interface: the run report reads its counters)`,
    ['start', 'flushAccounting'],
    { id: 'number', hz: 'number', counters: 'object' },
  );
  const counters = cpu.counters as unknown as Record<string, unknown>;
  if (!isRecord(counters.time) || !Array.isArray(counters.exits) || !Array.isArray(counters.exitIndirectPs)) {
    throw new MachineConfigError(
      `cores[${core}].cpu's counters must be CpuCounters (time by category, exits and exitIndirectPs by exit reason)`,
    );
  }
  if (cpu.id !== core) throw new MachineConfigError(`cores[${core}].cpu must have id ${core}, got ${cpu.id}`);
  return cpu;
}

/** What a board's `interruptBus` factory returned, checked to be an ApicBus (x86's interface). */
export function checkedApicBus(value: unknown): ApicBus {
  return checkedPart(value, "interruptBus must build an ApicBus (x86's interface)", [
    'register',
    'deliverInterrupt',
    'sendIpi',
    'broadcastEoi',
  ]);
}

/** The entry point a user's `guestOverride` returned, checked to be a guest-physical address. */
export function checkedGuestEntry(value: unknown, guestMemoryBytes: number): number {
  const entry = isRecord(value) ? value.entryAddress : undefined;
  if (typeof entry !== 'number' || !Number.isSafeInteger(entry) || entry < 0 || entry >= guestMemoryBytes) {
    throw new MachineConfigError(
      `guestOverride must return { entryAddress } with an integer address in the guest's RAM (0 to ${guestMemoryBytes - 1}), got ${
        isRecord(value) ? `entryAddress ${describeValue(entry)}` : describeValue(value)
      }`,
    );
  }
  return entry;
}
