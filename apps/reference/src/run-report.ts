import type { RunReport } from '@exitless/machine';

export function pct(x: number): string {
  return `${(x * 100).toFixed(1)}%`;
}

/** `exitless run`'s report as text: the figures of one run, a line each. */
export function formatRunReport(r: RunReport): string {
  const c = r.cpus[0]!;
  const lines = [
    `${r.workload} on ${r.mode} (seed ${r.seed}, ${r.durationMs} ms after ${r.warmupMs} ms warm-up, profile ${r.profile})`,
    `  throughput              ${r.throughput.value.toFixed(1)} ${r.throughput.unit}`,
    `  time in guest           ${pct(r.timeInGuest)}`,
    r.mode === 'bare-metal'
      ? `  cpu0 time               OS ${pct(c.time.host)} (no hypervisor: the OS runs in VMX root), halted ${pct(c.time.haltedHost)}`
      : `  cpu0 time               guest ${pct(c.time.guest)}, host ${pct(c.time.host)}, transitions ${pct(c.time.transition)}, exit pollution ${pct(c.time.exitIndirect)}, halted ${pct(c.time.haltedGuest + c.time.haltedHost)}`,
    `  exits/s                 ${r.exitsPerSecond.total.toFixed(0)}${Object.keys(r.exitsPerSecond.byReason).length > 0 ? ' —' : ''} ${Object.entries(
      r.exitsPerSecond.byReason,
    )
      .map(([k, v]) => `${k} ${v.toFixed(0)}`)
      .join(', ')}`,
    `  interrupts/s            physical ${r.interruptsPerSecond.physical.toFixed(0)}, virtual (injected) ${r.interruptsPerSecond.virtual.toFixed(0)}`,
    ...(r.mode === 'bare-metal'
      ? []
      : [
          `  host threads/s          IRQ-thread runs ${c.host.irqThreadRunsPerSecond.toFixed(0)}, context switches ${c.host.contextSwitchesPerSecond.toFixed(0)}`,
          `  pollution per exit      ${
            Object.entries(c.exitIndirectCyclesPerExit)
              .map(([k, v]) => `${k} ${v.toFixed(0)}`)
              .join(', ') || '—'
          } cycles`,
        ]),
    `  assigned interrupts     ${r.assignedInterrupts} (${r.exitsPerAssignedInterrupt.toFixed(2)} exits each)`,
    `  network                 ${r.network.framesReceived} frames received, ${r.network.rxMissed} missed, ${r.network.retransmissions} retransmitted, ${r.network.guestAcks} ACKs sent`,
  ];
  for (const extra of r.cpus.slice(1)) {
    lines.push(
      `  cpu${extra.id} time               guest ${pct(extra.time.guest)}, host ${pct(extra.time.host)}, transitions ${pct(extra.time.transition)}, exits/s ${extra.exitsPerSecond.total.toFixed(0)}`,
    );
  }
  for (const g of r.guests ?? []) {
    const name = `guest${g.index}${g.mode !== undefined ? ` (${g.mode})` : ''}`;
    lines.push(`  ${name.padEnd(24)}${g.throughput.value.toFixed(1)} ${g.throughput.unit}`);
  }
  if (r.stopped !== null) lines.push(`  VM STOPPED: ${r.stopped}`);
  if (r.guestViolations !== undefined) {
    lines.push(`  REFUSED (${r.guestViolations.count}): ${r.guestViolations.first[0] ?? ''}`);
  }
  return lines.join('\n');
}
