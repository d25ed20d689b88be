/**
 * The progress hook (src/Domain/Progress.ts): each request and retry of the transport is reported to the
 * reporter set with `withReporter`, with its attempt of how many; without one nothing changes, and a
 * reporter that fails never fails the request.
 */
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import { describe, expect, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Progress from "../../src/Domain/Progress.js"
import { retrying, send } from "../../src/internal/transport.js"
import { mockClient } from "../utils/mockHttp.js"

const URL_ = "http://backend.test/api/accounts/v1/agent/register"
const busyTwice = () =>
  mockClient((_endpoint, _request, n) =>
    n < 2 ? new Response("busy", { status: 503, headers: { "retry-after": "0" } }) : new Response("{}", { status: 201 })
  )
const call = (client: ReturnType<typeof busyTwice>["client"]) =>
  send(client, { operation: "register", request: HttpClientRequest.post(URL_), timeout: Duration.seconds(2), secrets: [] })

/** Three attempts, a few milliseconds apart. */
const settings = { maxAttempts: 3, baseDelay: Duration.millis(1), maxDelay: Duration.millis(5) }

const recorder = () => {
  const events: Array<Progress.Event> = []
  return { events, reporter: (event: Progress.Event) => Effect.sync(() => void events.push(event)) }
}

describe("progress hook", () => {
  it.live("each attempt is reported (sent, then failed or answered) and each retry before its wait, with attempt N of 3", () =>
    Effect.gen(function*() {
      const { client } = busyTwice()
      const { events, reporter } = recorder()
      const reply = yield* call(client).pipe(retrying(settings, { idempotent: false }), Progress.withReporter(reporter))
      expect(reply.status).toBe(201)
      expect(events.map((e) => `${e._tag} ${e.attempt}/${e.maxAttempts}`)).toEqual([
        "Sent 1/3",
        "Failed 1/3",
        "Retrying 2/3",
        "Sent 2/3",
        "Failed 2/3",
        "Retrying 3/3",
        "Sent 3/3",
        "Answered 3/3"
      ])
      for (const event of events) expect(event).toMatchObject({ operation: "register", method: "POST", url: URL_ })
      expect(events[0]).toMatchObject({ timeoutMillis: 2000 })
      const failed = events[1] as Progress.Failed
      expect(failed.error._tag).toBe("HttpStatusError")
      expect(failed.elapsedMillis).toBeGreaterThanOrEqual(0)
      expect((events[2] as Progress.Retrying).delayMillis).toBeLessThanOrEqual(5)
      expect(events[7]).toMatchObject({ status: 201 })
    }))

  it.live("outside a retry loop a request is attempt 1 of 1; with no reporter, or one that dies, the result is the same", () =>
    Effect.gen(function*() {
      const { events, reporter } = recorder()
      const single = yield* Effect.exit(call(busyTwice().client).pipe(Progress.withReporter(reporter)))
      expect(Exit.isFailure(single)).toBe(true)
      expect(events.map((e) => `${e._tag} ${e.attempt}/${e.maxAttempts}`)).toEqual(["Sent 1/1", "Failed 1/1"])

      const silent = yield* call(busyTwice().client).pipe(retrying(settings, { idempotent: false }))
      const dying = yield* call(busyTwice().client).pipe(
        retrying(settings, { idempotent: false }),
        Progress.withReporter(() => Effect.die("the reporter broke"))
      )
      const throwing = yield* call(busyTwice().client).pipe(
        retrying(settings, { idempotent: false }),
        Progress.withReporter(() => {
          throw new Error("the reporter threw")
        })
      )
      expect([silent.status, dying.status, throwing.status]).toEqual([201, 201, 201])
    }))

  it.live("a reporter sees only the requests of the region it was set for", () =>
    Effect.gen(function*() {
      const { events, reporter } = recorder()
      yield* call(busyTwice().client).pipe(retrying(settings, { idempotent: false }), Progress.withReporter(reporter))
      const seen = events.length
      yield* call(busyTwice().client).pipe(retrying(settings, { idempotent: false }))
      expect(events.length).toBe(seen)
    }))
})
