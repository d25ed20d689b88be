/**
 * libsodium sealed boxes (`crypto_box_seal`): `ephemeral pk (32) ‖ MAC (16) ‖ ciphertext`, nonce
 * BLAKE2b-24(epk ‖ recipient pk), key HSalsa20(X25519(...)), XSalsa20-Poly1305. The recipient's
 * X25519 keys are derived from its Ed25519 seed and public key, as libsodium converts them.
 */
import { hsalsa, xsalsa20poly1305 } from "@noble/ciphers/salsa.js"
import { u32 } from "@noble/ciphers/utils.js"
import { ed25519, x25519 } from "@noble/curves/ed25519.js"
import { blake2b } from "@noble/hashes/blake2.js"
import * as Either from "effect/Either"
import { decodeBase64, encodeBase64 } from "./base64.js"
import type { Ed25519Key } from "./ed25519.js"
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
const boxKey = (secret: Uint8Array, publicKey: Uint8Array): Uint8Array => {
  const shared = Uint8Array.from(x25519.getSharedSecret(secret, publicKey))
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

/** `crypto_box_seal_open`: any tampering, truncation or wrong key is a `Decrypt` failure. */
export const openSealedBox = (
  box: Uint8Array,
  recipientSecret: Uint8Array,
  recipientPublic: Uint8Array
): Either.Either<Uint8Array, CryptoFailure> => {
  if (box.length < SEAL_OVERHEAD) return fail("Decrypt", "sealed box is shorter than 48 bytes")
  const ephemeralPublic = box.subarray(0, PUBLIC_KEY_LENGTH)
  try {
    const key = boxKey(recipientSecret, ephemeralPublic)
    return Either.right(
      xsalsa20poly1305(key, sealNonce(ephemeralPublic, recipientPublic)).decrypt(box.slice(PUBLIC_KEY_LENGTH))
    )
  } catch {
    return fail("Decrypt", "failed to decrypt encrypted task id")
  }
}

/** Seals a task id to an agent's Ed25519 public key, as a backend does: standard base64. */
export const sealTaskId = (taskId: string, agentPublicKey: Uint8Array, ephemeralSecret?: Uint8Array): string =>
  encodeBase64(sealBox(new TextEncoder().encode(taskId), x25519PublicFromEd25519(agentPublicKey), ephemeralSecret))

/** Opens an `encrypted_task_id` (standard base64 sealed box) with the agent's key; the id must be UTF-8. */
export const openSealedTaskId = (encrypted: string, key: Ed25519Key): Either.Either<string, CryptoFailure> => {
  const box = decodeBase64(encrypted)
  if (Either.isLeft(box)) return fail("Decrypt", "encrypted task id is not valid base64")
  return Either.flatMap(
    openSealedBox(box.right, x25519SecretFromSeed(key.seed), x25519PublicFromEd25519(key.publicKey)),
    (plaintext) => {
      try {
        return Either.right(strictUtf8.decode(plaintext))
      } catch {
        return fail("Decrypt", "decrypted task id is not valid UTF-8")
      }
    }
  )
}
