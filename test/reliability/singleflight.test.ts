/** Promise 1: in-process single flight. 1,000 concurrent fibers, one registration of each kind. */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { AuthManager } from "../../src/manager/AuthManager.js"
import { HttpStatusError } from "../../src/Domain/Errors.js"
import { chatgptAuthDocument, FakeBackend } from "../../src/testing/index.js"
import { layerAuthManager2604 } from "../utils/protocol.js"
import { report } from "../utils/profile.js"

const FIBERS = 1000
const document = chatgptAuthDocument({ accountId: "account-123", userId: "user-123" })

describe("single flight", () => {
  it.effect(`${FIBERS} concurrent ensureTask calls on a fresh store: one registration each, one biscuit per POST`, () =>
    Effect.gen(function*() {
      const auth = yield* AuthManager
      const results = yield* Effect.all(Array.from({ length: FIBERS }, () => auth.ensureTask), { concurrency: "unbounded" })
      const calls = yield* (yield* FakeBackend).calls
      report(
        `single flight: ${FIBERS} fibers -> ${calls.registrations.length} agent registration, ${calls.tasks.length} task registration, ${calls.biscuits.length} biscuits`
      )
      expect(calls.registrations.length).toBe(1)
      expect(calls.tasks.length).toBe(1)
      expect(calls.biscuits.length).toBe(2)
      expect(new Set(results.map((r) => `${r.agentRuntimeId}/${r.taskId}`)).size).toBe(1)
      expect(results.filter((r) => !r.reused).length).toBe(1)
    }).pipe(Effect.provide(layerAuthManager2604({ document }))))

  it.effect("a failed attempt is not cached: of 50 concurrent callers only the one whose attempt failed sees it; the next one registers", () =>
    Effect.gen(function*() {
      const auth = yield* AuthManager
      const first = yield* Effect.all(Array.from({ length: 50 }, () => Effect.either(auth.ensureTask)), { concurrency: "unbounded" })
      const failures = first.filter((r) => r._tag === "Left").length
      const after = yield* auth.ensureTask
      const calls = yield* (yield* FakeBackend).calls
      report(`single flight after failure: ${failures}/50 saw the failure, then ${calls.registrations.length} registrations in all`)
      expect(failures).toBe(1)
      expect(new Set(first.flatMap((r) => r._tag === "Right" ? [r.right.agentRuntimeId] : []))).toEqual(new Set(["agent-1"]))
      expect(after.agentRuntimeId).toBe("agent-1")
      expect(calls.registrations.length).toBe(2)
    }).pipe(Effect.provide(layerAuthManager2604({
      document,
      script: {
        register: (n) =>
          n === 0
            ? Effect.fail(new HttpStatusError({ operation: "register", status: 500, method: "POST", url: "fake", body: "" }))
            : Effect.succeed(`agent-${n}`)
      }
    }))))
})
