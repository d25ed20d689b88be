/**
 * libsodium-wrappers as an independent oracle: 100 random cases in each direction, for each
 * implementation the library has (noble, node:crypto, and libsodium itself through sodium-native).
 */
import { beforeAll, describe, expect, it } from "@effect/vitest"
import * as Either from "effect/Either"
import sodium from "libsodium-wrappers"
import * as C from "../../src/crypto/index.js"

const CASES = 100

beforeAll(async () => {
  await sodium.ready
})

const randomCase = () => {
  const seed = sodium.randombytes_buf(32)
  const message = sodium.randombytes_buf(1 + sodium.randombytes_uniform(200))
  return { seed, message, key: C.keyFromSeed(seed), sodiumKey: sodium.crypto_sign_seed_keypair(seed) }
}

describe("libsodium oracle", () => {
  it(`agrees on ${CASES} random keys, conversions, signatures and sealed boxes`, () => {
    let agreements = 0
    for (let i = 0; i < CASES; i++) {
      const { key, message, sodiumKey } = randomCase()
      // Same public key, same X25519 conversions.
      expect(Buffer.from(key.publicKey).equals(Buffer.from(sodiumKey.publicKey))).toBe(true)
      expect(Buffer.from(C.x25519SecretFromSeed(key.seed)))
        .toEqual(Buffer.from(sodium.crypto_sign_ed25519_sk_to_curve25519(sodiumKey.privateKey)))
      const recipientPublic = C.x25519PublicFromEd25519(key.publicKey)
      expect(Buffer.from(recipientPublic)).toEqual(Buffer.from(sodium.crypto_sign_ed25519_pk_to_curve25519(sodiumKey.publicKey)))

      // Signatures verify both ways (and are equal: Ed25519 is deterministic).
      const ours = C.sign(key, message)
      const theirs = sodium.crypto_sign_detached(message, sodiumKey.privateKey)
      expect(Buffer.from(ours)).toEqual(Buffer.from(theirs))
      expect(Buffer.from(C.signExpanded(C.expandKey(key), message))).toEqual(Buffer.from(theirs))
      expect(Buffer.from(C.signNative(key, message))).toEqual(Buffer.from(theirs))
      expect(sodium.crypto_sign_verify_detached(ours, message, sodiumKey.publicKey)).toBe(true)
      expect(C.verify(key.publicKey, message, theirs)).toBe(true)
      expect(C.verifyNative(key.publicKey, message, theirs)).toBe(true)
      const forged = Uint8Array.from(theirs)
      forged[i % 64]! ^= 1 << (i % 8)
      expect(C.verifyNative(key.publicKey, message, forged)).toBe(sodium.crypto_sign_verify_detached(forged, message, sodiumKey.publicKey))

      // Boxes sealed by libsodium open with ours, and the reverse.
      const bySodium = sodium.crypto_box_seal(message, recipientPublic)
      const opened = C.openSealedBox(bySodium, C.x25519SecretFromSeed(key.seed), recipientPublic)
      expect(Either.isRight(opened) && Buffer.from(opened.right).equals(Buffer.from(message))).toBe(true)
      const taskId = `task_${i}_${C.encodeBase64Url(message.subarray(0, 12))}`
      const sealedId = C.encodeBase64(sodium.crypto_box_seal(taskId, recipientPublic))
      expect(C.openSealedTaskIdNative(sealedId, key)).toEqual(Either.right(taskId))
      expect(C.openSealedTaskId(sealedId, key)).toEqual(Either.right(taskId))
      const byUs = C.sealBox(message, recipientPublic)
      const sodiumOpened = sodium.crypto_box_seal_open(byUs, recipientPublic, C.x25519SecretFromSeed(key.seed))
      expect(Buffer.from(sodiumOpened)).toEqual(Buffer.from(message))
      agreements++
    }
    console.log(`libsodium oracle: ${agreements}/${CASES} random cases agree`)
    expect(agreements).toBe(CASES)
  })
})
