import { fuzzMode } from './suite.js';

fuzzMode('did');
