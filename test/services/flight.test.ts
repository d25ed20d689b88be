/**
 * Issue 13: callers of `ensureTask` that find no task while a registration is under way wait on that
 * registration (and share its outcome) instead of taking the store's lock one after another.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import { HttpStatusError } from "../../src/Domain/Errors.js"
import { TaskId } from "../../src/Domain/Ids.js"
import * as Settings from "../../src/Domain/Settings.js"
import * as AuthManager from "../../src/manager/AuthManager.js"
import * as Identity from "../../src/manager/Identity.js"
import * as AssertionSigner from "../../src/services/AssertionSigner.js"
import * as KeyStore from "../../src/services/KeyStore.js"
import { chatgptAuthDocument, FakeBackend, type FakeScript, layerFakeBackend } from "../../src/testing/index.js"

const document = chatgptAuthDocument({ accountId: "account-123", userId: "user-123" })
const CALLERS = 200

/** The AuthManager on fakes, with a KeyStore that counts the callers of its lock. */
const layer = (script: FakeScript, locks: { count: number }) => {
  const counting = Layer.effect(
    KeyStore.KeyStore,
    Effect.map(KeyStore.makeMemory(document), (store) => ({
      ...store,
      exclusive: (self) => Effect.suspend(() => (locks.count++, store.exclusive(self)))
    } satisfies KeyStore.KeyStore["Type"]))
  )
  return AuthManager.layer.pipe(
    Layer.provideMerge(Identity.layer),
    Layer.provideMerge(layerFakeBackend(script)),
    Layer.provideMerge(Layer.mergeAll(AssertionSigner.layer, counting, Settings.layer()))
  )
}

/** Forks `n` copies of `self` and returns once every one of them is suspended (waiting on something). */
const forkWaiting = <A, E>(n: number, self: Effect.Effect<A, E>) =>
  Effect.gen(function*() {
    const fibers = yield* Effect.forEach(Array.from({ length: n }), () => Effect.fork(self))
    while (true) {
      const statuses = yield* Effect.forEach(fibers, Fiber.status)
      if (statuses.every((status) => status._tag === "Suspended")) return fibers
      yield* Effect.yieldNow()
    }
  })

/** A registration that waits for `gate` (the n-th one, from 0), and says when it started. */
const gated = (gate: Deferred.Deferred<void>, started: Deferred.Deferred<void>, which = 0): FakeScript => ({
  register: (n) =>
    n === which
      ? Effect.zipRight(Deferred.succeed(started, undefined), Effect.as(Deferred.await(gate), `agent-${n}`))
      : Effect.succeed(`agent-${n}`)
})

