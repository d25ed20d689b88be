/** The exported test kit, used as an embedding application would. */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import { AuthManager } from "../src/manager/AuthManager.js"
import { makeTestLayer } from "../src/testing/index.js"

describe("testing kit", () => {
  it.effect("makeTestLayer: a partial fake; a missing member, effect or method, dies with 'unimplemented <name>'", () =>
    Effect.gen(function*() {
      const layer = makeTestLayer(AuthManager)({
        authorizationHeaderOrBearer: Effect.succeed(
          Option.some({ scheme: "Bearer" as const, value: Redacted.make("Bearer t"), accountId: Option.none(), fedramp: false, task: Option.none() })
        )
      })
      const header = yield* Effect.flatMap(AuthManager, (a) => a.authorizationHeaderOrBearer).pipe(Effect.provide(layer))
      expect(Option.map(header, (h) => h.scheme)).toEqual(Option.some("Bearer"))
      const exit = yield* Effect.exit(Effect.flatMap(AuthManager, (a) => a.ensureTask).pipe(Effect.provide(layer)))
      expect(Exit.isFailure(exit) && String(exit.cause)).toContain("unimplemented ensureTask")
      // A missing member that is a function, not an effect: calling it dies the same way (no TypeError).
      const called = yield* Effect.exit(
        Effect.flatMap(AuthManager, (a) => a.renewTask({ agentRuntimeId: "agent-1", taskId: "task-1" } as never)).pipe(Effect.provide(layer))
      )
      expect(Exit.isFailure(called) && String(called.cause)).toContain("unimplemented renewTask")
    }))
})
