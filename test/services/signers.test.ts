/**
 * Every signer implementation (node:crypto, noble, libsodium through sodium-native), cached or not,
 * produces the vectors' headers and task signatures byte for byte and opens their sealed task ids.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as TestClock from "effect/TestClock"
import * as AssertionSigner from "../../src/services/AssertionSigner.js"
import * as C from "../../src/crypto/index.js"
import { hex, loadVectors } from "../utils/vectors.js"

// sodium-native is a devDependency here: the libsodium layer must load (its prebuilt addon, no install script).
const sodium = await Effect.runPromise(AssertionSigner.loadSodium)

const variants: Array<[string, AssertionSigner.Options]> = [
  ["default (node:crypto), uncached", { headerCache: false }],
  ["default (node:crypto), cached", {}],
  ["noble, uncached", { implementation: "noble", headerCache: false }],
  ["noble, cached", { implementation: "noble" }],
  ["libsodium, uncached", { implementation: { sodium }, headerCache: false }],
  ["libsodium, cached", { implementation: { sodium } }]
]

describe("signer implementations", () => {
  it.effect("every variant reproduces every vector's header, task signature and sealed task ids byte for byte", () =>
    Effect.gen(function*() {
      let checked = 0
      let opened = 0
      for (const [name, options] of variants) {
        const signer = yield* AssertionSigner.make(options)
        for (const v of loadVectors().seeds) {
          const key = yield* signer.parse(Redacted.make(v.pkcs8_v2_base64))
          const a = v.agent_assertion
          yield* TestClock.setTime(Date.parse(a.timestamp) + 999)
          const identity = { agentRuntimeId: a.agent_runtime_id, key }
          for (let i = 0; i < 2; i++) {
            const header = yield* signer.agentAssertion(identity, { agentRuntimeId: a.agent_runtime_id, taskId: a.task_id })
            expect(Redacted.value(header), name).toBe(a.header)
            checked++
          }
          yield* TestClock.setTime(Date.parse(v.task_registration.timestamp))
          const task = yield* signer.signTaskRegistration({ agentRuntimeId: v.task_registration.agent_runtime_id, key })
          expect(task, name).toEqual({ timestamp: v.task_registration.timestamp, signature: v.task_registration.signature })
          checked++
          for (const sealed of v.sealed_task_ids) {
            expect(yield* signer.openTaskId(key, sealed.ciphertext_base64), name).toBe(sealed.plaintext)
            opened++
          }
        }
        // A box sealed to another key, and a truncated one, are DecryptErrors for every implementation.
        const [first, second] = loadVectors().seeds
        const key = yield* signer.parse(Redacted.make(first!.pkcs8_v2_base64))
        for (const bad of [second!.sealed_task_ids[0]!.ciphertext_base64, C.encodeBase64(new Uint8Array(47)), "not base64"]) {
          const failure = yield* Effect.flip(signer.openTaskId(key, bad))
          expect(failure._tag, name).toBe("DecryptError")
        }
      }
      expect(checked).toBe(variants.length * 4 * 3)
      expect(opened).toBe(variants.length * loadVectors().seeds.reduce((n, v) => n + v.sealed_task_ids.length, 0))
    }))

  it.effect("the named layers are the implementations they say, and the libsodium layer loads here", () =>
    Effect.gen(function*() {
      const v = loadVectors().seeds[0]!
      const a = v.agent_assertion
      yield* TestClock.setTime(Date.parse(a.timestamp))
      for (const layer of [AssertionSigner.layer, AssertionSigner.layerNodeCrypto, AssertionSigner.layerNoble, AssertionSigner.layerSodium]) {
        const exit = yield* Effect.exit(Effect.gen(function*() {
          const signer = yield* AssertionSigner.AssertionSigner
          const key = yield* signer.parse(Redacted.make(v.pkcs8_v2_base64))
          return Redacted.value(yield* signer.agentAssertion({ agentRuntimeId: a.agent_runtime_id, key }, { agentRuntimeId: a.agent_runtime_id, taskId: a.task_id }))
        }).pipe(Effect.provide(layer as Layer.Layer<AssertionSigner.AssertionSigner>)))
        expect(exit).toEqual(Exit.succeed(a.header))
      }
    }))

  it.effect("the cache never serves a header across seconds, tasks or keys", () =>
    Effect.gen(function*() {
      const signer = yield* AssertionSigner.make()
      const plain = yield* AssertionSigner.make({ headerCache: false })
      const seed = loadVectors().seeds[0]!
      const key = yield* signer.parse(Redacted.make(seed.pkcs8_v2_base64))
      const other = yield* signer.parse(Redacted.make(loadVectors().seeds[1]!.pkcs8_v2_base64))
      const target = { agentRuntimeId: "agent-123", taskId: "task-123" }
      const at = (millis: number, k = key, t = target) =>
        Effect.gen(function*() {
          yield* TestClock.setTime(millis)
          const cached = Redacted.value(yield* signer.agentAssertion({ agentRuntimeId: "agent-123", key: k }, t))
          const fresh = Redacted.value(yield* plain.agentAssertion({ agentRuntimeId: "agent-123", key: k }, t))
          expect(cached).toBe(fresh)
          return cached
        })
      const t0 = Date.UTC(2026, 10, 25, 1, 0, 0)
      const first = yield* at(t0)
      expect(yield* at(t0 + 999)).toBe(first)
      expect(yield* at(t0 + 1000)).not.toBe(first)
      expect(yield* at(t0 + 1000, key, { agentRuntimeId: "agent-123", taskId: "task-456" })).not.toBe(first)
      expect(yield* at(t0, other)).not.toBe(first)
      expect(C.verifyAgentAssertion(first, hex(seed.public_key_hex))._tag).toBe("Right")
    }))
})
