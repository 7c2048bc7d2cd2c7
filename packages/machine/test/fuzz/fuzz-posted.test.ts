import { fuzzMode } from './suite.js';

// On xeon-skylake-sp (fuzzProfile): the default X5570 has no APIC virtualization.
fuzzMode('posted');