describe("ensureTask single flight", () => {
  it.live(`${CALLERS} callers during a registration wait on it: one lock taken, one registration, one result`, () =>
    Effect.gen(function*() {
      const gate = yield* Deferred.make<void>()
      const started = yield* Deferred.make<void>()
      const locks = { count: 0 }
      yield* Effect.gen(function*() {
        const auth = yield* AuthManager.AuthManager
        const leader = yield* Effect.fork(auth.ensureTask)
        yield* Deferred.await(started)
        const waiters = yield* forkWaiting(CALLERS, auth.ensureTask)
        yield* Deferred.succeed(gate, undefined)
        const first = yield* Fiber.join(leader)
        const rest = yield* Fiber.join(Fiber.all(waiters))
        const calls = yield* (yield* FakeBackend).calls
        expect(first.reused).toBe(false)
        expect(rest.every((r) => r.reused && r.taskId === first.taskId && r.agentRuntimeId === first.agentRuntimeId)).toBe(true)
        expect([calls.registrations.length, calls.tasks.length]).toEqual([1, 1])
        // Only the leader took the lock: the waiters never queued on it.
        expect(locks.count).toBe(1)
      }).pipe(Effect.provide(layer(gated(gate, started), locks)))
    }).pipe(Logger.withMinimumLogLevel(LogLevel.None)))

  it.live("a failed registration is shared by its waiters (one attempt), and the next call tries again", () =>
    Effect.gen(function*() {
      const gate = yield* Deferred.make<void>()
      const started = yield* Deferred.make<void>()
      const failing: FakeScript = {
        register: (n) =>
          n === 0
            ? Effect.zipRight(
              Deferred.succeed(started, undefined),
              Effect.zipRight(Deferred.await(gate), Effect.fail(new HttpStatusError({ operation: "register", status: 400, method: "POST", url: "fake", body: "" })))
            )
            : Effect.succeed(`agent-${n}`)
      }
      yield* Effect.gen(function*() {
        const auth = yield* AuthManager.AuthManager
        const leader = yield* Effect.fork(Effect.either(auth.ensureTask))
        yield* Deferred.await(started)
        const waiters = yield* forkWaiting(50, Effect.either(auth.ensureTask))
        yield* Deferred.succeed(gate, undefined)
        const outcomes = [yield* Fiber.join(leader), ...(yield* Fiber.join(Fiber.all(waiters)))]
        expect(outcomes.map((o) => (o._tag === "Left" ? o.left._tag : o.right.agentRuntimeId))).toEqual(outcomes.map(() => "HttpStatusError"))
        expect((yield* (yield* FakeBackend).calls).registrations.length).toBe(1)
        expect((yield* auth.ensureTask).agentRuntimeId).toBe("agent-1")
      }).pipe(Effect.provide(layer(failing, { count: 0 })))
    }).pipe(Logger.withMinimumLogLevel(LogLevel.None)))

  it.live("a task changed in the store after a call is what the next call returns: no registration, no lock", () =>
    Effect.gen(function*() {
      const locks = { count: 0 }
      yield* Effect.gen(function*() {
        const auth = yield* AuthManager.AuthManager
        const store = yield* KeyStore.KeyStore
        const first = yield* auth.ensureTask
        expect((yield* auth.ensureTask).taskId).toBe(first.taskId)
        // Another writer (a process, Codex) stores another task for the same identity.
        const state = yield* store.read
        if (state.identity._tag !== "Record") throw new Error("no record stored")
        yield* store.saveIdentity({ ...state.identity.record, task_id: TaskId.make("task-elsewhere") })
        const locksBefore = locks.count
        const next = yield* auth.ensureTask
        expect(next).toEqual({ agentRuntimeId: first.agentRuntimeId, taskId: "task-elsewhere", reused: true })
        expect(locks.count - locksBefore).toBe(0)
        expect((yield* (yield* FakeBackend).calls).tasks.length).toBe(1)
        // And when the identity is removed, the next call registers a new one.
        yield* store.removeIdentity
        expect((yield* auth.ensureTask).agentRuntimeId).toBe("agent-1")
      }).pipe(Effect.provide(layer({}, locks)))
    }).pipe(Logger.withMinimumLogLevel(LogLevel.None)))

  it.live("when the registering caller is interrupted, its waiters start over and one of them registers", () =>
    Effect.gen(function*() {
      const gate = yield* Deferred.make<void>()
      const started = yield* Deferred.make<void>()
      yield* Effect.gen(function*() {
        const auth = yield* AuthManager.AuthManager
        const leader = yield* Effect.fork(auth.ensureTask)
        yield* Deferred.await(started)
        const waiters = yield* forkWaiting(20, auth.ensureTask)
        yield* Fiber.interrupt(leader)
        const rest = yield* Fiber.join(Fiber.all(waiters))
        expect(new Set(rest.map((r) => r.agentRuntimeId))).toEqual(new Set(["agent-1"]))
        expect(rest.filter((r) => !r.reused).length).toBe(1)
      }).pipe(Effect.provide(layer(gated(gate, started), { count: 0 })))
    }).pipe(Logger.withMinimumLogLevel(LogLevel.None)))
})
