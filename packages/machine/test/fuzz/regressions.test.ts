/** The counterexamples the fuzzer found, as fixed programs that must stay fixed (see regressions.ts). */
import { describe, expect, it } from 'vitest';
import { withOverrides, XEON_X5570 } from '../../src/index.js';
import { Program } from './program.js';
import { fuzzProfile } from './property.js';
import { REGRESSIONS } from './regressions.js';
import { runProgram } from './runner.js';

describe('counterexamples found by the fuzzer stay fixed', () => {
  for (const reg of REGRESSIONS.filter((r) => r.ci)) {
    for (const mode of reg.modes) {
      it(`${reg.name} (${mode})`, () => {
        // On the profile the fuzzer runs the mode on (posted needs APIC virtualization), and a
        // run that throws is always a failure: it would have checked nothing.
        const profile = fuzzProfile(mode);
        const broken = (reg.seeds ?? [1]).flatMap((machineSeed) =>
          runProgram(reg.program, mode, {
            machineSeed,
            ...(profile !== undefined ? { profile } : {}),
            ...(reg.durationMs !== undefined ? { durationMs: reg.durationMs } : {}),
          }).violations.filter((v) => v.invariant === 'no-throw' || reg.checks.includes(v.invariant)),
        );
        expect(
          broken.map((v) => `${v.invariant}: ${v.detail}`),
          `${reg.why}\n${reg.program.toString()}`,
        ).toEqual([]);
      });
    }
  }
});

describe('the harness sees a broken host', () => {
  it('a host tick held off past its bound (ELI with a 50 ms preemption timer, a guest that never enables interrupts)', () => {
    const program = new Program({
      handlers: [{ eoi: 'after', sti: false, cycles: 200, checkIsr: false, end: 'iret' }],
      gates: [],
      ops: [],
      loop: [{ k: 'compute', cycles: 1_000_000 }],
      hostIrqs: [{ vector: 0x30, atUs: 500 }],
    });
    const profile = withOverrides(XEON_X5570, { 'eli.preemptionTimerMs': 50 });
    const out = runProgram(program, 'eli', { profile });
    const names = new Set(out.violations.map((v) => v.invariant));
    expect(names.has('host-tick')).toBe(true);
    expect(names.has('host-irq')).toBe(true);
    expect(runProgram(program, 'eli').violations).toEqual([]);
  });
});
