// HPACK decoding errors. The transport answers every HpackError with a connection error
// COMPRESSION_ERROR (RFC 9113 section 4.3), except where `tableInSync` says the decoder
// finished the block and its dynamic table still matches the peer's encoder: then a
// stream-level refusal (e.g. an oversized header list) is enough.
import { ErrorCode, SluiceError } from "../../../core/errors.js";

/** Why a header block was rejected; one value per test case in the malformed-input table. */
export type HpackErrorReason =
  | "truncated" // the block ends inside an integer or a string
  | "integer_overflow" // a prefix integer does not fit in 31 bits
  | "index_zero" // indexed field or name with index 0
  | "index_out_of_range" // index beyond the static + dynamic tables
  | "huffman_eos" // the EOS symbol inside a Huffman string
  | "huffman_padding" // padding longer than 7 bits or not all ones
  | "size_update_too_large" // dynamic table size update above our SETTINGS_HEADER_TABLE_SIZE
  | "size_update_not_at_start" // dynamic table size update after a field
  | "size_update_missing" // we lowered the limit and the block did not start with an update
  | "too_many_size_updates" // more than the two RFC 7541 section 4.2 allows
  | "string_too_long" // a name or value longer than the configured maximum
  | "header_list_too_large" // sum of 32 + name + value over the configured maximum
  | "decoder_failed"; // a previous error left this decoder unusable

export class HpackError extends SluiceError {
  override readonly name = "HpackError";
  readonly code = ErrorCode.HPACK;
  constructor(
    readonly reason: HpackErrorReason,
    message: string,
    /** True when the whole block was decoded and the dynamic table is still usable. */
    readonly tableInSync = false,
  ) {
    super(`HPACK ${reason}: ${message}`);
  }
}
