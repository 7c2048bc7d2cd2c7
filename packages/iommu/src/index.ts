/**
 * `@exitless/iommu`: an Intel VT-d remapping unit: DMA remapping, interrupt remapping and
 * posting, its register page and table builders.
 *
 * @module @exitless/iommu
 */
export type {
  ContextEntry,
  FaultRecord,
  Irte,
  PostedInterruptDescriptor,
  PostedIrte,
  RemappedIrte,
  RootEntry,
  SecondLevelEntry,
} from './codecs.js';
export {
  decodeContextEntry,
  decodeFaultRecord,
  decodeIrte,
  decodePostedInterruptDescriptor,
  decodeRootEntry,
  decodeSecondLevelEntry,
  encodeContextEntry,
  encodeIrte,
  encodePostedInterruptDescriptor,
  encodeRootEntry,
  encodeSecondLevelEntry,
  hi32,
  IRTE_POSTED_MODE,
  join64,
  lo32,
  readWords,
  writeEntry128,
  writeWords,
  xapicIrteDestination,
} from './codecs.js';
export type { FaultReason } from './constants.js';
export {
  ADDRESS_WIDTH,
  CAP,
  CCMD,
  ECAP,
  ENTRY128_SIZE,
  FAULT_REASON,
  FECTL,
  FRCD,
  FSTS,
  GCMD,
  GSTS,
  INVALIDATION_GRANULARITY,
  IOTLB_REG,
  IRTA,
  IVA,
  PID,
  PID_SIZE,
  RTADDR,
  SL_PTE,
  SL_PTE_SIZE,
  SQ,
  SVT,
  TRANSLATION_TYPE,
  VTD_REG,
  VTD_REG_PAGE_SIZE,
  VTD_VERSION,
} from './constants.js';
export { IommuConfigError } from './errors.js';
export type { IommuCosts, IommuOptions } from './iommu.js';
export { Iommu } from './iommu.js';
export type { IommuFactory, IommuFactoryOptions, IommuUnderTest } from './part.js';
export type { AttachOptions, Domain, InterruptRemappingSetup, MappingPermissions } from './tables.js';
export {
  DmaRemappingTables,
  enableDmaRemapping,
  enableInterruptRemapping,
  globalCommand,
  InterruptRemappingTable,
  invalidateContextCacheGlobal,
  invalidateIotlb,
  PageAllocator,
  readPostedInterruptDescriptor,
  readRegister64,
  writePostedInterruptDescriptor,
  writeRegister64,
} from './tables.js';
