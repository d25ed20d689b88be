/**
 * Promises 7, 8, 11 and 13: whatever the backend answers, the result is a tagged error or a valid
 * registration; bodies are capped; nothing is stored unless the answer is valid.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Option from "effect/Option"
import * as fc from "fast-check"
import { AuthManager } from "../../src/manager/AuthManager.js"
import * as C from "../../src/crypto/index.js"
import type { AuthState } from "../../src/Domain/AuthDocument.js"
import { KeyStore } from "../../src/services/KeyStore.js"
import { chatgptAuthDocument } from "../../src/testing/index.js"
import { type Answer, biscuitOk, type Endpoint, mockClient, mockedAuthLayer } from "../utils/mockHttp.js"
import { counts, report, timeout } from "../utils/profile.js"

const document = chatgptAuthDocument({ accountId: "account-123", userId: "user-123", refreshToken: "REFRESH-CANARY-9f2" })
const SEED7 = new Uint8Array(32).fill(7)
const KEY7 = C.keyFromSeed(SEED7)
const withIdentity = {
  ...document,
  agent_identity: {
    workspace_id: "account-123",
    chatgpt_user_id: "user-123",
    agent_runtime_id: "agent-123",
    agent_private_key: C.encodePrivateKeyBase64(KEY7),
    registered_at: "2026-04-15T00:00:00Z"
  }
}
const fast = { retry: { baseDelay: "1 millis", maxDelay: "5 millis" } } as never
const TAGS = new Set([
  "HttpStatusError", "TransportError", "TimeoutError", "ResponseDecodeError", "DecryptError", "LoginUnavailableError", "RuntimeIdError"
])

/** Runs ensureTask against mocked answers; returns the outcome, what is stored and what was sent. */
const run = (start: Record<string, unknown>, handler: (e: Endpoint, n: number) => Answer) =>
  Effect.gen(function*() {
    const mock = mockClient((endpoint, _request, n) => handler(endpoint, n))
    return yield* Effect.gen(function*() {
      const exit = yield* Effect.exit((yield* AuthManager).ensureTask)
      const state = yield* (yield* KeyStore).read
      return { exit, state, mock }
    }).pipe(Effect.provide(mockedAuthLayer(mock.client, start, fast)), Logger.withMinimumLogLevel(LogLevel.None))
  })

const storedTask = (state: AuthState): string | undefined =>
  state.identity._tag === "Record" ? state.identity.record.background_task_id : undefined

const json = (body: unknown, status = 200, contentType = "application/json") =>
  new Response(typeof body === "string" ? body : JSON.stringify(body), { status, headers: { "content-type": contentType } })

