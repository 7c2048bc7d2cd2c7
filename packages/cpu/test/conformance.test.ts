import { describeCpuConformance } from '../src/conformance.js';
import { Cpu } from '../src/index.js';

// The package's own CPU must pass the suite it publishes.
describeCpuConformance('Cpu', (o) => new Cpu({ id: 0, ...o }));
