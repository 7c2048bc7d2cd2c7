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

/**
 * The modes of `modes` that `profile` can run: a mode the profile refuses (the machine's
 * `modeRefusal`, e.g. `posted` on a CPU without APIC virtualization) is left out, so that
 * "every mode" means every mode this machine generation has.
 */
export function modesFor(
  profile: machine.CalibrationProfile,
  modes: readonly string[] = availableModes(),
): readonly string[] {
  return modes.filter((m) => machine.modeRefusal(m, profile) === null);
}

/**
 * A UsageError's text when `profile` refuses one of the modes asked for by name, or null (the
 * machine's `modeRefusal` sentence, which for a mode that needs APIC virtualization also names
 * the counterfactual `--set cpu.apicVirtualization=1`).
 */
export function refusedModes(
  profiles: readonly machine.CalibrationProfile[],
  modes: readonly string[],
): string | null {
  for (const p of profiles) {
    for (const m of modes) {
      const why = machine.modeRefusal(m, p);
      if (why === null) continue;
      return why;
    }
  }
  return null;
}

/** The workloads the machine can run (its `WORKLOADS` list), in its order. */
export function availableWorkloads(exports: MachineExports = machine): readonly string[] {
  return stringList(exports.WORKLOADS) ?? [];
}
