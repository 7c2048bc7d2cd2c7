/**
 * A machine file (YAML) loaded, run, and written back as JSON. The machine README's
 * "Machine files".
 *
 *   node --conditions=source --import tsx examples/packages/machine-file.ts
 */
import { fileURLToPath } from 'node:url';
import { isDeepStrictEqual } from 'node:util';
import {
  formatMachineFile,
  loadMachineFile,
  Machine,
  type MachineConfig,
  parseMachineFile,
  type RunReport,
  runMachine,
} from '@exitless/machine';
import { type ExampleOptions, exampleRun, isMain } from '../common.js';

/** `examples/machines/two-guests.yaml`, wherever the program runs from. */
const twoGuestsYaml = fileURLToPath(new URL('../machines/two-guests.yaml', import.meta.url));

export function main(options: ExampleOptions = {}): {
  readonly config: MachineConfig;
  readonly report: RunReport;
  readonly json: string;
  readonly parsedBack: MachineConfig;
} {
  const { run, log } = exampleRun(options);
  const config = loadMachineFile(twoGuestsYaml); // a MachineConfig
  const report = runMachine(new Machine(config), run);
  log(`guests' modes: ${report.guests?.map((g) => g.mode).join(', ')}`);
  const json = formatMachineFile(config, 'json'); // and back:
  const parsedBack = parseMachineFile(json, { format: 'json' }); // deep-equals config
  log(`as JSON: ${json.length} characters; read back the same: ${isDeepStrictEqual(parsedBack, config)}`);
  return { config, report, json, parsedBack };
}

if (isMain(import.meta.url)) main();
