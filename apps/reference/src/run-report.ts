import type { CpuReport, LatencyReport, RunReport } from '@exitless/machine';

export function pct(x: number): string {
  return `${(x * 100).toFixed(1)}%`;
}

/** The column the figures start in (0-based; as before the labels were reworded, so that scripts reading the text keep working). */
const VALUE_COLUMN = 26;

function line(label: string, value: string): string {
  const head = `  ${label}`;
  return `${head.padEnd(VALUE_COLUMN - 1)} ${value}`;
}

function perSecond(x: number): string {
  return x.toFixed(0);
}

function byReason(rates: Readonly<Record<string, number>>, unit = ''): string {
  return Object.entries(rates)
    .map(([reason, v]) => `${reason} ${v.toFixed(0)}${unit}`)
    .join(', ');
}

function exitsLine(exits: RunReport['exitsPerSecond']): string {
  const reasons = byReason(exits.byReason);
  return `${perSecond(exits.total)}${reasons === '' ? '' : ` — ${reasons}`}`;
}

/** The report's unit as a reader writes it. */
function latencyUnit(unit: LatencyReport['unit']): string {
  return unit === 'us' ? 'µs' : unit;
}

/** "mean 16.4 µs, p50 16.2 µs, p99 28.1 µs, p99.9 28.9 µs". */
export function formatLatency(l: LatencyReport): string {
  const u = latencyUnit(l.unit);
  const v = (x: number) => `${x.toFixed(1)} ${u}`;
  return `mean ${v(l.mean)}, p50 ${v(l.p50)}, p99 ${v(l.p99)}, p99.9 ${v(l.p999)}`;
}

/**
 * One CPU's time, split so that the first three add up to its share of "time in guest": the
 * guest's own work, the exit pollution it paid, its halts in guest mode; then the host's side.
 */
function cpuTime(c: CpuReport): string {
  const t = c.time;
  const guestSide = `guest work ${pct(t.guest)} + exit pollution ${pct(t.exitIndirect)} + halted in guest ${pct(t.haltedGuest)}`;
  const idle = t.idle > 0 ? `, idle ${pct(t.idle)}` : '';
  return `${guestSide} | host ${pct(t.host)}, halted in host ${pct(t.haltedHost)}, VM entries/exits ${pct(t.transition)}${idle}`;
}

function hostThreads(c: CpuReport): string {
  const h = c.host;
  const poll =
    h.haltPollSuccessesPerSecond !== undefined && h.haltPollFailsPerSecond !== undefined
      ? `, halt polls that found an interrupt ${perSecond(h.haltPollSuccessesPerSecond)}, that slept ${perSecond(h.haltPollFailsPerSecond)}`
      : '';
  return `IRQ-thread runs ${perSecond(h.irqThreadRunsPerSecond)}, context switches ${perSecond(h.contextSwitchesPerSecond)}${poll}`;
}

function mean(values: readonly number[]): number {
  return values.length === 0 ? 0 : values.reduce((a, b) => a + b, 0) / values.length;
}

/** Bare metal: no hypervisor, so no exits, no injection, no assignment; the OS has the core. */
function bareMetalLines(r: RunReport): string[] {
  const running = mean(r.cpus.map((c) => c.time.host));
  const halted = mean(r.cpus.map((c) => c.time.haltedHost));
  return [
    line(
      'time in the OS',
      `${pct(r.timeInGuest)} (no hypervisor: the OS has the whole CPU — running ${pct(running)}, halted ${pct(halted)})`,
    ),
    line('exits/s', 'none (no hypervisor)'),
    line(
      'interrupts/s',
      `${perSecond(r.interruptsPerSecond.physical)} physical (no hypervisor, so none injected)`,
    ),
    line('device interrupts', `${r.assignedInterrupts} from the NIC, straight to the OS`),
  ];
}

