/** The cached and node:crypto signers produce headers byte-identical to the plain path (issue 6). */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as TestClock from "effect/TestClock"
import * as AssertionSigner from "../../src/services/AssertionSigner.js"
import * as C from "../../src/crypto/index.js"
import { hex, loadVectors } from "../utils/vectors.js"

const variants: Array<[string, AssertionSigner.Options]> = [
  ["noble, uncached", { headerCache: false }],
  ["noble, cached", {}],
  ["node:crypto, uncached", { implementation: "node-crypto", headerCache: false }],
  ["node:crypto, cached", { implementation: "node-crypto" }]
]

describe("signer implementations", () => {
  it.effect("every variant reproduces every vector's header and task signature byte for byte", () =>
    Effect.gen(function*() {
      let checked = 0
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
        }
      }
      expect(checked).toBe(variants.length * 4 * 3)
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
