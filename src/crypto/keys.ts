/**
 * Ed25519 key material as Codex stores and sends it, without any curve arithmetic in JavaScript: a
 * 32-byte seed from the CSPRNG, PKCS#8 DER (written as the 83-byte v2 OneAsymmetricKey that
 * ed25519-dalek emits, read as v1 or v2), the `ssh-ed25519` public key, and the node:crypto key
 * object of a seed. Public keys are derived by OpenSSL. `ed25519.ts` adds the portable (noble) curve
 * operations on top; the CLI's header path loads only this module.
 */
import { randomBytes } from "@noble/hashes/utils.js"
import * as Either from "effect/Either"
import { createHash, createPrivateKey, createPublicKey, type KeyObject } from "node:crypto"
import { decodeBase64, encodeBase64, encodeBase64Url } from "./base64.js"
import { type CryptoFailure, fail } from "./failure.js"

/** A parsed Ed25519 key: the RFC 8032 seed and the public key derived from it. */
export interface Ed25519Key {
  readonly seed: Uint8Array
  readonly publicKey: Uint8Array
}

/** Which PKCS#8 form a stored key was read from. */
export type Pkcs8Version = 1 | 2

const SEED_LENGTH = 32
const V1_PREFIX = Uint8Array.of(0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20)
const V2_PREFIX = Uint8Array.of(0x30, 0x51, 0x02, 0x01, 0x01, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20)
const V2_PUBLIC_KEY_TAG = Uint8Array.of(0x81, 0x21, 0x00)
const ED25519_OID = Uint8Array.of(0x2b, 0x65, 0x70)
const SSH_KEY_TYPE = "ssh-ed25519"
const SSH_PREFIX = `${SSH_KEY_TYPE} `
const SSH_BLOB_LENGTH = 51
const SSH_KEY_TYPE_BYTES = new TextEncoder().encode(SSH_KEY_TYPE)

/** Constant-time equality of two byte arrays. */
export const equalBytes = (a: Uint8Array, b: Uint8Array): boolean => {
  if (a.length !== b.length) return false
  let diff = 0
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!
  return diff === 0
}

const concat = (...parts: ReadonlyArray<Uint8Array>): Uint8Array => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let offset = 0
  for (const part of parts) {
    out.set(part, offset)
    offset += part.length
  }
  return out
}

const SEED_DOMAIN = new TextEncoder().encode("codex-agent-identity-ed25519-v1")

/** Codex's key derivation: SHA-512("codex-agent-identity-ed25519-v1" ‖ 64 bytes of entropy), its first 32 bytes. */
export const seedFromEntropy = (entropy: Uint8Array): Uint8Array =>
  Uint8Array.from(createHash("sha512").update(SEED_DOMAIN).update(entropy).digest().subarray(0, SEED_LENGTH))

/** A fresh 32-byte Ed25519 seed, derived as Codex derives it from 64 bytes of the platform CSPRNG. */
export const generateSeed = (): Uint8Array => seedFromEntropy(randomBytes(64))

// node:crypto reads a private JWK's `d` and derives the public key itself; it requires an `x` string
// but does not read it, so a key whose public half is not known yet is imported with this placeholder.
// Should a Node version insist on a matching `x`, the import throws and the DER path below is taken.
const PLACEHOLDER_X = "A".repeat(43)

/** One node:crypto private key object per seed array, made when the key is first derived or used. */
const keyObjects = new WeakMap<Uint8Array, KeyObject>()

const importSeed = (seed: Uint8Array): KeyObject => {
  try {
    return createPrivateKey({ key: { kty: "OKP", crv: "Ed25519", d: encodeBase64Url(seed), x: PLACEHOLDER_X }, format: "jwk" })
  } catch {
    // OpenSSL's DER decoder is about 15 times slower than a raw-key import, but reads v1 on every version.
    return createPrivateKey({ key: Buffer.from(encodePkcs8V1({ seed })), format: "der", type: "pkcs8" })
  }
}

