// Reading and checking a SETTINGS payload in place. The reader validates a whole frame
// before handing it out, so a caller applying values one by one never sees half of a
// frame that was invalid; it walks the same bytes with the accessors below instead of
// allocating an object per SETTINGS frame (a SETTINGS flood then costs no garbage).
import { H2Code } from "../../types.js";
import { Limit, PayloadLength, SettingId } from "./constants.js";
import type { H2ErrorCode } from "./errors.js";

/** Number of (identifier, value) entries in a validated SETTINGS payload. */
export function settingsCount(params: Buffer): number {
  return (params.length / PayloadLength.SETTING_ENTRY) | 0;
}

/** Identifier of entry `i` (unknown identifiers are passed through: callers ignore them). */
export function settingId(params: Buffer, i: number): number {
  return params.readUInt16BE(i * PayloadLength.SETTING_ENTRY);
}

/** Value of entry `i`, an unsigned 32-bit integer. */
export function settingValue(params: Buffer, i: number): number {
  return params.readUInt32BE(i * PayloadLength.SETTING_ENTRY + 2);
}

/** Calls `fn` for each entry in order; later entries for the same id override earlier ones. */
export function forEachSetting(params: Buffer, fn: (id: number, value: number) => void): void {
  const n = settingsCount(params);
  for (let i = 0; i < n; i++) fn(settingId(params, i), settingValue(params, i));
}

export interface SettingProblem {
  readonly code: H2ErrorCode;
  readonly message: string;
}

/**
 * Checks one received value against section 6.5.2 (and RFCs 8441 / 9218 for their
 * boolean settings). `fromServer` is true when we are the client: a server may only
 * ever send ENABLE_PUSH 0.
 */
export function checkSetting(id: number, value: number, fromServer: boolean): SettingProblem | undefined {
  switch (id) {
    case SettingId.ENABLE_PUSH:
      if (value > 1) return { code: H2Code.PROTOCOL_ERROR, message: `SETTINGS_ENABLE_PUSH must be 0 or 1, got ${value}` };
      if (fromServer && value === 1) {
        return { code: H2Code.PROTOCOL_ERROR, message: "a server sent SETTINGS_ENABLE_PUSH 1" };
      }
      return undefined;
    case SettingId.INITIAL_WINDOW_SIZE:
      if (value > Limit.MAX_WINDOW_SIZE) {
        return {
          code: H2Code.FLOW_CONTROL_ERROR,
          message: `SETTINGS_INITIAL_WINDOW_SIZE above 2^31-1: ${value}`,
        };
      }
      return undefined;
    case SettingId.MAX_FRAME_SIZE:
      if (value < Limit.MIN_MAX_FRAME_SIZE || value > Limit.MAX_MAX_FRAME_SIZE) {
        return {
          code: H2Code.PROTOCOL_ERROR,
          message: `SETTINGS_MAX_FRAME_SIZE outside 16384..16777215: ${value}`,
        };
      }
      return undefined;
    case SettingId.ENABLE_CONNECT_PROTOCOL:
    case SettingId.NO_RFC7540_PRIORITIES:
      if (value > 1) return { code: H2Code.PROTOCOL_ERROR, message: `SETTINGS 0x${id.toString(16)} must be 0 or 1, got ${value}` };
      return undefined;
    default:
      // HEADER_TABLE_SIZE, MAX_CONCURRENT_STREAMS, MAX_HEADER_LIST_SIZE take any u32;
      // unknown identifiers MUST be ignored (section 6.5.2).
      return undefined;
  }
}

/** First problem in a SETTINGS payload of `length` octets (a multiple of 6) at `offset`. */
export function checkSettings(buf: Buffer, offset: number, length: number, fromServer: boolean): SettingProblem | undefined {
  for (let p = offset, end = offset + length; p < end; p += PayloadLength.SETTING_ENTRY) {
    const problem = checkSetting(buf.readUInt16BE(p), buf.readUInt32BE(p + 2), fromServer);
    if (problem !== undefined) return problem;
  }
  return undefined;
}
