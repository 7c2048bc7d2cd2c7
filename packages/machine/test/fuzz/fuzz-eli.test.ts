import { fuzzMode } from './suite.js';

fuzzMode('eli');
