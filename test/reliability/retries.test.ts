/**
 * Promise 12: retries, on the TestClock (no wall-clock assertions). Connection failures, 429 and 503
 * are retried with jittered backoff, Retry-After (seconds or an HTTP date) is honoured up to the cap,
 * at most 3 attempts; other 4xx are not; a POST that timed out is not; a hung server ends the call at
 * its timeout and leaves the store unlocked.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Random from "effect/Random"
import * as TestClock from "effect/TestClock"
import { AuthManager } from "../../src/manager/AuthManager.js"
import { KeyStore } from "../../src/services/KeyStore.js"
import { chatgptAuthDocument } from "../../src/testing/index.js"
import { type Answer, biscuitOk, type Endpoint, mockClient, mockedAuthLayer } from "../utils/mockHttp.js"
import { report } from "../utils/profile.js"

const document = chatgptAuthDocument({ accountId: "account-123", userId: "user-123" })
const registered = () => new Response(JSON.stringify({ agent_runtime_id: "agent-1" }), { headers: { "content-type": "application/json" } })

/**
 * Forks ensureIdentity on the TestClock; returns the fiber, the mock and the services the call runs
 * with (built once in the test's scope, so a later look at the KeyStore sees the store the call used).
 */
const forked = (handler: (endpoint: Endpoint, n: number) => Answer) =>
  Effect.gen(function*() {
    const mock = mockClient((endpoint, _request, n) => handler(endpoint, n))
    const services = yield* Layer.build(mockedAuthLayer(mock.client, document))
    const fiber = yield* Effect.fork(Effect.flatMap(AuthManager, (a) => a.ensureIdentity).pipe(Effect.provide(services)))
    yield* TestClock.adjust(0)
    return { fiber, mock, services }
  })

describe("retries (promise 12)", () => {
  it.scoped("429 with Retry-After: 5 waits 5 s before the second attempt; then succeeds", () =>
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

  it.scoped("Retry-After as an HTTP date is honoured; a huge one is capped at 10 s", () =>
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
      yield* TestClock.adjust(Duration.millis(9999))
      expect(capped.mock.counts.register).toBe(1)
      yield* TestClock.adjust(Duration.millis(1))
      yield* Fiber.join(capped.fiber)
      expect(capped.mock.counts.register).toBe(2)
    }))

  it.scoped("at most 3 attempts for 503 and for refused connections; 400, 401, 403, 404 and 409 are not retried", () =>
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

  it.scoped("backoff is jittered and exponential: the first 503 retry waits at most 250 ms, the second at most 500 ms", () =>
    Effect.gen(function*() {
      // The mock notes the TestClock's time of each attempt; a wait is the time from one to the next.
      const waits = (seed: number) =>
        Effect.gen(function*() {
          const { fiber, mock } = yield* forked((e, n) => e === "biscuit" ? biscuitOk() : n < 2 ? new Response("", { status: 503 }) : registered())
          yield* TestClock.adjust(Duration.seconds(1))
          yield* Fiber.join(fiber)
          const at = mock.seen.filter((s) => s.endpoint === "register").map((s) => s.at)
          expect(at.length).toBe(3)
          return [at[1]! - at[0]!, at[2]! - at[1]!] as const
        }).pipe(Effect.withRandom(Random.make(seed)))
      const all: Array<readonly [number, number]> = []
      for (let seed = 1; seed <= 8; seed++) all.push(yield* waits(seed))
      const [first, second] = [all.map((w) => w[0]), all.map((w) => w[1])]
      expect(Math.max(...first)).toBeLessThanOrEqual(250)
      expect(Math.max(...second)).toBeLessThanOrEqual(500)
      // Jittered: the waits differ from seed to seed. Exponential: a second wait can exceed the first cap.
      expect(new Set(first).size).toBeGreaterThan(1)
      expect(Math.max(...second)).toBeGreaterThan(250)
    }))

  it.scoped("a hung POST times out at 15 s, is not retried, and leaves the store unlocked; a hung GET is retried", () =>
    Effect.gen(function*() {
      const hung = yield* forked((e) => e === "biscuit" ? biscuitOk() : "hang")
      yield* TestClock.adjust(Duration.millis(14_999))
      expect(Option.isNone(yield* Fiber.poll(hung.fiber))).toBe(true)
      yield* TestClock.adjust(Duration.millis(1))
      const exit = yield* Fiber.await(hung.fiber)
      expect(Exit.match(exit, { onFailure: (c) => String(c), onSuccess: () => "" })).toContain("TimeoutError")
      expect(hung.mock.counts.register).toBe(1)
      // The lock of the store the hung call used was released with the failure: another exclusive
      // section on that same store runs without any time passing.
      const store = Context.get(hung.services, KeyStore)
      const probe = yield* Effect.fork(store.exclusive(Effect.succeed("free")))
      yield* TestClock.adjust(0)
      expect(yield* Fiber.poll(probe)).toEqual(Option.some(Exit.succeed("free")))

      const hungGet = yield* forked((e) => e === "biscuit" ? "hang" : registered())
      yield* TestClock.adjust(Duration.minutes(2))
      yield* Fiber.await(hungGet.fiber)
      expect(hungGet.mock.counts.biscuit).toBe(3)
      report("retries: 429/503 honour Retry-After (5 s, HTTP date 7 s, 3600 s capped to 10 s); 3 attempts at most; 4xx once; hung POST ends at 15 s, once; hung GET 3 times")
    }))
})
