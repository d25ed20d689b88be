/**
 * Ed25519 on node:crypto (OpenSSL): the same RFC 8032 signatures as the portable functions in
 * `ed25519.ts`, several times faster, with one key object per key. Verification keeps the strict
 * rules of `ed25519.verify` (see `verifyNative`). No curve arithmetic in JavaScript, so a process that
 * only signs loads no curve library.
 */
import { createPublicKey, type KeyObject, sign as nodeSign, verify as nodeVerify } from "node:crypto"
import { encodeBase64Url } from "./base64.js"
import { type Ed25519Key, privateKeyObject } from "./keys.js"

/** Pure Ed25519 (RFC 8032) over `message` with node:crypto; byte-identical to `ed25519.sign`. */
export const signNative = (key: Pick<Ed25519Key, "seed">, message: Uint8Array): Uint8Array =>
  nodeSign(null, message, privateKeyObject(key))

// L, the order of the base point, little-endian: a signature's S must be below it (RFC 8032 5.1.7).
const ORDER = Uint8Array.from(Buffer.from("edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010", "hex"))

/** Whether the 32 little-endian bytes at `offset` are a number below L. */
const belowOrder = (bytes: Uint8Array, offset: number): boolean => {
  for (let i = 31; i >= 0; i--) {
    const a = bytes[offset + i]!
    const b = ORDER[i]!
    if (a !== b) return a < b
  }
  return false
}

/** Whether an encoded point's y (the sign bit cleared) is below p = 2^255 - 19. */
const canonicalY = (point: Uint8Array): boolean => {
  if ((point[31]! & 0x7f) !== 0x7f) return true
  for (let i = 30; i > 0; i--) if (point[i] !== 0xff) return true
  return point[0]! < 0xed
}

// The canonical encodings (sign bit cleared) of the points of order 1, 2, 4 and 8, as libsodium lists them.
const SMALL_ORDER = [
  "0000000000000000000000000000000000000000000000000000000000000000",
  "0100000000000000000000000000000000000000000000000000000000000000",
  "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
  "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
  "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"
].map((text) => Uint8Array.from(Buffer.from(text, "hex")))

const smallOrder = (point: Uint8Array): boolean =>
  SMALL_ORDER.some((candidate) => {
    for (let i = 0; i < 31; i++) if (candidate[i] !== point[i]) return false
    return candidate[31] === (point[31]! & 0x7f)
  })

/**
 * Whether a public key passes the checks OpenSSL does not make and `ed25519.verify` (strict) does:
 * 32 bytes, a canonical y, not a point of small order. Checked once per key by `nativeVerifier`.
 */
export const acceptablePublicKey = (publicKey: Uint8Array): boolean =>
  publicKey.length === 32 && canonicalY(publicKey) && !smallOrder(publicKey)

/** The node:crypto public key object of a raw Ed25519 public key; undefined when OpenSSL refuses it. */
export const publicKeyObject = (publicKey: Uint8Array): KeyObject | undefined => {
  try {
    return createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x: encodeBase64Url(publicKey) }, format: "jwk" })
  } catch {
    return undefined
  }
}

/**
 * Verifies with an already checked key object: a 64-byte signature whose S is below L, then OpenSSL.
 * OpenSSL re-encodes R and compares bytes, so a non-canonical R fails as in strict mode.
 */
const verifyWithKeyObject = (keyObject: KeyObject, message: Uint8Array, signature: Uint8Array): boolean => {
  if (signature.length !== 64 || !belowOrder(signature, 32)) return false
  try {
    return nodeVerify(null, message, keyObject, signature)
  } catch {
    return false
  }
}

/**
 * Strict RFC 8032 verification on node:crypto: malformed inputs, S >= L, a non-canonical or
 * small-order public key and a non-canonical R verify as false, as with `ed25519.verify`. OpenSSL
 * checks the cofactorless equation, `ed25519.verify` the cofactored one: they agree on every key made
 * from a seed; for a crafted key with a small-order component this one accepts less, never more.
 */
export const verifyNative = (publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean => {
  if (!acceptablePublicKey(publicKey)) return false
  const keyObject = publicKeyObject(publicKey)
  return keyObject !== undefined && verifyWithKeyObject(keyObject, message, signature)
}

/**
 * `verifyNative` keeping the key object (or the refusal) of up to `capacity` public keys, so that a
 * server verifying many assertions of the same agents imports each key once. The oldest entries go
 * first when it is full.
 */
export const nativeVerifier = (capacity = 4096): (publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array) => boolean => {
  const keyObjects = new Map<string, KeyObject | null>()
  return (publicKey, message, signature) => {
    if (publicKey.length !== 32) return false
    const id = Buffer.from(publicKey.buffer, publicKey.byteOffset, 32).toString("latin1")
    let keyObject = keyObjects.get(id)
    if (keyObject === undefined) {
      keyObject = acceptablePublicKey(publicKey) ? publicKeyObject(publicKey) ?? null : null
      if (keyObjects.size >= capacity) keyObjects.delete(keyObjects.keys().next().value!)
      keyObjects.set(id, keyObject)
    }
    return keyObject !== null && verifyWithKeyObject(keyObject, message, signature)
  }
}
