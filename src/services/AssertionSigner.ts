/**
 * AssertionSigner: agent keys parsed once and kept, AgentAssertion headers, task-registration
 * signatures and sealed task ids. The key material never leaves an `AgentKey` except through the
 * crypto calls below; printing an `AgentKey` shows only its public key.
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import { type AgentAssertionTemplate, agentAssertionTemplate, taskRegistrationPayload } from "../crypto/assertion.js"
import { decodeBase64, encodeBase64 } from "../crypto/base64.js"
import { decodePrivateKeyBase64, expandKey, type ExpandedKey, generateKey, signExpanded } from "../crypto/ed25519.js"
import { CryptoFailure } from "../crypto/failure.js"
import { signNative } from "../crypto/native.js"
import { openSealedTaskId, openSealedTaskIdNative } from "../crypto/sealedBox.js"
import { formatTimestamp } from "../crypto/time.js"
import { AgentKey, keyMaterial } from "../Domain/AgentKey.js"
import { TaskId } from "../Domain/Ids.js"
import { validateRuntimeId, validateTaskId } from "../Domain/Endpoints.js"
import { BindingMismatchError, DecryptError, InvalidKeyError, NativeModuleUnavailableError, type RuntimeIdError } from "../Domain/Errors.js"

export { AgentKey, keyMaterial } from "../Domain/AgentKey.js"

/** A key together with the runtime id it was registered as. */
export interface SigningIdentity {
  readonly agentRuntimeId: string
  readonly key: AgentKey
}

/** What an assertion is for. */
export interface AssertionTarget {
  readonly agentRuntimeId: string
  readonly taskId: string
}

/** The AssertionSigner's operations. */
export interface Service {
  /** A fresh key from the CSPRNG. */
  readonly generate: Effect.Effect<AgentKey>
  /** Parses a stored private key (PKCS#8 v1 or v2, base64); the last key parsed is kept. */
  readonly parse: (privateKey: Redacted.Redacted<string>) => Effect.Effect<AgentKey, InvalidKeyError>
  /** `AgentAssertion <token>` for the target, timestamped now; the runtime ids must match, and both ids be safe. */
  readonly agentAssertion: (
    identity: SigningIdentity,
    target: AssertionTarget
  ) => Effect.Effect<Redacted.Redacted<string>, BindingMismatchError | RuntimeIdError>
  /** The timestamp and standard-base64 signature of a task registration, timestamped now. */
  readonly signTaskRegistration: (
    identity: SigningIdentity
  ) => Effect.Effect<{ readonly timestamp: string; readonly signature: string }>
  /** Opens an `encrypted_task_id` sealed to the key. */
  readonly openTaskId: (key: AgentKey, encrypted: string) => Effect.Effect<TaskId, DecryptError>
}

/** The AssertionSigner service. */
export class AssertionSigner extends Context.Tag("effect-agent-identity/AssertionSigner")<AssertionSigner, Service>() {}

const now = Effect.clockWith((clock) => clock.currentTimeMillis)

/**
 * The parts of `sodium-native` (5.x) the libsodium signer uses. It is an optional peer dependency,
 * loaded by `loadSodium` only when asked for.
 */
export interface Sodium {
  crypto_sign_seed_keypair(publicKey: Uint8Array, secretKey: Uint8Array, seed: Uint8Array): void
  crypto_sign_detached(signature: Uint8Array, message: Uint8Array, secretKey: Uint8Array): void
  crypto_sign_ed25519_pk_to_curve25519(x25519: Uint8Array, ed25519: Uint8Array): void
  crypto_sign_ed25519_sk_to_curve25519(x25519: Uint8Array, ed25519: Uint8Array): void
  crypto_box_seal_open(message: Uint8Array, box: Uint8Array, publicKey: Uint8Array, secretKey: Uint8Array): boolean
}

/** Which Ed25519 implementation signs; every one produces the same bytes (the vectors and the libsodium oracle check each). */
export type Implementation = "node-crypto" | "noble" | { readonly sodium: Sodium }

/** Signer options. */
export interface Options {
  /**
   * Reuse a header within the same second for the same key and task. Ed25519 is deterministic, so the
   * reused header is byte-identical to a fresh one. Default true.
   */
  readonly headerCache?: boolean | undefined
  /**
   * node:crypto (default: OpenSSL, no curve arithmetic in JavaScript), @noble/curves (portable), or a
   * loaded libsodium (`loadSodium`, `layerSodium`).
   */
  readonly implementation?: Implementation | undefined
}

/** How an implementation signs with a key and opens a task id sealed to it. */
interface Engine {
  readonly sign: (key: AgentKey, message: Uint8Array) => Uint8Array
  readonly openTaskId: (key: AgentKey, encrypted: string) => Either.Either<string, CryptoFailure>
}

/** node:crypto, with the key object keys.ts made when the key was parsed or generated (once per key). */
const nodeCryptoEngine = (): Engine => ({
  sign: (key, message) => signNative(keyMaterial(key), message),
  openTaskId: (key, encrypted) => openSealedTaskIdNative(encrypted, keyMaterial(key))
})

