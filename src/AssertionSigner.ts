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
import { buildAgentAssertion, signTaskRegistration } from "./crypto/assertion.js"
import {
  decodePrivateKeyBase64,
  type Ed25519Key,
  encodePrivateKeyBase64,
  encodeSshPublicKey,
  generateKey
} from "./crypto/ed25519.js"
import { openSealedTaskId } from "./crypto/sealedBox.js"
import { formatTimestamp } from "./crypto/time.js"
import { TaskId } from "./Domain/Ids.js"
import { BindingMismatchError, DecryptError, InvalidKeyError } from "./Errors.js"

const material = Symbol.for("effect-agent-identity/AgentKey/material")

/** A parsed agent key. Its secret half is reachable only by this library's signing code. */
export class AgentKey {
  /** `ssh-ed25519 …`, as registered. */
  readonly publicKeySsh: string
  /** @internal */
  readonly [material]: Ed25519Key
  constructor(key: Ed25519Key) {
    this[material] = key
    this.publicKeySsh = encodeSshPublicKey(key.publicKey)
  }
  /** The raw 32-byte public key. */
  get publicKey(): Uint8Array {
    return this[material].publicKey
  }
  /** The stored form (PKCS#8 v2, base64), redacted. */
  get privateKey(): Redacted.Redacted<string> {
    return Redacted.make(encodePrivateKeyBase64(this[material]))
  }
  toString(): string {
    return `AgentKey(${this.publicKeySsh})`
  }
  toJSON(): unknown {
    return { _id: "AgentKey", publicKeySsh: this.publicKeySsh }
  }
  [Symbol.for("nodejs.util.inspect.custom")](): string {
    return this.toString()
  }
}

/** The key material of an `AgentKey`, for this library's signers. @internal */
export const keyMaterial = (key: AgentKey): Ed25519Key => key[material]

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
  /** `AgentAssertion <token>` for the target, timestamped now; the runtime ids must match. */
  readonly agentAssertion: (
    identity: SigningIdentity,
    target: AssertionTarget
  ) => Effect.Effect<Redacted.Redacted<string>, BindingMismatchError>
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

/** The signer on @noble/curves. */
export const make: Effect.Effect<Service> = Effect.sync(() => {
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

  const agentAssertion = (identity: SigningIdentity, target: AssertionTarget) =>
    identity.agentRuntimeId !== target.agentRuntimeId
      ? Effect.fail(new BindingMismatchError({ field: "runtime", expected: identity.agentRuntimeId, actual: target.agentRuntimeId }))
      : Effect.map(now, (millis) =>
        Redacted.make(buildAgentAssertion(identity.key[material], { ...target, timestamp: formatTimestamp(millis) })))

  return {
    generate: Effect.sync(() => new AgentKey(generateKey())),
    parse,
    agentAssertion,
    signTaskRegistration: (identity) =>
      Effect.map(now, (millis) => {
        const timestamp = formatTimestamp(millis)
        return { timestamp, signature: signTaskRegistration(identity.key[material], identity.agentRuntimeId, timestamp) }
      }),
    openTaskId: (key, encrypted) =>
      Either.match(openSealedTaskId(encrypted, key[material]), {
        onLeft: (failure) => Effect.fail(new DecryptError({ reason: failure.reason })),
        onRight: (id) => Effect.succeed(TaskId.make(id))
      })
  }
})

/** The signer as a layer. */
export const layer: Layer.Layer<AssertionSigner> = Layer.effect(AssertionSigner, make)