/**
 * The node:crypto private key object of a key, made once per seed array and kept while the array
 * lives (a JWK import: OpenSSL 3.0's DER decoder is slow, and before 3.5 it cannot read the v2 PKCS#8
 * Codex writes, docs/PROTOCOL.md).
 */
export const privateKeyObject = (key: Pick<Ed25519Key, "seed">): KeyObject => {
  let keyObject = keyObjects.get(key.seed)
  if (keyObject === undefined) {
    if (key.seed.length !== SEED_LENGTH) throw new RangeError(`an Ed25519 seed is ${SEED_LENGTH} bytes, got ${key.seed.length}`)
    keyObject = importSeed(key.seed)
    keyObjects.set(key.seed, keyObject)
  }
  return keyObject
}

/**
 * The Ed25519 public key of a 32-byte seed, derived by OpenSSL (the same RFC 8032 bytes as noble's
 * `ed25519.getPublicKey` and libsodium, which the tests check). The key object made for it is kept
 * for signing with the same seed array, so a parsed key costs one import in all.
 */
export const publicKeyFromSeed = (seed: Uint8Array): Uint8Array => {
  const jwk = createPublicKey(privateKeyObject({ seed })).export({ format: "jwk" })
  return Uint8Array.from(Buffer.from(jwk.x!, "base64url"))
}

/** A key from a 32-byte seed. */
export const keyFromSeed = (seed: Uint8Array): Ed25519Key => ({ seed, publicKey: publicKeyFromSeed(seed) })

/** A fresh random key. */
export const generateKey = (): Ed25519Key => keyFromSeed(generateSeed())

/** PKCS#8 v2 (RFC 5958 OneAsymmetricKey, 83 bytes): byte-identical to what Codex writes. */
export const encodePkcs8V2 = (key: Ed25519Key): Uint8Array =>
  concat(V2_PREFIX, key.seed, V2_PUBLIC_KEY_TAG, key.publicKey)

/** PKCS#8 v1 (48 bytes): what OpenSSL and node:crypto write. */
export const encodePkcs8V1 = (key: Pick<Ed25519Key, "seed">): Uint8Array => concat(V1_PREFIX, key.seed)

interface Tlv {
  readonly tag: number
  readonly start: number
  readonly end: number
}

/** Reads one DER TLV at `offset`, insisting on minimal length encoding and staying inside `limit`. */
const readTlv = (der: Uint8Array, offset: number, limit: number): Tlv | string => {
  if (offset + 2 > limit) return "truncated DER"
  const tag = der[offset]!
  let length = der[offset + 1]!
  let start = offset + 2
  if (length & 0x80) {
    const count = length & 0x7f
    if (count === 0 || count > 2) return "unsupported DER length encoding"
    if (start + count > limit) return "truncated DER"
    length = 0
    for (let i = 0; i < count; i++) length = (length << 8) | der[start + i]!
    start += count
    if (length < 0x80 || (count === 2 && length < 0x100)) return "non-minimal DER length"
  }
  const end = start + length
  if (end > limit) return "truncated DER: a length runs past the end"
  return { tag, start, end }
}

/**
 * Decodes a PKCS#8 Ed25519 private key, v1 (no public key) or v2 (with the public key, which must
 * match the seed). Rejects other algorithms, parameters, wrong lengths and trailing bytes.
 */