describe("fuzzed backend answers (promise 7)", () => {
  const statusArb = fc.constantFrom(200, 201, 204, 400, 401, 403, 404, 409, 422, 429, 500, 502, 503)
  const bodyArb = fc.oneof(
    fc.constant<unknown>({ agent_runtime_id: "agent-ok" }),
    fc.constant<unknown>({ agentRuntimeId: "agent-ok" }),
    fc.constant<unknown>({ task_id: "task-ok" }),
    fc.constant<unknown>({ taskId: "task-ok" }),
    fc.constant<unknown>({}),
    fc.constant<unknown>({ agent_runtime_id: 42, task_id: null }),
    fc.constant<unknown>([1, 2, 3]),
    fc.string({ maxLength: 200 }),
    fc.constant<unknown>("<html><body>Bad Gateway</body></html>"),
    fc.json({ maxDepth: 3 })
  )
  const contentTypeArb = fc.constantFrom("application/json", "text/html", "text/plain", "")

  it.live(`${counts.answerFuzzCases} fuzzed answers on the three endpoints: a tagged error or a valid result, never a defect`, () =>
    Effect.gen(function*() {
      const cases = fc.sample(
        fc.record({ endpoint: fc.constantFrom<Endpoint>("biscuit", "register", "task"), status: statusArb, body: bodyArb, contentType: contentTypeArb }),
        { numRuns: counts.answerFuzzCases, seed: 20261125 }
      )
      expect(new Set(cases.map((c) => c.endpoint))).toEqual(new Set(["biscuit", "register", "task"]))
      let tagged = 0
      let succeeded = 0
      let wrongStore = 0
      for (const c of cases) {
        const answer = () => c.status === 204 ? new Response(null, { status: 204 }) : json(c.body, c.status, c.contentType)
        const result = yield* run(document, (endpoint) =>
          endpoint === c.endpoint
            ? (c.endpoint === "biscuit" && c.status < 300 ? new Response(null, { status: c.status }) : answer())
            : endpoint === "biscuit"
            ? biscuitOk()
            : endpoint === "register"
            ? json({ agent_runtime_id: "agent-ok" })
            : json({ task_id: "task-ok" }))
        if (Exit.isSuccess(result.exit)) {
          succeeded++
          // A success must rest on a valid answer for the fuzzed endpoint.
          const valid = c.status >= 200 && c.status < 300 && typeof c.body === "object" && c.body !== null && (
            (c.endpoint === "register" && (c.body as Record<string, unknown>)["agent_runtime_id"] === "agent-ok") ||
            (c.endpoint === "task" && ["task_id", "taskId"].some((k) => (c.body as Record<string, unknown>)[k] === "task-ok"))
          )
          expect(valid).toBe(true)
          expect(storedTask(result.state)).toBe("task-ok")
        } else {
          const failure = Cause.failureOption(result.exit.cause)
          expect(Option.isSome(failure) && TAGS.has(failure.value._tag)).toBe(true)
          if (Option.isSome(failure) && failure.value._tag === "HttpStatusError") expect(Array.from(failure.value.body).length).toBeLessThanOrEqual(515)
          tagged++
          if (storedTask(result.state) !== undefined) wrongStore++
          if (c.endpoint === "register" && result.state.identity._tag !== "Absent") wrongStore++
        }
      }
      report(`fuzzed answers: ${cases.length} cases -> ${tagged} tagged errors, ${succeeded} valid registrations, 0 defects, ${wrongStore} stored wrongly`)
      expect(tagged + succeeded).toBe(cases.length)
      expect(wrongStore).toBe(0)
    }), timeout(120_000, 600_000))

  it.effect("deeply nested or wrongly typed JSON is a ResponseDecodeError naming the field, never a crash", () =>
    Effect.gen(function*() {
      // 30,000 levels: deep enough to overflow a recursive formatter, small enough (60 kB) to pass the 64 KiB cap.
      const deep = "[".repeat(30_000) + "]".repeat(30_000)
      const cases: Array<[string, string]> = [
        [`{"agent_runtime_id": ${deep}}`, "agent_runtime_id"],
        [deep, "body"],
        [`{"agent_runtime_id": {"secret": "s3cr3t-value"}}`, "agent_runtime_id"]
      ]
      for (const [body, field] of cases) {
        const result = yield* run(document, (e) => e === "biscuit" ? biscuitOk() : json(body))
        const failure = Exit.isFailure(result.exit) ? Cause.failureOption(result.exit.cause) : Option.none()
        expect(Option.map(failure, (f) => f._tag)).toEqual(Option.some("ResponseDecodeError"))
        expect(Option.map(failure, (f) => f._tag === "ResponseDecodeError" && f.reason)).toEqual(Option.some(`${field} is missing or has the wrong type`))
        expect(Option.map(failure, (f) => f.message.includes("s3cr3t"))).toEqual(Option.some(false))
      }
    }))

  it.effect("a 10 MB body is not read past 64 KiB: a success answer that large is refused, an error body is cut", () =>
    Effect.gen(function*() {
      const TEN_MB = 10 * 1024 * 1024
      const CHUNK = 16 * 1024
      /** A 10 MB body served in 16 KiB chunks, counting what the client pulls. */
      const streamed = (status: number) => {
        const pulled = { bytes: 0 }
        const body = new ReadableStream<Uint8Array>({
          pull(controller) {
            if (pulled.bytes >= TEN_MB) return controller.close()
            pulled.bytes += CHUNK
            controller.enqueue(new Uint8Array(CHUNK).fill(0x78))
          }
        }, { highWaterMark: 0 })
        return { pulled, response: () => new Response(body, { status, headers: { "content-type": "application/json" } }) }
      }
      const ok = streamed(200)
      const big = yield* run(document, (e) => e === "biscuit" ? biscuitOk() : ok.response())
      const failure = Exit.isFailure(big.exit) ? Cause.failureOption(big.exit.cause) : Option.none()
      expect(Option.map(failure, (f) => f._tag)).toEqual(Option.some("ResponseDecodeError"))
      const error500 = streamed(500)
      const status = yield* run(document, (e) => e === "biscuit" ? biscuitOk() : error500.response())
      const error = Exit.isFailure(status.exit) ? Cause.failureOption(status.exit.cause) : Option.none()
      expect(Option.map(error, (f) => f._tag === "HttpStatusError" && Array.from(f.body).length)).toEqual(Option.some(515))
      expect(status.state.identity._tag).toBe("Absent")
      // Reading stopped at the first chunk past 64 KiB (a chunk more may be buffered), not at 10 MB.
      for (const { pulled } of [ok, error500]) expect(pulled.bytes).toBeLessThanOrEqual(64 * 1024 + 2 * CHUNK)
    }))
})

