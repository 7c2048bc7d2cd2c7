import { readFileSync } from 'node:fs';
import type { EliStrategy } from '@exitless/eli';
import { describe, expect, it } from 'vitest';

/** The first ```ts block after `heading` in a README. */
function readmeExample(readme: string, heading: string): string {
  const text = readFileSync(new URL(readme, import.meta.url), 'utf8');
  const at = text.indexOf(heading);
  expect(at, `${readme} has no heading '${heading}'`).toBeGreaterThanOrEqual(0);
  const start = text.indexOf('```ts\n', at) + '```ts\n'.length;
  return text.slice(start, text.indexOf('```', start));
}

const source = (file: string) => readFileSync(new URL(file, import.meta.url), 'utf8');

describe('a strategy plugged in by the user (the ELI README example)', () => {
  it("is the code of the ELI README's example, character for character", () => {
    expect(readmeExample('../../eli/README.md', '## Example: ELI on a custom machine')).toBe(
      source('../examples/eli-1ms.ts'),
    );
  });

  it('runs ELI with a 1 ms preemption timer on two guests, its counters under the mode name', async () => {
    const { machine, report } = await import('../examples/eli-1ms.js');
    expect(report.mode).toBe('eli-1ms');
    expect(report.guests).toHaveLength(2);
    // Directly delivered interrupts cause no exit. What exits: the host's own interrupts (its
    // 1000 Hz tick as #NP), the 1 ms preemption timer, the guest's injected 250 Hz tick with its
    // EOI, and — HLT exiting being on, as in the authors' code — each halt, with the device
    // interrupt that wakes the guest taken by the host and injected (its EOI trapped).
    const c = machine.stats.snapshot().counters;
    expect(machine.stats.counterValue('eli-1ms.host-interrupts-via-np')).toBeGreaterThan(0);
    const strategy = machine.hypervisor!.strategy as EliStrategy;
    expect(strategy.options.preemptionTimerPs).toBe(1e9);
    const nonDirect = c['kvm.assigned-interrupts'] ?? 0;
    const halts = (c['cpu0.exits.hlt'] ?? 0) + (c['cpu1.exits.hlt'] ?? 0);
    expect(halts).toBeGreaterThan(0);
    expect(nonDirect).toBeLessThanOrEqual(halts + c['eli-1ms.to-injection-mode']!);
    // The rest went straight to each guest's handler through its shadow IDT, on its own core.
    for (const [i, cpu] of machine.cpus.entries()) {
      const direct = machine.vms[i]!.assigned[0]!.hostVectors.reduce((a, v) => a + cpu.deliveredGuest[v]!, 0);
      expect(direct).toBeGreaterThan(0);
    }
  });
});
