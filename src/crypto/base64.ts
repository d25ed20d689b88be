/**
 * Strict base64 (RFC 4648 standard alphabet, padded) and base64url (url-safe alphabet, no padding).
 * Both decoders accept only the canonical encoding: the right alphabet, the right padding, no
 * whitespace and zero trailing bits — as Rust's `base64` STANDARD and URL_SAFE_NO_PAD engines do.
 */
import * as Either from "effect/Either"
import { type CryptoFailure, fail } from "./failure.js"

const STANDARD = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/
const URL_SAFE_NO_PAD = /^[A-Za-z0-9_-]*$/

const toBytes = (buffer: Buffer): Uint8Array => new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength)

/** Standard base64 with padding. */
export const encodeBase64 = (bytes: Uint8Array): string =>
  Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64")

/** base64url without padding. */
export const encodeBase64Url = (bytes: Uint8Array): string =>
  Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64url")

/** Decodes canonical standard base64; anything else is an `InvalidBase64` failure. */
export const decodeBase64 = (text: string): Either.Either<Uint8Array, CryptoFailure> => {
  if (!STANDARD.test(text)) return fail("InvalidBase64", "not canonical standard base64 (alphabet or padding)")
  const buffer = Buffer.from(text, "base64")
  // Re-encoding exposes non-zero trailing bits ("AAF=" decodes like "AAE=").
  if (buffer.toString("base64") !== text) return fail("InvalidBase64", "base64 has non-zero trailing bits")
  return Either.right(toBytes(buffer))
}

/** Decodes canonical unpadded base64url; anything else is an `InvalidBase64` failure. */
export const decodeBase64Url = (text: string): Either.Either<Uint8Array, CryptoFailure> => {
  if (!URL_SAFE_NO_PAD.test(text) || text.length % 4 === 1) {
    return fail("InvalidBase64", "not canonical unpadded base64url")
  }
  const buffer = Buffer.from(text, "base64url")
  if (buffer.toString("base64url") !== text) return fail("InvalidBase64", "base64url has non-zero trailing bits")
  return Either.right(toBytes(buffer))
}
