/**
 * Promise 12: retries, on the TestClock (no wall-clock assertions). Connection failures, 429 and 503
 * are retried with jittered backoff, Retry-After (seconds or an HTTP date) is honoured up to the cap,
 * at most 3 attempts; other 4xx are not; a POST that timed out is not; a hung server ends the call at
 * its timeout and leaves the store unlocked.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as TestClock from "effect/TestClock"
import { AuthManager } from "../../src/manager/AuthManager.js"
import { KeyStore } from "../../src/services/KeyStore.js"
import { chatgptAuthDocument } from "../../src/testing/index.js"
import { type Answer, biscuitOk, type Endpoint, mockClient, mockedAuthLayer } from "../utils/mockHttp.js"

const document = chatgptAuthDocument({ accountId: "account-123", userId: "user-123" })
const registered = () => new Response(JSON.stringify({ agent_runtime_id: "agent-1" }), { headers: { "content-type": "application/json" } })

/** Forks ensureIdentity on the TestClock; returns the fiber, the mock and a way to move time. */
const forked = (handler: (endpoint: Endpoint, n: number) => Answer) =>
  Effect.gen(function*() {
    const mock = mockClient((endpoint, _request, n) => handler(endpoint, n))
    const layer = mockedAuthLayer(mock.client, document)
    const fiber = yield* Effect.fork(Effect.flatMap(AuthManager, (a) => a.ensureIdentity).pipe(Effect.provide(layer)))
    yield* TestClock.adjust(0)
    return { fiber, mock, layer }
  })

describe("retries (promise 12)", () => {
  it.effect("429 with Retry-After: 5 waits 5 s before the second attempt; then succeeds", () =>
    Effect.gen(function*() {
      const { fiber, mock } = yield* forked((e, n) =>
        e === "biscuit" ? biscuitOk() : n === 0 ? new Response("slow down", { status: 429, headers: { "retry-after": "5" } }) : registered())
      yield* TestClock.adjust(Duration.millis(4999))
      expect(mock.counts.register).toBe(1)
      yield* TestClock.adjust(Duration.millis(1))
      const identity = yield* Fiber.join(fiber)
      expect(identity.agentRuntimeId).toBe("agent-1")
      expect([mock.counts.biscuit, mock.counts.register]).toEqual([2, 2]) // one biscuit per POST
    }))

  it.effect("Retry-After as an HTTP date is honoured; a huge one is capped at 10 s", () =>
    Effect.gen(function*() {
      const date = new Date(7000).toUTCString() // the TestClock starts at 0
      const dated = yield* forked((e, n) =>
        e === "biscuit" ? biscuitOk() : n === 0 ? new Response("", { status: 503, headers: { "retry-after": date } }) : registered())
      yield* TestClock.adjust(Duration.millis(6999))
      expect(dated.mock.counts.register).toBe(1)
      yield* TestClock.adjust(Duration.millis(1))
      yield* Fiber.join(dated.fiber)
      expect(dated.mock.counts.register).toBe(2)

      const capped = yield* forked((e, n) =>
        e === "biscuit" ? biscuitOk() : n === 0 ? new Response("", { status: 429, headers: { "retry-after": "3600" } }) : registered())
      yield* TestClock.adjust(Duration.seconds(10))
      yield* Fiber.join(capped.fiber)
      expect(capped.mock.counts.register).toBe(2)
    }))

  it.effect("at most 3 attempts for 503 and for refused connections; 400 and 401 are not retried", () =>
    Effect.gen(function*() {
      const always503 = yield* forked((e) => e === "biscuit" ? biscuitOk() : new Response("", { status: 503 }))
      yield* TestClock.adjust(Duration.minutes(1))
      const exit503 = yield* Fiber.await(always503.fiber)
      expect(Exit.isFailure(exit503)).toBe(true)
      expect(always503.mock.counts.register).toBe(3)

      const refused = yield* forked(() => "refused")
      yield* TestClock.adjust(Duration.minutes(1))
      const exitRefused = yield* Fiber.await(refused.fiber)
      expect(Exit.match(exitRefused, { onFailure: (c) => String(c), onSuccess: () => "" })).toContain("TransportError")
      expect(refused.mock.counts.biscuit).toBe(3)

      for (const status of [400, 401, 403, 404, 409]) {
        const once = yield* forked((e) => e === "biscuit" ? biscuitOk() : new Response("", { status }))
        yield* TestClock.adjust(Duration.minutes(1))
        yield* Fiber.await(once.fiber)
        expect(once.mock.counts.register).toBe(1)
      }
    }))

  it.effect("backoff is jittered and exponential: a 503 retry waits at most 250 ms, then at most 500 ms", () =>
    Effect.gen(function*() {
      const { fiber, mock } = yield* forked((e, n) => e === "biscuit" ? biscuitOk() : n < 2 ? new Response("", { status: 503 }) : registered())
      yield* TestClock.adjust(Duration.millis(250))
      expect(mock.counts.register).toBeGreaterThanOrEqual(2)
      yield* TestClock.adjust(Duration.millis(500))
      yield* Fiber.join(fiber)
      expect(mock.counts.register).toBe(3)
    }))

  it.effect("a hung POST times out at 15 s, is not retried, and leaves the store unlocked; a hung GET is retried", () =>
    Effect.gen(function*() {
      const hung = yield* forked((e) => e === "biscuit" ? biscuitOk() : "hang")
      yield* TestClock.adjust(Duration.millis(14_999))
      expect(Option.isNone(yield* Fiber.poll(hung.fiber))).toBe(true)
      yield* TestClock.adjust(Duration.millis(1))
      const exit = yield* Fiber.await(hung.fiber)
      expect(Exit.match(exit, { onFailure: (c) => String(c), onSuccess: () => "" })).toContain("TimeoutError")
      expect(hung.mock.counts.register).toBe(1)
      // The store's lock was released with the failure: another exclusive section runs at once.
      const free = yield* Effect.flatMap(KeyStore, (store) => store.exclusive(Effect.succeed("free"))).pipe(
        Effect.provide(hung.layer),
        Effect.timeout(Duration.millis(1))
      )
      expect(free).toBe("free")

      const hungGet = yield* forked((e) => e === "biscuit" ? "hang" : registered())
      yield* TestClock.adjust(Duration.minutes(2))
      yield* Fiber.await(hungGet.fiber)
      expect(hungGet.mock.counts.biscuit).toBe(3)
      console.log("retries: 429/503 honour Retry-After (5 s, HTTP date 7 s, 3600 s capped to 10 s); 3 attempts at most; 4xx once; hung POST ends at 15 s, once; hung GET 3 times")
    }))
})
