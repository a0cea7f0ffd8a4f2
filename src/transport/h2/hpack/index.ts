// RFC 7541 HPACK for sluice's frame-level HTTP/2 transport.
export { HpackDecoder, type DynamicTableView, type FieldCallback, type HeaderField, type HpackDecoderOptions } from "./decoder.js";
export { DEFAULT_UNINDEXED_NAMES, encodeStatic, HpackEncoder, type FieldInput, type HpackEncoderOptions } from "./encoder.js";
export { HpackError, type HpackErrorReason } from "./errors.js";
