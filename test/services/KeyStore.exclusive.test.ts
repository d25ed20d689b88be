/**
 * `KeyStore.exclusive`: re-entrant for the store whose lock the fiber holds, never for another store, and
 * a fiber that has used many stores carries no state for each of them.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as FiberRefs from "effect/FiberRefs"
import * as KeyStore from "../../src/services/KeyStore.js"

describe("KeyStore.exclusive", () => {
  it.effect("is re-entrant within one store", () =>
    Effect.gen(function*() {
      const store = yield* KeyStore.makeMemory()
      const inner = yield* store.exclusive(store.exclusive(store.exclusive(Effect.succeed("inner"))))
      expect(inner).toBe("inner")
    }))

  it.effect("holding one store's lock does not enter another's while a second fiber holds it", () =>
    Effect.gen(function*() {
      const a = yield* KeyStore.makeMemory()
      const b = yield* KeyStore.makeMemory()
      const holding = yield* Deferred.make<void>()
      const release = yield* Deferred.make<void>()
      const order: Array<string> = []
      const holder = yield* Effect.fork(b.exclusive(Effect.gen(function*() {
        yield* Deferred.succeed(holding, undefined)
        yield* Deferred.await(release)
        order.push("holder done")
      })))
      yield* Deferred.await(holding)
      const entrant = yield* Effect.fork(a.exclusive(b.exclusive(Effect.sync(() => void order.push("entered b")))))
      yield* Effect.yieldNow({ priority: 0 }).pipe(Effect.repeatN(20))
      expect(order).toEqual([])
      yield* Deferred.succeed(release, undefined)
      yield* Fiber.join(holder)
      yield* Fiber.join(entrant)
      expect(order).toEqual(["holder done", "entered b"])
    }))

  it.effect("a fiber that took the locks of many stores keeps no fiber-local state for each", () =>
    Effect.gen(function*() {
      const count = Effect.map(Effect.getFiberRefs, (refs) => FiberRefs.fiberRefs(refs).pipe((set) => [...set].length))
      yield* (yield* KeyStore.makeMemory()).exclusive(Effect.void)
      const before = yield* count
      for (let i = 0; i < 50; i++) yield* (yield* KeyStore.makeMemory()).exclusive(Effect.void)
      expect(yield* count).toBe(before)
    }))
})
