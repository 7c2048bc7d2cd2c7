import { describeNicConformance } from '../src/conformance.js';
import { sriovNic82599 } from '../src/index.js';

// The package's own NIC must pass the suite it publishes.
describeNicConformance('SriovNic (82599)', sriovNic82599);
