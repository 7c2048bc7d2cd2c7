import { fuzzMode } from './suite.js';

fuzzMode('pv-eoi');
