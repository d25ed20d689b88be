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
import { createPrivateKey, type KeyObject, sign as nodeSign } from "node:crypto"
import { agentAssertionFromSignature, agentAssertionPayload, taskRegistrationPayload } from "../crypto/assertion.js"
import { encodeBase64, encodeBase64Url } from "../crypto/base64.js"
import { decodePrivateKeyBase64, expandKey, type ExpandedKey, generateKey, signExpanded } from "../crypto/ed25519.js"
import { openSealedTaskId } from "../crypto/sealedBox.js"
import { formatTimestamp } from "../crypto/time.js"
import { AgentKey, keyMaterial } from "../Domain/AgentKey.js"
import { TaskId } from "../Domain/Ids.js"
import { validateRuntimeId, validateTaskId } from "../Domain/Endpoints.js"
import { BindingMismatchError, DecryptError, InvalidKeyError, type RuntimeIdError } from "../Domain/Errors.js"

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

/** Signer options. */
export interface Options {
  /**
   * Reuse a header within the same second for the same key and task. Ed25519 is deterministic, so the
   * reused header is byte-identical to a fresh one. Default true.
   */
  readonly headerCache?: boolean | undefined
  /** Which Ed25519 implementation signs: @noble/curves (default) or node:crypto (faster, same bytes). */
  readonly implementation?: "noble" | "node-crypto" | undefined
}

/** Signs with node:crypto, keeping one KeyObject per key. */
const nodeCryptoSigner = (): ((key: AgentKey, message: Uint8Array) => Uint8Array) => {
  const keyObjects = new WeakMap<AgentKey, KeyObject>()
  return (key, message) => {
    let keyObject = keyObjects.get(key)
    if (keyObject === undefined) {
      const { publicKey, seed } = keyMaterial(key)
      // JWK, not DER: OpenSSL before 3.5 cannot read the v2 PKCS#8 that Codex writes (docs/PROTOCOL.md).
      keyObject = createPrivateKey({
        key: { kty: "OKP", crv: "Ed25519", d: encodeBase64Url(seed), x: encodeBase64Url(publicKey) },
        format: "jwk"
      })
      keyObjects.set(key, keyObject)
    }
    return nodeSign(null, message, keyObject)
  }
}

/** Signs with @noble/curves from a key expanded once per AgentKey (byte-identical to `ed25519.sign`). */
const nobleSigner = (): ((key: AgentKey, message: Uint8Array) => Uint8Array) => {
  const expanded = new WeakMap<AgentKey, ExpandedKey>()
  return (key, message) => {
    let expandedKey = expanded.get(key)
    if (expandedKey === undefined) {
      expandedKey = expandKey(keyMaterial(key))
      expanded.set(key, expandedKey)
    }
    return signExpanded(expandedKey, message)
  }
}

const HEADER_CACHE_SIZE = 256

/** A signer; `layer` (noble, cached) is the default, `layerNodeCrypto` the fast one for gateways. */
export const make = (options: Options = {}): Effect.Effect<Service> =>
  Effect.sync(() => {
    const signBytes = options.implementation === "node-crypto" ? nodeCryptoSigner() : nobleSigner()
    const cache = options.headerCache === false
      ? undefined
      : new Map<string, { readonly key: AgentKey; readonly second: number; readonly header: Redacted.Redacted<string> }>()

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

    const header = (key: AgentKey, target: AssertionTarget, millis: number): Redacted.Redacted<string> => {
      const second = Math.floor(millis / 1000)
      const slot = cache === undefined ? undefined : `${target.agentRuntimeId}\u0000${target.taskId}`
      if (slot !== undefined) {
        const hit = cache!.get(slot)
        if (hit !== undefined && hit.second === second && hit.key === key) return hit.header
      }
      const claims = { ...target, timestamp: formatTimestamp(millis) }
      const value = Redacted.make(agentAssertionFromSignature(claims, signBytes(key, agentAssertionPayload(claims))))
      if (slot !== undefined) {
        if (cache!.size >= HEADER_CACHE_SIZE) cache!.clear()
        cache!.set(slot, { key, second, header: value })
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
      return unsafe !== undefined ? Effect.fail(unsafe) : Effect.map(now, (millis) => header(identity.key, target, millis))
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
        Either.match(openSealedTaskId(encrypted, keyMaterial(key)), {
          onLeft: (failure) => Effect.fail(new DecryptError({ reason: failure.reason })),
          onRight: (id) => Effect.succeed(TaskId.make(id))
        })
    }
  })

/** The default signer: @noble/curves, with the per-second header cache. */
export const layer: Layer.Layer<AssertionSigner> = Layer.effect(AssertionSigner, make())

/** A signer on node:crypto (byte-identical output), for gateways that sign many headers. */
export const layerNodeCrypto: Layer.Layer<AssertionSigner> = Layer.effect(AssertionSigner, make({ implementation: "node-crypto" }))