/** @noble/curves from a key expanded once per AgentKey (byte-identical to `ed25519.sign`). */
const nobleEngine = (): Engine => {
  const expanded = new WeakMap<AgentKey, ExpandedKey>()
  return {
    sign: (key, message) => {
      let expandedKey = expanded.get(key)
      if (expandedKey === undefined) {
        expandedKey = expandKey(keyMaterial(key))
        expanded.set(key, expandedKey)
      }
      return signExpanded(expandedKey, message)
    },
    openTaskId: (key, encrypted) => openSealedTaskId(encrypted, keyMaterial(key))
  }
}

const SEAL_OVERHEAD = 48

/** libsodium, with its 64-byte secret key (seed ‖ public key) and the X25519 pair made once per AgentKey. */
const sodiumEngine = (sodium: Sodium): Engine => {
  const keys = new WeakMap<AgentKey, { readonly secretKey: Uint8Array; boxPublic?: Uint8Array; boxSecret?: Uint8Array }>()
  const keysOf = (key: AgentKey) => {
    let entry = keys.get(key)
    if (entry === undefined) {
      const secretKey = new Uint8Array(64)
      sodium.crypto_sign_seed_keypair(new Uint8Array(32), secretKey, keyMaterial(key).seed)
      entry = { secretKey }
      keys.set(key, entry)
    }
    return entry
  }
  return {
    sign: (key, message) => {
      const signature = new Uint8Array(64)
      sodium.crypto_sign_detached(signature, message, keysOf(key).secretKey)
      return signature
    },
    openTaskId: (key, encrypted) => {
      const box = decodeBase64(encrypted)
      if (Either.isLeft(box)) return Either.left(new CryptoFailure({ kind: "Decrypt", reason: "encrypted task id is not valid base64" }))
      if (box.right.length < SEAL_OVERHEAD) {
        return Either.left(new CryptoFailure({ kind: "Decrypt", reason: "sealed box is shorter than 48 bytes" }))
      }
      const entry = keysOf(key)
      if (entry.boxPublic === undefined || entry.boxSecret === undefined) {
        entry.boxPublic = new Uint8Array(32)
        entry.boxSecret = new Uint8Array(32)
        sodium.crypto_sign_ed25519_pk_to_curve25519(entry.boxPublic, keyMaterial(key).publicKey)
        sodium.crypto_sign_ed25519_sk_to_curve25519(entry.boxSecret, entry.secretKey)
      }
      const plaintext = new Uint8Array(box.right.length - SEAL_OVERHEAD)
      if (!sodium.crypto_box_seal_open(plaintext, box.right, entry.boxPublic, entry.boxSecret)) {
        return Either.left(new CryptoFailure({ kind: "Decrypt", reason: "failed to decrypt encrypted task id" }))
      }
      try {
        return Either.right(strictUtf8.decode(plaintext))
      } catch {
        return Either.left(new CryptoFailure({ kind: "Decrypt", reason: "decrypted task id is not valid UTF-8" }))
      }
    }
  }
}

const strictUtf8 = new TextDecoder("utf-8", { fatal: true })

const engineOf = (implementation: Implementation | undefined): Engine =>
  implementation === undefined || implementation === "node-crypto"
    ? nodeCryptoEngine()
    : implementation === "noble"
    ? nobleEngine()
    : sodiumEngine(implementation.sodium)

const HEADER_CACHE_SIZE = 256

