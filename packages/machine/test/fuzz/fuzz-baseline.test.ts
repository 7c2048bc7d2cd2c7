import { fuzzMode } from './suite.js';

fuzzMode('baseline');
