import * as machine from '@exitless/machine';

/** The exports of @exitless/machine, seen as data (so a newer machine's lists are found at run time). */
type MachineExports = Readonly<Record<string, unknown>>;

function stringList(value: unknown): readonly string[] | undefined {
  return Array.isArray(value) && value.every((v) => typeof v === 'string') ? value : undefined;
}

/**
 * The interrupt-delivery modes the machine can build. The single place that decides:
 * the machine's `MODES` list when it exports one (the full registry, with ELI and later
 * designs), else `BUILTIN_MODES`; built-in modes missing from `MODES` are appended, so
 * nothing the machine knows is lost. Order is the machine's (bare metal first).
 */
export function availableModes(exports: MachineExports = machine): readonly string[] {
  const builtin = stringList(exports.BUILTIN_MODES) ?? [];
  const registered = stringList(exports.MODES) ?? [];
  return [...new Set([...registered, ...builtin])];
}

/** The workloads the machine can run (its `WORKLOADS` list), in its order. */
export function availableWorkloads(exports: MachineExports = machine): readonly string[] {
  return stringList(exports.WORKLOADS) ?? [];
}
