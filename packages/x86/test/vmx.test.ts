import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  APIC_REG,
  decodeInterruptionInfo,
  EXCEPTION,
  EXIT_REASON,
  encodeInterruptionInfo,
  exceptionHasErrorCode,
  exitReasonName,
  INTR_TYPE,
  idtErrorCode,
  interruptionInfo,
  MSR,
  msrBitmapPosition,
  setMsrIntercept,
  VMCS_FIELD,
  VMCS_FIELD_TYPE,
  VMCS_FIELD_WIDTH,
  vmcsFieldType,
  vmcsFieldWidth,
  x2apicMsr,
  x2apicOffset,
} from '../src/index.js';

describe('interruption-information format (SDM vol. 3 §24.9.2)', () => {
  it('encodes an acknowledged external interrupt 0x41 as 0x80000041', () => {
    expect(interruptionInfo(0x41, INTR_TYPE.EXTERNAL_INTERRUPT, false)).toBe(0x80000041);
  });

  it('encodes #NP with an error code as 0x80000B0B', () => {
    expect(interruptionInfo(EXCEPTION.NP, INTR_TYPE.HARDWARE_EXCEPTION, true)).toBe(0x80000b0b);
  });

  it('round-trips every field', () => {
    fc.assert(
      fc.property(
        fc.record({
          vector: fc.integer({ min: 0, max: 255 }),
          type: fc.integer({ min: 0, max: 7 }),
          errorCodeValid: fc.boolean(),
          nmiUnblocking: fc.boolean(),
          valid: fc.boolean(),
        }),
        (info) => {
          expect(decodeInterruptionInfo(encodeInterruptionInfo(info))).toEqual(info);
        },
      ),
    );
  });
});

describe('exceptions and IDT error codes (SDM vol. 3 §6.13)', () => {
  it('gives (vector << 3) | IDT | EXT for a fault while delivering an external interrupt', () => {
    expect(idtErrorCode(0x41, true)).toBe(0x20b);
    expect(idtErrorCode(0x41, false)).toBe(0x20a);
  });

  it('knows which exceptions push an error code', () => {
    expect([...Array(32).keys()].filter(exceptionHasErrorCode)).toEqual([8, 10, 11, 12, 13, 14, 17]);
  });
});

describe('VMCS field encodings (SDM vol. 3 appendix B)', () => {
  it('classifies fields by width and type from the encoding', () => {
    expect(vmcsFieldWidth(VMCS_FIELD.PIN_BASED_VM_EXEC_CONTROL)).toBe(VMCS_FIELD_WIDTH.BITS32);
    expect(vmcsFieldType(VMCS_FIELD.PIN_BASED_VM_EXEC_CONTROL)).toBe(VMCS_FIELD_TYPE.CONTROL);
    expect(vmcsFieldType(VMCS_FIELD.VM_EXIT_REASON)).toBe(VMCS_FIELD_TYPE.READ_ONLY_DATA);
    expect(vmcsFieldWidth(VMCS_FIELD.MSR_BITMAP)).toBe(VMCS_FIELD_WIDTH.BITS64);
    expect(vmcsFieldType(VMCS_FIELD.GUEST_IDTR_BASE)).toBe(VMCS_FIELD_TYPE.GUEST_STATE);
    expect(vmcsFieldWidth(VMCS_FIELD.GUEST_IDTR_BASE)).toBe(VMCS_FIELD_WIDTH.NATURAL);
    expect(vmcsFieldType(VMCS_FIELD.HOST_IDTR_BASE)).toBe(VMCS_FIELD_TYPE.HOST_STATE);
    expect(vmcsFieldWidth(VMCS_FIELD.POSTED_INTR_NOTIFICATION_VECTOR)).toBe(VMCS_FIELD_WIDTH.BITS16);
  });

  it('matches the encodings named in the calibration sources', () => {
    expect(VMCS_FIELD.POSTED_INTR_NOTIFICATION_VECTOR).toBe(0x0002);
    expect(VMCS_FIELD.GUEST_INTERRUPT_STATUS).toBe(0x0810);
    expect(VMCS_FIELD.MSR_BITMAP).toBe(0x2004);
    expect(VMCS_FIELD.VIRTUAL_APIC_PAGE_ADDR).toBe(0x2012);
    expect(VMCS_FIELD.APIC_ACCESS_ADDR).toBe(0x2014);
    expect(VMCS_FIELD.POSTED_INTR_DESC_ADDR).toBe(0x2016);
    expect(VMCS_FIELD.EOI_EXIT_BITMAP0).toBe(0x201c);
    expect(VMCS_FIELD.PIN_BASED_VM_EXEC_CONTROL).toBe(0x4000);
    expect(VMCS_FIELD.EXCEPTION_BITMAP).toBe(0x4004);
    expect(VMCS_FIELD.VM_EXIT_CONTROLS).toBe(0x400c);
    expect(VMCS_FIELD.SECONDARY_VM_EXEC_CONTROL).toBe(0x401e);
    expect(VMCS_FIELD.VM_EXIT_INTR_INFO).toBe(0x4404);
    expect(VMCS_FIELD.IDT_VECTORING_INFO).toBe(0x4408);
    expect(VMCS_FIELD.VMX_PREEMPTION_TIMER_VALUE).toBe(0x482e);
    expect(VMCS_FIELD.GUEST_IDTR_BASE).toBe(0x6818);
    expect(VMCS_FIELD.GUEST_IDTR_LIMIT).toBe(0x4812);
  });

  it('names exit reasons', () => {
    expect(exitReasonName(EXIT_REASON.EXTERNAL_INTERRUPT)).toBe('external-interrupt');
    expect(exitReasonName(EXIT_REASON.EXCEPTION_OR_NMI)).toBe('exception-or-nmi');
    expect(exitReasonName(EXIT_REASON.PREEMPTION_TIMER)).toBe('preemption-timer');
    expect(exitReasonName(0x80000021)).toBe('invalid-guest-state');
    expect(exitReasonName(99)).toBe('reason-99');
  });
});

describe('MSR bitmap (SDM vol. 3 §24.6.9) and x2APIC MSRs (§10.12.1.2)', () => {
  it('places the write bit of the x2APIC EOI MSR 0x80B at byte 2048 + 0x101, bit 3', () => {
    expect(x2apicMsr(APIC_REG.EOI)).toBe(MSR.X2APIC_EOI);
    expect(x2apicOffset(0x80b)).toBe(0xb0);
    const pos = msrBitmapPosition(0x80b, true);
    expect(pos >>> 3).toBe(2048 + 0x101);
    expect(pos & 7).toBe(3);
    expect(msrBitmapPosition(0xc0000080, false) >>> 3).toBe(1024 + 0x10);
    expect(msrBitmapPosition(0x4000_0000, false)).toBe(-1);
  });

  it('sets and clears single intercept bits', () => {
    const bm = new Uint8Array(4096).fill(0xff);
    setMsrIntercept(bm, 0x80b, true, false);
    expect(bm[2048 + 0x101]).toBe(0xff & ~(1 << 3));
    expect(bm[0x101]).toBe(0xff);
    setMsrIntercept(bm, 0x80b, true, true);
    expect(bm[2048 + 0x101]).toBe(0xff);
    expect(() => setMsrIntercept(bm, 0x4000_0000, true, true)).toThrow(/no bit/);
  });

  it('maps every xAPIC offset to 0x800 + (offset >> 4) and back', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0x3f }), (i) => {
        const offset = i << 4;
        expect(x2apicOffset(x2apicMsr(offset))).toBe(offset);
      }),
    );
  });
});
