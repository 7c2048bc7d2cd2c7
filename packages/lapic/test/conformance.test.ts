import { describeLocalApicConformance } from '../src/conformance.js';
import { LocalApicDevice } from '../src/index.js';

describeLocalApicConformance('LocalApicDevice', (options) => new LocalApicDevice(options));
