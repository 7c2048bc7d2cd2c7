export type {
  BoardSpec,
  CoreSlot,
  GuestSlot,
  GuestSoftware,
  HostSlot,
  InterruptBusFactoryOptions,
  NicSlot,
  PeerNetwork,
  StrategyBuilder,
} from './board.js';
export { Board, bareMetalMemoryMiB, defaultIommu } from './board.js';
export type { ResolvedMachineConfig } from './config.js';
export {
  APIC_MODES,
  APIC_VIRTUALIZATION_MODES,
  HOST_MEMORY_MIB,
  MACHINE_LIMITS,
  modeRefusal,
  validateMachineConfig,
} from './config.js';
export type { AddressMap, AddressMapContext, NicLayout } from './layout.js';
export { checkAddresses, DEFAULT_ADDRESS_MAP } from './layout.js';
export type {
  GuestEnvironment,
  GuestInstance,
  LapicFactoryOptions,
  MachineConfig,
  StrategyFactory,
} from './machine.js';
export {
  BUILTIN_MODES,
  builtinStrategies,
  Machine,
  MachineConfigError,
  paperMachine,
  WORKLOADS,
} from './machine.js';
export type {
  FormatMachineFileOptions,
  MachineFile,
  MachineFileFormat,
  MachineFileLocation,
  MachineFileOfOptions,
  MachineFileOptions,
  MachineFileProfile,
} from './machine-file.js';
export {
  explicitMachineConfig,
  formatMachineFile,
  isMachineFileKey,
  loadMachineFile,
  MACHINE_FILE_FIELDS,
  MACHINE_FILE_KEYS,
  MACHINE_FILE_SCHEMA,
  MachineFileError,
  machineConfigFromFile,
  machineFileOf,
  machineFileProfile,
  parseMachineFile,
  readMachineFile,
  setMachineFileField,
} from './machine-file.js';
export { cpuCosts, guestCosts, guestThrottling, haltPoll, hostCosts } from './parts.js';
export type { PeerMachine } from './peers.js';
export { PeerSwitch, peerMachine } from './peers.js';
export type { PhaseMode } from './phases.js';
export { PHASE_MODES, StartPhases } from './phases.js';
export type { CalibrationProfile, ProfileEntry, ProfileReads, ProfileSets } from './profile.js';
export {
  entryRange,
  PROFILE_SCHEMA,
  PROFILES,
  ProfileError,
  profileByName,
  profileSetsOf,
  profileValue,
  profileWithSets,
  rangedEntries,
  recordProfileReads,
  validateProfile,
  withOverrides,
  XEON_SKYLAKE_SP,
  XEON_X5570,
} from './profile.js';
export type { CpuReport, GuestReport, LatencyReport, RunOptions, RunReport } from './report.js';
export { REPORT_SCHEMA_VERSION, RUN_OPTIONS_LIMITS, RunOptionsError, runMachine } from './report.js';
export type { NumberRange } from './validate.js';
export type {
  UserWorkload,
  Workload,
  WorkloadContext,
  WorkloadMetrics,
  WorkloadOptions,
} from './workload.js';
export {
  HTTP_PORT,
  MEMCACHED_PORT,
  NETPERF_PORT,
  UDP_RR_PORT,
  validateWorkloadOptions,
  WORKLOAD_OPTIONS_SCHEMA,
  WorkloadOptionsError,
} from './workload.js';