function virtualizedLines(r: RunReport): string[] {
  const several = r.cpus.length > 1;
  const all = several ? ', all CPUs' : '';
  const c0 = r.cpus[0];
  const inGuest =
    several || c0 === undefined
      ? `${pct(r.timeInGuest)} (mean over the ${r.cpus.length} CPUs of guest work + exit pollution + halted in guest: each CPU's below)`
      : `${pct(r.timeInGuest)} (cpu0's guest work ${pct(c0.time.guest)} + exit pollution ${pct(c0.time.exitIndirect)} + halted in guest ${pct(c0.time.haltedGuest)})`;
  const guests = r.guests?.length ?? 1;
  const vfs = guests > 1 ? `the ${guests} guests' VFs` : 'the VF';
  return [
    line('time in guest', inGuest),
    line(`exits/s${all}`, exitsLine(r.exitsPerSecond)),
    line(
      `interrupts/s${all}`,
      `physical ${perSecond(r.interruptsPerSecond.physical)}, virtual (injected) ${perSecond(r.interruptsPerSecond.virtual)}`,
    ),
    line(
      'assigned interrupts',
      `${r.assignedInterrupts} from ${vfs} (${r.exitsPerAssignedInterrupt.toFixed(2)} exits each${several ? ": all CPUs' exits ÷ these" : ''})`,
    ),
  ];
}

function cpuLines(r: RunReport): string[] {
  const lines: string[] = [];
  const several = r.cpus.length > 1;
  for (const c of r.cpus) {
    const cpu = `cpu${c.id}`;
    if (r.mode === 'bare-metal') {
      lines.push(
        line(
          `${cpu} time`,
          `OS ${pct(c.time.host)} (in VMX root: no hypervisor), halted ${pct(c.time.haltedHost)}`,
        ),
      );
      continue;
    }
    lines.push(line(`${cpu} time`, cpuTime(c)));
    if (several) lines.push(line(`${cpu} exits/s`, exitsLine(c.exitsPerSecond)));
    lines.push(line(`${cpu} host threads/s`, hostThreads(c)));
    const pollution = byReason(c.exitIndirectCyclesPerExit);
    lines.push(line(`${cpu} pollution/exit`, pollution === '' ? '— (no exits)' : `${pollution} cycles`));
  }
  return lines;
}

function guestLines(r: RunReport): string[] {
  return (r.guests ?? []).map((g) => {
    const about = [g.mode, g.workload].filter((x) => x !== undefined).join(', ');
    const name = `guest${g.index}${about !== '' ? ` (${about})` : ''}`;
    const latency = g.latency === null ? '' : `; latency ${formatLatency(g.latency)}`;
    return line(name, `${g.throughput.value.toFixed(1)} ${g.throughput.unit}${latency}`);
  });
}

/**
 * `exitless run`'s report as text: the figures of one run, a line each. Totals over the
 * machine come first (labelled "all CPUs" when it has several), then each CPU's own figures
 * (labelled `cpuN`), then each guest's; a virtualized run ends with what "exit pollution" is.
 */
export function formatRunReport(r: RunReport): string {
  const bare = r.mode === 'bare-metal';
  const guests = r.guests?.length ?? 1;
  const cpus = r.cpus.length > 1 ? `, ${r.cpus.length} CPUs` : '';
  const lines = [
    `${r.workload} on ${r.mode} (seed ${r.seed}, ${r.durationMs} ms after ${r.warmupMs} ms warm-up, profile ${r.profile}${cpus})`,
    line(
      'throughput',
      `${r.throughput.value.toFixed(1)} ${r.throughput.unit}${guests > 1 ? ' (all guests)' : ''}`,
    ),
  ];
  if (r.latency !== null) {
    lines.push(
      line(
        guests > 1 ? 'latency (guest0)' : 'latency',
        `${formatLatency(r.latency)} (request to response, at the load generator)`,
      ),
    );
  }
  lines.push(...(bare ? bareMetalLines(r) : virtualizedLines(r)));
  lines.push(
    line(
      'network',
      `${r.network.framesReceived} frames received, ${r.network.rxMissed} missed, ${r.network.retransmissions} retransmitted, ${r.network.guestAcks} ACKs sent`,
    ),
  );
  lines.push(...cpuLines(r), ...guestLines(r));
  if (r.stopped !== null) lines.push(`  VM STOPPED: ${r.stopped}`);
  if (r.guestViolations !== undefined) {
    lines.push(`  REFUSED (${r.guestViolations.count}): ${r.guestViolations.first[0] ?? ''}`);
  }
  if (!bare) {
    lines.push(
      '  (exit pollution: guest time spent refilling the caches and TLB entries that an exit and the',
      "   host's work evicted, paid after the next VM entry; it counts in time in guest, not in guest",
      '   work. Pollution/exit: its mean, core cycles, by exit reason)',
    );
  }
  return lines.join('\n');
}
