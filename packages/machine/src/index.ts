export type {
  GuestEnvironment,
  GuestInstance,
  LapicFactoryOptions,
  MachineConfig,
  StrategyFactory,
} from './machine.js';
export { BUILTIN_MODES, Machine, MachineConfigError, WORKLOADS } from './machine.js';
export { PeerSwitch } from './peers.js';
export type { CalibrationProfile, ProfileEntry } from './profile.js';
export { PROFILES, ProfileError, profileValue, withOverrides, XEON_X5570 } from './profile.js';
export type { CpuReport, GuestReport, LatencyReport, RunOptions, RunReport } from './report.js';
export { REPORT_SCHEMA_VERSION, runMachine } from './report.js';
export type { WorkloadMetrics, WorkloadOptions } from './workload.js';
export { HTTP_PORT, MEMCACHED_PORT, NETPERF_PORT, UDP_RR_PORT } from './workload.js';