describe("sealed-box tampering (promise 8)", () => {
  // That any one flipped bit makes a box fail to open is a property of the crypto core, checked for
  // random keys and bits in test/crypto/properties.test.ts. Here: that the AuthManager turns each kind
  // of bad box into a DecryptError and stores no task.
  it.effect("a flipped bit in the ephemeral key, the tag or the ciphertext, truncations, a wrong key, bad base64: DecryptError, no task stored", () =>
    Effect.gen(function*() {
      const box = (C.decodeBase64(C.sealTaskId("task-sealed", KEY7.publicKey)) as { right: Uint8Array }).right
      // A sealed box is the ephemeral public key (32 bytes), the Poly1305 tag (16), then the ciphertext.
      const flipped = (byte: number) => {
        const out = Uint8Array.from(box)
        out[byte]! ^= 0x01
        return C.encodeBase64(out)
      }
      const bad: Array<[string, string]> = [
        ["bit in the ephemeral key", flipped(0)],
        ["bit in the tag", flipped(32)],
        ["bit in the ciphertext", flipped(box.length - 1)],
        ["only key and tag", C.encodeBase64(box.subarray(0, 48))],
        ["one byte short", C.encodeBase64(box.subarray(0, box.length - 1))],
        ["sealed to another key", C.sealTaskId("task-sealed", C.keyFromSeed(new Uint8Array(32).fill(8)).publicKey)],
        ["not base64", "%%%not-base64%%%"],
        ["padding missing", C.encodeBase64(box).replace(/=+$/, "")]
      ]
      expect(C.encodeBase64(box)).toMatch(/=$/) // so that "padding missing" removes something
      const refused: Array<string> = []
      for (const [name, sealed] of bad) {
        const result = yield* run(withIdentity, (e) => e === "biscuit" ? biscuitOk() : json({ encrypted_task_id: sealed }))
        const failure = Exit.isFailure(result.exit) ? Cause.failureOption(result.exit.cause) : Option.none()
        if (Option.exists(failure, (f) => f._tag === "DecryptError") && storedTask(result.state) === undefined) refused.push(name)
      }
      const control = yield* run(withIdentity, (e) => e === "biscuit" ? biscuitOk() : json({ encrypted_task_id: C.encodeBase64(box) }))
      report(`sealed-box tampering through the AuthManager: ${refused.length}/${bad.length} kinds refused with nothing stored; the untouched box opens`)
      expect(refused).toEqual(bad.map(([name]) => name))
      expect(storedTask(control.state)).toBe("task-sealed")
    }))
})

describe("unsafe runtime ids (promise 11)", () => {
  it.effect("refused before any URL is built: no task request is sent, nothing is stored", () =>
    Effect.gen(function*() {
      const unsafe = [
        "/", "..", ".", "a/b", "../../admin", "a\\b", "a?b=1", "a#frag", "a b", " a", "a\t", "a\nb", "a\rb", "a\u0000",
        "a\u001fb", "a\u007f", "a\u0085b", "a\u00a0b", "a\u2028b", "", "x".repeat(257), "x".repeat(10_000),
        ...fc.sample(fc.tuple(fc.string({ maxLength: 10 }), fc.constantFrom("/", "?", "#", " ", "\\", "\u0001"), fc.string({ maxLength: 10 })).map(([a, s, b]) => a + s + b), { numRuns: 30, seed: 7 })
      ]
      let refused = 0
      for (const id of unsafe) {
        const result = yield* run(document, (e) => e === "biscuit" ? biscuitOk() : json({ agent_runtime_id: id }))
        const failure = Exit.isFailure(result.exit) ? Cause.failureOption(result.exit.cause) : Option.none()
        const sentTask = result.mock.seen.some((s) => s.endpoint === "task")
        if (Option.exists(failure, (f) => f._tag === "RuntimeIdError") && !sentTask && result.state.identity._tag === "Absent") refused++
      }
      report(`unsafe runtime ids: ${refused}/${unsafe.length} refused before any task URL was built`)
      expect(refused).toBe(unsafe.length)
    }))
})

describe("an expired login (promise 13)", () => {
  it.effect("401 from the biscuit endpoint: LoginUnavailableError(Expired) asking for `codex login`, once; the refresh token is never sent; nothing is stored", () =>
    Effect.gen(function*() {
      const result = yield* run(document, () => new Response("token expired", { status: 401 }))
      const failure = Exit.isFailure(result.exit) ? Cause.failureOption(result.exit.cause) : Option.none()
      expect(Option.map(failure, (f) => f._tag === "LoginUnavailableError" && f.reason)).toEqual(Option.some("Expired"))
      expect(Option.map(failure, (f) => f.message)).toEqual(Option.some(expect.stringContaining("codex login")))
      expect(result.mock.counts.biscuit).toBe(1)
      for (const { request } of result.mock.seen) {
        expect(JSON.stringify(request.headers)).not.toContain("REFRESH-CANARY")
        expect(request.url).not.toContain("REFRESH-CANARY")
      }
      expect(result.state.login._tag === "ChatGpt").toBe(true)
      expect(result.state.identity._tag).toBe("Absent")
    }))
})
