import { Machine, runMachine } from '@exitless/machine';

/** Simulated seconds per wall-clock second of the default machine in one mode. */
export interface MachineSpeed {
  readonly mode: string;
  readonly simulatedSeconds: number;
  readonly wallSeconds: number;
  readonly simulatedPerWall: number;
  readonly events: number;
  readonly eventsPerSimulatedSecond: number;
  readonly eventsPerWallSecond: number;
}

export function machineSpeed(mode: string, durationMs: number, warmupMs: number): MachineSpeed {
  const machine = new Machine({ mode });
  const t0 = process.hrtime.bigint();
  runMachine(machine, { durationMs, warmupMs });
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  const simulated = (durationMs + warmupMs) / 1000;
  const events = machine.sim.eventsProcessed;
  return {
    mode,
    simulatedSeconds: simulated,
    wallSeconds: wall,
    simulatedPerWall: simulated / wall,
    events,
    eventsPerSimulatedSecond: events / simulated,
    eventsPerWallSecond: events / wall,
  };
}