export const decodePkcs8 = (
  der: Uint8Array
): Either.Either<Ed25519Key & { readonly version: Pkcs8Version }, CryptoFailure> => {
  const bad = (reason: string) => fail("InvalidPrivateKey", `stored agent identity private key is not valid PKCS#8: ${reason}`)
  const outer = readTlv(der, 0, der.length)
  if (typeof outer === "string") return bad(outer)
  if (outer.tag !== 0x30) return bad("not a DER SEQUENCE")
  if (outer.end !== der.length) return bad("trailing bytes after the PrivateKeyInfo")

  const version = readTlv(der, outer.start, outer.end)
  if (typeof version === "string") return bad(version)
  if (version.tag !== 0x02 || version.end - version.start !== 1) return bad("version is not a one-byte INTEGER")
  const versionNumber = der[version.start]!
  if (versionNumber !== 0 && versionNumber !== 1) return bad(`unsupported version ${versionNumber}`)

  const algorithm = readTlv(der, version.end, outer.end)
  if (typeof algorithm === "string") return bad(algorithm)
  if (algorithm.tag !== 0x30) return bad("algorithm identifier is not a SEQUENCE")
  const oid = readTlv(der, algorithm.start, algorithm.end)
  if (typeof oid === "string") return bad(oid)
  if (oid.tag !== 0x06 || !equalBytes(der.subarray(oid.start, oid.end), ED25519_OID)) {
    return bad("algorithm is not Ed25519 (OID 1.3.101.112)")
  }
  if (oid.end !== algorithm.end) return bad("Ed25519 algorithm parameters must be absent")

  const privateKey = readTlv(der, algorithm.end, outer.end)
  if (typeof privateKey === "string") return bad(privateKey)
  if (privateKey.tag !== 0x04) return bad("private key is not an OCTET STRING")
  const inner = readTlv(der, privateKey.start, privateKey.end)
  if (typeof inner === "string") return bad(inner)
  if (inner.tag !== 0x04 || inner.end !== privateKey.end) return bad("private key is not a nested OCTET STRING")
  if (inner.end - inner.start !== SEED_LENGTH) return bad(`private key must be 32 bytes, found ${inner.end - inner.start}`)
  const seed = der.slice(inner.start, inner.end)
  const publicKey = publicKeyFromSeed(seed)

  let offset = privateKey.end
  if (offset === outer.end) {
    if (versionNumber === 1) return bad("a version 2 key must carry its public key")
    return Either.right({ seed, publicKey, version: 1 })
  }
  const field = readTlv(der, offset, outer.end)
  if (typeof field === "string") return bad(field)
  if (field.tag === 0xa0) return bad("PKCS#8 attributes are not supported")
  if (field.tag !== 0x81) return bad("unexpected field after the private key")
  if (versionNumber === 0) return bad("a version 1 key must not carry a public key")
  if (field.end - field.start !== SEED_LENGTH + 1 || der[field.start] !== 0) {
    return bad("public key must be a 32-byte BIT STRING")
  }
  if (!equalBytes(der.subarray(field.start + 1, field.end), publicKey)) {
    return bad("embedded public key does not match the private key")
  }
  offset = field.end
  if (offset !== outer.end) return bad("unexpected field after the public key")
  return Either.right({ seed, publicKey, version: 2 })
}

/** The stored form of a private key: PKCS#8 v2, standard base64 (112 characters). */
export const encodePrivateKeyBase64 = (key: Ed25519Key): string => encodeBase64(encodePkcs8V2(key))

/** Decodes a stored private key (strict base64, then PKCS#8 v1 or v2). */
export const decodePrivateKeyBase64 = (
  text: string
): Either.Either<Ed25519Key & { readonly version: Pkcs8Version }, CryptoFailure> => {
  const der = decodeBase64(text)
  return Either.isLeft(der)
    ? fail("InvalidPrivateKey", "stored agent identity private key is not valid base64")
    : decodePkcs8(der.right)
}

/** The 51-byte SSH wire blob: u32(11) "ssh-ed25519" u32(32) public key. */
export const sshPublicKeyBlob = (publicKey: Uint8Array): Uint8Array => {
  const blob = new Uint8Array(SSH_BLOB_LENGTH)
  const view = new DataView(blob.buffer)
  view.setUint32(0, SSH_KEY_TYPE.length)
  blob.set(SSH_KEY_TYPE_BYTES, 4)
  view.setUint32(15, SEED_LENGTH)
  blob.set(publicKey, 19)
  return blob
}

/** `ssh-ed25519 <base64 blob>`, no comment: exactly what Codex sends as `agent_public_key`. */
export const encodeSshPublicKey = (publicKey: Uint8Array): string => SSH_PREFIX + encodeBase64(sshPublicKeyBlob(publicKey))
