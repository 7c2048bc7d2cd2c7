import { describe, expect, it } from 'vitest';
import type { ReproduceEntry } from '../src/format.js';
import { reproduce } from '../src/reproduce.js';
import { contents, tempDirs } from './temp-dirs.js';

const tempDir = tempDirs('latency-cdf');

describe('exitless reproduce: the latency CDF chart', () => {
  it('writes latency-cdf.svg from the reports’ latency.cdf, leaves out TCP_STREAM, and links it in results.md', async () => {
    const dir = await tempDir();
    const result = await reproduce({
      workloads: ['netperf-tcp-stream', 'netperf-udp-rr'],
      modes: ['bare-metal', 'baseline'],
      durationMs: 2,
      warmupMs: 1,
      seed: 3,
      outDir: dir,
      jobs: 1,
    });
    expect(result.failures).toEqual([]);
    expect(result.files.map((f) => f.slice(dir.length + 1))).toContain('latency-cdf.svg');
    const files = await contents(dir);
    const svg = files['latency-cdf.svg']!;
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg).toContain('>Round-trip latency CDF<');
    expect(svg).toContain('>netperf-udp-rr<');
    expect(svg).toContain('no latency measured, not drawn: netperf-tcp-stream');
    expect(svg).toContain('>bare-metal<');
    expect(svg).toContain('>baseline<');
    expect(files['results.md']).toContain('![Round-trip latency CDF](latency-cdf.svg)');
    // What the chart draws is in results.json: the UDP_RR runs' CDFs, from 0 to 100.
    const json = JSON.parse(files['results.json']!) as ReproduceEntry[];
    const udp = json.filter((r) => r.workload === 'netperf-udp-rr');
    expect(udp).toHaveLength(2);
    for (const r of udp) {
      const cdf = r.latency!.cdf;
      expect(cdf[0]!.percentile).toBe(0);
      expect(cdf.at(-1)!.percentile).toBe(100);
      expect(cdf.find((p) => p.percentile === 50)!.value).toBe(r.latency!.p50);
    }
  });
});