/** A signer; `layer` (node:crypto, cached) is the default. */
export const make = (options: Options = {}): Effect.Effect<Service> =>
  Effect.sync(() => {
    const engine = engineOf(options.implementation)
    const signBytes = engine.sign
    const cache = options.headerCache !== false

    let last: { readonly text: string; readonly key: AgentKey } | undefined
    const parse = (privateKey: Redacted.Redacted<string>) =>
      Effect.suspend(() => {
        const text = Redacted.value(privateKey)
        if (last !== undefined && last.text === text) return Effect.succeed(last.key)
        const decoded = decodePrivateKeyBase64(text)
        if (Either.isLeft(decoded)) return Effect.fail(new InvalidKeyError({ reason: decoded.left.reason }))
        const key = new AgentKey(decoded.right)
        last = { text, key }
        return Effect.succeed(key)
      })

    // One slot per runtime id and task: its template (the header's parts that do not change with the
    // second) and, with the cache, the last header made for it. A slot is updated in place, and the slot
    // used last is found without the map: a process usually signs for one task.
    interface Slot {
      readonly template: AgentAssertionTemplate
      key: AgentKey | undefined
      second: number
      header: Redacted.Redacted<string> | undefined
    }
    const slots = new Map<string, Slot>()
    let lastSlot: Slot | undefined
    const slotOf = (target: AssertionTarget): Slot => {
      if (lastSlot !== undefined && lastSlot.template.agentRuntimeId === target.agentRuntimeId && lastSlot.template.taskId === target.taskId) {
        return lastSlot
      }
      const name = `${target.agentRuntimeId}\u0000${target.taskId}`
      let slot = slots.get(name)
      if (slot === undefined) {
        if (slots.size >= HEADER_CACHE_SIZE) slots.clear()
        slot = { template: agentAssertionTemplate(target.agentRuntimeId, target.taskId), key: undefined, second: Number.NaN, header: undefined }
        slots.set(name, slot)
      }
      lastSlot = slot
      return slot
    }

    const header = (key: AgentKey, target: AssertionTarget, millis: number): Redacted.Redacted<string> => {
      const second = Math.floor(millis / 1000)
      const slot = slotOf(target)
      if (cache && slot.header !== undefined && slot.second === second && slot.key === key) return slot.header
      const timestamp = formatTimestamp(millis)
      const value = Redacted.make(slot.template.header(timestamp, signBytes(key, slot.template.payload(timestamp))))
      if (cache) {
        slot.key = key
        slot.second = second
        slot.header = value
      }
      return value
    }

    // The last check before ids from outside (a server, auth.json, a session's rollout) go into a header;
    // the pair last found safe is remembered, so a header per request costs no more than before.
    let lastSafe: AssertionTarget | undefined
    const unsafeIds = (target: AssertionTarget): RuntimeIdError | undefined => {
      if (lastSafe !== undefined && lastSafe.agentRuntimeId === target.agentRuntimeId && lastSafe.taskId === target.taskId) return undefined
      const runtime = validateRuntimeId(target.agentRuntimeId)
      if (Either.isLeft(runtime)) return runtime.left
      const task = validateTaskId(target.taskId)
      if (Either.isLeft(task)) return task.left
      lastSafe = { agentRuntimeId: target.agentRuntimeId, taskId: target.taskId }
      return undefined
    }

    const agentAssertion = (identity: SigningIdentity, target: AssertionTarget) => {
      if (identity.agentRuntimeId !== target.agentRuntimeId) {
        return Effect.fail(new BindingMismatchError({ field: "runtime", expected: identity.agentRuntimeId, actual: target.agentRuntimeId }))
      }
      const unsafe = unsafeIds(target)
      // The clock read and the header made in one step (no `now` effect to map over).
      return unsafe !== undefined
        ? Effect.fail(unsafe)
        : Effect.clockWith((clock) => Effect.succeed(header(identity.key, target, clock.unsafeCurrentTimeMillis())))
    }

    return {
      generate: Effect.sync(() => new AgentKey(generateKey())),
      parse,
      agentAssertion,
      signTaskRegistration: (identity) =>
        Effect.map(now, (millis) => {
          const timestamp = formatTimestamp(millis)
          const signature = signBytes(identity.key, taskRegistrationPayload(identity.agentRuntimeId, timestamp))
          return { timestamp, signature: encodeBase64(signature) }
        }),
      openTaskId: (key, encrypted) =>
        Either.match(engine.openTaskId(key, encrypted), {
          onLeft: (failure) => Effect.fail(new DecryptError({ reason: failure.reason })),
          onRight: (id) => Effect.succeed(TaskId.make(id))
        })
    }
  })

/** The default signer: node:crypto, with the per-second header cache. */
export const layer: Layer.Layer<AssertionSigner> = Layer.effect(AssertionSigner, make())

/** The default signer under the name of its implementation (node:crypto, byte-identical output). */
export const layerNodeCrypto: Layer.Layer<AssertionSigner> = layer

/** The portable signer: @noble/curves in JavaScript, for runtimes without node:crypto's Ed25519. */
export const layerNoble: Layer.Layer<AssertionSigner> = Layer.effect(AssertionSigner, make({ implementation: "noble" }))

/**
 * Loads `sodium-native` (an optional peer dependency) with a dynamic import, so that nothing loads it
 * unless this runs; fails when it is not installed or its native addon does not load here.
 */
export const loadSodium: Effect.Effect<Sodium, NativeModuleUnavailableError> = Effect.tryPromise({
  try: async () => {
    // A name in a variable: bundlers and the type checker leave an optional module alone.
    const name = "sodium-native"
    const loaded = (await import(name)) as { readonly default?: Sodium } & Partial<Sodium>
    const sodium = (loaded.default ?? loaded) as Sodium
    if (typeof sodium.crypto_sign_detached !== "function") throw new Error("it has no crypto_sign_detached")
    return sodium
  },
  catch: (error) =>
    new NativeModuleUnavailableError({
      module: "sodium-native",
      reason: (error as { code?: unknown }).code === "ERR_MODULE_NOT_FOUND" ? "not installed" : "it did not load"
    })
})

/** The signer on libsodium (`sodium-native`, loaded when the layer is built): the native limit, same bytes. */
export const layerSodium: Layer.Layer<AssertionSigner, NativeModuleUnavailableError> = Layer.effect(
  AssertionSigner,
  Effect.flatMap(loadSodium, (sodium) => make({ implementation: { sodium } }))
)
