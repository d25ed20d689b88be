/**
 * Secrets at rest: AES-256-GCM (node:crypto) with the store's keys. A sealed value is
 * `base64(nonce(12) ‖ ciphertext ‖ tag(16))`, stored beside the id of the key that sealed it. The associated
 * data names the row and column a value belongs to (table, column, account, user, and the row's own key such
 * as a session key), so a ciphertext moved to another row or column does not open.
 *
 * Keys come from `AGENT_IDENTITY_STORE_KEY` (`Config.redacted`): base64 of 32 bytes, or several separated by
 * commas — the first seals, every one opens (rotation: put the new key first, run `rotate`, drop the old
 * one). A key's id is the first 8 bytes of SHA-256 over a fixed label and the key, in hex: it names a key
 * without revealing it.
 */
import * as Config from "effect/Config"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import { createCipheriv, createDecipheriv, createHash, randomBytes } from "node:crypto"
import { StoreError } from "../Domain/Errors.js"
import { decodeBase64, encodeBase64 } from "../crypto/base64.js"

/** The environment variable the store's keys are read from (never argv). */
export const KEY_VARIABLE = "AGENT_IDENTITY_STORE_KEY"

/** The store's keys: the one that seals, and every one that opens, by id. */
export interface Keys {
  readonly currentId: string
  readonly current: Uint8Array
  readonly byId: ReadonlyMap<string, Uint8Array>
}

/** A sealed value and the id of the key that sealed it. */
export interface Sealed {
  readonly keyId: string
  readonly value: string
}

const NONCE = 12
const TAG = 16

/** The id of a key (not secret: a truncated hash under a fixed label). */
export const keyIdOf = (key: Uint8Array): string =>
  createHash("sha256").update("effect-agent-identity store key id\u0000").update(key).digest("hex").slice(0, 16)

/** Parses the keys' text: base64 of 32 bytes each, comma- or whitespace-separated; the first seals. */
export const parseKeys = (text: Redacted.Redacted<string>, location: string): Either.Either<Keys, StoreError> => {
  const parts = Redacted.value(text).split(/[\s,]+/).filter((part) => part.length > 0)
  if (parts.length === 0) {
    return Either.left(new StoreError({ reason: "KeyMissing", location, detail: `${KEY_VARIABLE} is empty` }))
  }
  const byId = new Map<string, Uint8Array>()
  let current: Uint8Array | undefined
  for (const [index, part] of parts.entries()) {
    const decoded = decodeBase64(part)
    // The message names the key's position only, never its text.
    if (Either.isLeft(decoded) || decoded.right.length !== 32) {
      return Either.left(
        new StoreError({ reason: "KeyInvalid", location, detail: `key ${index + 1} of ${KEY_VARIABLE} is not base64 of 32 bytes` })
      )
    }
    current ??= decoded.right
    byId.set(keyIdOf(decoded.right), decoded.right)
  }
  return Either.right({ currentId: keyIdOf(current!), current: current!, byId })
}

/** The keys from `AGENT_IDENTITY_STORE_KEY`; `KeyMissing` when it is unset. */
export const keysFromConfig = (location: string): Effect.Effect<Keys, StoreError> =>
  Config.redacted(KEY_VARIABLE).pipe(
    Config.option,
    Effect.mapError(() => new StoreError({ reason: "KeyMissing", location, detail: `${KEY_VARIABLE} cannot be read` })),
    Effect.flatMap(Option.match({
      onNone: () =>
        Effect.fail(
          new StoreError({
            reason: "KeyMissing",
            location,
            detail: `${KEY_VARIABLE} is not set: the store encrypts its secrets with it (base64 of 32 bytes)`
          })
        ),
      onSome: (text) => Either.match(parseKeys(text, location), { onLeft: Effect.fail, onRight: Effect.succeed })
    }))
  )

/** The associated data of a value: where it belongs. */
export const associatedData = (...parts: ReadonlyArray<string>): Buffer =>
  Buffer.from(["effect-agent-identity/store/v1", ...parts].join("\u0000"), "utf8")

/** Seals `plaintext` with the current key, bound to `ad`. */
export const seal = (keys: Keys, ad: Buffer, plaintext: string): Sealed => {
  const nonce = randomBytes(NONCE)
  const cipher = createCipheriv("aes-256-gcm", keys.current, nonce)
  cipher.setAAD(ad)
  const body = Buffer.concat([cipher.update(plaintext, "utf8"), cipher.final()])
  return { keyId: keys.currentId, value: encodeBase64(Buffer.concat([nonce, body, cipher.getAuthTag()])) }
}

/** Why a value did not open (never the value). */
export type OpenFailure = "unknown key" | "malformed" | "authentication failed"

/** Opens a sealed value bound to `ad`. */
export const open = (keys: Keys, ad: Buffer, sealed: Sealed): Either.Either<string, OpenFailure> => {
  const key = keys.byId.get(sealed.keyId)
  if (key === undefined) return Either.left("unknown key")
  const bytes = decodeBase64(sealed.value)
  if (Either.isLeft(bytes) || bytes.right.length < NONCE + TAG) return Either.left("malformed")
  const raw = bytes.right
  try {
    const decipher = createDecipheriv("aes-256-gcm", key, raw.subarray(0, NONCE))
    decipher.setAAD(ad)
    decipher.setAuthTag(raw.subarray(raw.length - TAG))
    return Either.right(
      Buffer.concat([decipher.update(raw.subarray(NONCE, raw.length - TAG)), decipher.final()]).toString("utf8")
    )
  } catch {
    return Either.left("authentication failed")
  }
}
