/**
 * The portable Ed25519 operations (@noble/curves): RFC 8032 signatures and strict verification, the
 * curve check of an `ssh-ed25519` key and its SHA256 fingerprint. The key encodings live in `keys.ts`
 * and are re-exported here; `native.ts` has the same signatures on node:crypto.
 */
import { ed25519 } from "@noble/curves/ed25519.js"
import { bytesToNumberLE } from "@noble/curves/utils.js"
import { sha256, sha512 } from "@noble/hashes/sha2.js"
import { concatBytes } from "@noble/hashes/utils.js"
import * as Either from "effect/Either"
import { decodeBase64, encodeBase64 } from "./base64.js"
import { type CryptoFailure, fail } from "./failure.js"
import { type Ed25519Key, equalBytes, sshPublicKeyBlob } from "./keys.js"

export * from "./keys.js"

const SEED_LENGTH = 32
const SSH_KEY_TYPE = "ssh-ed25519"
const SSH_PREFIX = `${SSH_KEY_TYPE} `
const SSH_BLOB_LENGTH = 51
const SSH_KEY_TYPE_BYTES = new TextEncoder().encode(SSH_KEY_TYPE)

/** Parses a strict `ssh-ed25519 <blob>` line (no comment) to the 32-byte public key. */
export const parseSshPublicKey = (text: string): Either.Either<Uint8Array, CryptoFailure> => {
  const bad = (reason: string) => fail("InvalidPublicKey", `not a valid ssh-ed25519 public key: ${reason}`)
  if (!text.startsWith(SSH_PREFIX)) return bad("key type is not ssh-ed25519")
  const encoded = text.slice(SSH_PREFIX.length)
  if (/\s/.test(encoded)) return bad("unexpected whitespace or comment")
  const decoded = decodeBase64(encoded)
  if (Either.isLeft(decoded)) return bad("blob is not canonical base64")
  const blob = decoded.right
  if (blob.length !== SSH_BLOB_LENGTH) return bad(`blob must be ${SSH_BLOB_LENGTH} bytes, found ${blob.length}`)
  const view = new DataView(blob.buffer, blob.byteOffset, blob.byteLength)
  if (view.getUint32(0) !== SSH_KEY_TYPE.length || !equalBytes(blob.subarray(4, 15), SSH_KEY_TYPE_BYTES)) {
    return bad("blob names another key type")
  }
  if (view.getUint32(15) !== SEED_LENGTH) return bad("key length field must be 32")
  const publicKey = blob.slice(19)
  try {
    ed25519.Point.fromBytes(publicKey, false)
  } catch {
    return bad("not a point on the Ed25519 curve")
  }
  return Either.right(publicKey)
}

/** The OpenSSH SHA256 fingerprint of a public key: `SHA256:` + unpadded base64 of SHA-256(blob). */
export const sshFingerprint = (publicKey: Uint8Array): string =>
  "SHA256:" + encodeBase64(sha256(sshPublicKeyBlob(publicKey))).replace(/=+$/, "")

/** Pure Ed25519 (RFC 8032) over `message`. */
export const sign = (key: Pick<Ed25519Key, "seed">, message: Uint8Array): Uint8Array => ed25519.sign(message, key.seed)

/** An Ed25519 key expanded once for signing: SHA-512 of the seed split into scalar and prefix, and A. */
export interface ExpandedKey {
  readonly scalar: bigint
  readonly prefix: Uint8Array
  readonly pointBytes: Uint8Array
}

/** Expands a key for repeated signing (what `sign` recomputes every time). */
export const expandKey = (key: Pick<Ed25519Key, "seed">): ExpandedKey => {
  const { pointBytes, prefix, scalar } = ed25519.utils.getExtendedPublicKey(key.seed)
  return { scalar, prefix, pointBytes }
}

const Fn = ed25519.Point.Fn
const hashToScalar = (...parts: ReadonlyArray<Uint8Array>): bigint => Fn.create(bytesToNumberLE(sha512(concatBytes(...parts))))

/**
 * RFC 8032 signing from an expanded key: r = H(prefix ‖ M), R = rB, k = H(R ‖ A ‖ M), S = r + k·s mod L.
 * Byte-identical to `sign` (Ed25519 is deterministic), without re-deriving the key for each message.
 */
export const signExpanded = (key: ExpandedKey, message: Uint8Array): Uint8Array => {
  const r = hashToScalar(key.prefix, message)
  const R = ed25519.Point.BASE.multiply(r).toBytes()
  const k = hashToScalar(R, key.pointBytes, message)
  return concatBytes(R, Fn.toBytes(Fn.create(r + k * key.scalar)))
}

/** Strict RFC 8032 verification (canonical encodings, S < L); malformed inputs verify as false. */
export const verify = (publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean => {
  try {
    return ed25519.verify(signature, message, publicKey, { zip215: false })
  } catch {
    return false
  }
}
