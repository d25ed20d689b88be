/**
 * libsodium sealed boxes (`crypto_box_seal`): `ephemeral pk (32) ‖ MAC (16) ‖ ciphertext`, nonce
 * BLAKE2b-24(epk ‖ recipient pk), key HSalsa20(X25519(...)), XSalsa20-Poly1305. The recipient's
 * X25519 keys are derived from its Ed25519 seed and public key, as libsodium converts them. The
 * X25519 step runs on @noble/curves (portable) or on node:crypto (`openSealedTaskIdNative`).
 */
import { hsalsa, xsalsa20poly1305 } from "@noble/ciphers/salsa.js"
import { u32 } from "@noble/ciphers/utils.js"
import { ed25519, x25519 } from "@noble/curves/ed25519.js"
import { blake2b } from "@noble/hashes/blake2.js"
import * as Either from "effect/Either"
import { createHash, createPrivateKey, createPublicKey, diffieHellman, type KeyObject } from "node:crypto"
import { decodeBase64, encodeBase64, encodeBase64Url } from "./base64.js"
import type { Ed25519Key } from "./keys.js"
import { type CryptoFailure, fail } from "./failure.js"

const PUBLIC_KEY_LENGTH = 32
const SEAL_OVERHEAD = 48
const SIGMA = u32(new TextEncoder().encode("expand 32-byte k"))
const strictUtf8 = new TextDecoder("utf-8", { fatal: true })

/** `crypto_sign_ed25519_sk_to_curve25519`: clamp(SHA-512(seed)[0..32]). */
export const x25519SecretFromSeed = (seed: Uint8Array): Uint8Array => ed25519.utils.toMontgomerySecret(seed)

/** `crypto_sign_ed25519_pk_to_curve25519`: the birational map to Montgomery form. */
export const x25519PublicFromEd25519 = (publicKey: Uint8Array): Uint8Array => ed25519.utils.toMontgomery(publicKey)

/** NaCl `crypto_box_beforenm`: HSalsa20 of the X25519 shared secret with a zero nonce. */
const boxKey = (secret: Uint8Array, publicKey: Uint8Array): Uint8Array =>
  boxKeyOfShared(Uint8Array.from(x25519.getSharedSecret(secret, publicKey)))

const boxKeyOfShared = (shared: Uint8Array): Uint8Array => {
  const out = new Uint32Array(8)
  hsalsa(SIGMA, u32(shared), new Uint32Array(4), out)
  return new Uint8Array(out.buffer)
}

const sealNonce = (ephemeralPublic: Uint8Array, recipientPublic: Uint8Array): Uint8Array => {
  const input = new Uint8Array(PUBLIC_KEY_LENGTH * 2)
  input.set(ephemeralPublic, 0)
  input.set(recipientPublic, PUBLIC_KEY_LENGTH)
  return blake2b(input, { dkLen: 24 })
}

/** Seals `plaintext` to an X25519 public key; `ephemeralSecret` is random unless given (tests). */
export const sealBox = (
  plaintext: Uint8Array,
  recipientPublic: Uint8Array,
  ephemeralSecret: Uint8Array = x25519.utils.randomSecretKey()
): Uint8Array => {
  const ephemeralPublic = x25519.getPublicKey(ephemeralSecret)
  const sealed = xsalsa20poly1305(boxKey(ephemeralSecret, recipientPublic), sealNonce(ephemeralPublic, recipientPublic))
    .encrypt(plaintext)
  const out = new Uint8Array(PUBLIC_KEY_LENGTH + sealed.length)
  out.set(ephemeralPublic, 0)
  out.set(sealed, PUBLIC_KEY_LENGTH)
  return out
}

/** `crypto_box_seal_open` with the X25519 shared secret computed by `shared` from the ephemeral key. */
const openWith = (
  box: Uint8Array,
  recipientPublic: Uint8Array,
  shared: (ephemeralPublic: Uint8Array) => Uint8Array
): Either.Either<Uint8Array, CryptoFailure> => {
  if (box.length < SEAL_OVERHEAD) return fail("Decrypt", "sealed box is shorter than 48 bytes")
  const ephemeralPublic = box.subarray(0, PUBLIC_KEY_LENGTH)
  try {
    const key = boxKeyOfShared(shared(ephemeralPublic))
    return Either.right(
      xsalsa20poly1305(key, sealNonce(ephemeralPublic, recipientPublic)).decrypt(box.slice(PUBLIC_KEY_LENGTH))
    )
  } catch {
    return fail("Decrypt", "failed to decrypt encrypted task id")
  }
}

