import { describeNicConformance } from '../src/conformance.js';
import { NIC_82599, SriovNic } from '../src/index.js';

// The package's own NIC must pass the suite it publishes.
describeNicConformance(
  'SriovNic (82599)',
  (o) =>
    new SriovNic(
      o.sim,
      o.dma,
      o.msi,
      o.timing,
      { ...NIC_82599, requesterId: o.requesterId, macAddress: o.macAddress },
      o.stats,
    ),
);
