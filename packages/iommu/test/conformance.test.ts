import { describeIommuConformance } from '../src/conformance.js';
import { Iommu } from '../src/index.js';
import { COSTS } from './helpers.js';

// Interrupt messages delivered synchronously inside msiWrite.
describeIommuConformance('Iommu (synchronous delivery)', ({ memory, interruptSink, stats }) => {
  return new Iommu({
    memory,
    interruptSink,
    stats,
    costs: COSTS,
    iotlbEntries: 8,
    faultRecordingRegisters: 4,
  });
});

// Interrupt messages delivered on the simulator after the remapping latency.
describeIommuConformance(
  'Iommu (delivery after the remapping latency)',
  ({ memory, interruptSink, stats, sim }) => {
    return new Iommu({
      memory,
      interruptSink,
      stats,
      simulator: sim,
      costs: COSTS,
      iotlbEntries: 1,
      faultRecordingRegisters: 1,
    });
  },
);