/** `crypto_box_seal_open`: any tampering, truncation or wrong key is a `Decrypt` failure. */
export const openSealedBox = (
  box: Uint8Array,
  recipientSecret: Uint8Array,
  recipientPublic: Uint8Array
): Either.Either<Uint8Array, CryptoFailure> =>
  openWith(box, recipientPublic, (ephemeralPublic) => Uint8Array.from(x25519.getSharedSecret(recipientSecret, ephemeralPublic)))

/** Seals a task id to an agent's Ed25519 public key, as a backend does: standard base64. */
export const sealTaskId = (taskId: string, agentPublicKey: Uint8Array, ephemeralSecret?: Uint8Array): string =>
  encodeBase64(sealBox(new TextEncoder().encode(taskId), x25519PublicFromEd25519(agentPublicKey), ephemeralSecret))

/** An opened task id: it must be UTF-8. */
const taskIdText = (plaintext: Uint8Array): Either.Either<string, CryptoFailure> => {
  try {
    return Either.right(strictUtf8.decode(plaintext))
  } catch {
    return fail("Decrypt", "decrypted task id is not valid UTF-8")
  }
}

/** Opens an `encrypted_task_id` (standard base64 sealed box) with the agent's key; the id must be UTF-8. */
export const openSealedTaskId = (encrypted: string, key: Ed25519Key): Either.Either<string, CryptoFailure> => {
  const box = decodeBase64(encrypted)
  if (Either.isLeft(box)) return fail("Decrypt", "encrypted task id is not valid base64")
  return Either.flatMap(
    openSealedBox(box.right, x25519SecretFromSeed(key.seed), x25519PublicFromEd25519(key.publicKey)),
    taskIdText
  )
}

// As in keys.ts: node:crypto derives an X25519 public key from `d` and only checks that `x` is a string.
const PLACEHOLDER_X = "A".repeat(43)

/** A recipient's X25519 key on node:crypto: the private key object and the public key bytes. */
interface NativeRecipient {
  readonly privateKey: KeyObject
  readonly publicKey: Uint8Array
}

const nativeRecipients = new WeakMap<Uint8Array, NativeRecipient>()

/**
 * The X25519 key of an Ed25519 seed on node:crypto, made once per seed array: the secret is
 * clamp(SHA-512(seed)[0..32]) as libsodium converts it, and OpenSSL derives its public key, which is
 * the birational image of the Ed25519 public key (the vectors check both).
 */
const nativeRecipient = (seed: Uint8Array): NativeRecipient => {
  let recipient = nativeRecipients.get(seed)
  if (recipient === undefined) {
    const digest = createHash("sha512").update(seed).digest()
    const secret = digest.subarray(0, 32)
    secret[0]! &= 248
    secret[31]! &= 127
    secret[31]! |= 64
    const privateKey = createPrivateKey({ key: { kty: "OKP", crv: "X25519", d: encodeBase64Url(secret), x: PLACEHOLDER_X }, format: "jwk" })
    digest.fill(0)
    const x = createPublicKey(privateKey).export({ format: "jwk" }).x!
    recipient = { privateKey, publicKey: Uint8Array.from(Buffer.from(x, "base64url")) }
    nativeRecipients.set(seed, recipient)
  }
  return recipient
}

/**
 * `openSealedTaskId` with the X25519 step on node:crypto (same result, no curve arithmetic in
 * JavaScript). OpenSSL refuses an all-zero shared secret, as libsodium does: a `Decrypt` failure.
 */
export const openSealedTaskIdNative = (encrypted: string, key: Pick<Ed25519Key, "seed">): Either.Either<string, CryptoFailure> => {
  const box = decodeBase64(encrypted)
  if (Either.isLeft(box)) return fail("Decrypt", "encrypted task id is not valid base64")
  const recipient = nativeRecipient(key.seed)
  return Either.flatMap(
    openWith(box.right, recipient.publicKey, (ephemeralPublic) =>
      diffieHellman({
        privateKey: recipient.privateKey,
        publicKey: createPublicKey({ key: { kty: "OKP", crv: "X25519", x: encodeBase64Url(ephemeralPublic) }, format: "jwk" })
      })),
    taskIdText
  )
}
