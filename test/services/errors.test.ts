/**
 * Every tagged error, produced by a real scenario against the reference backend on 127.0.0.1, with
 * canary secrets in the tokens, the id_token, the key and the biscuit: none may reach an error's
 * message or fields, or a log line. (The retry rules themselves: test/reliability/retries.test.ts.)
 */
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { describe, expect, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import { AuthManager } from "../../src/manager/AuthManager.js"
import type { Endpoint } from "../../src/backend/ReferenceBackend.js"
import type * as Config from "../../src/Domain/Settings.js"
import * as C from "../../src/crypto/index.js"
import { AuthError } from "../../src/Domain/Errors.js"
import { KeyStore } from "../../src/services/KeyStore.js"
import { liveAuthLayer, startBackend } from "../utils/backend.js"

const canary = (name: string) => `CANARY${name}${C.encodeBase64Url(crypto.getRandomValues(new Uint8Array(9)))}`
const secrets = {
  access: canary("ACCESS"),
  refresh: canary("REFRESH"),
  email: canary("IDTOKEN"),
  biscuit: canary("BISCUIT")
}
const allCanaries = () => [secrets.access, secrets.refresh, secrets.email, secrets.biscuit]

type Fault = (n: number, headers: Readonly<Record<string, string>>) => Option.Option<HttpServerResponse.HttpServerResponse | "hang">

const echo = (status: number) => (_: number, headers: Readonly<Record<string, string>>) =>
  Option.some(HttpServerResponse.text(`upstream said: ${JSON.stringify(headers)}`, { status }))

/** Runs `ensureTask` against a backend with faults; returns the failure (if any), logs, calls and the store. */
const scenario = (faults: Partial<Record<Endpoint, Fault>>, settings: Config.Options = {}, baseUrlOverride?: string) =>
  Effect.gen(function*() {
    const logs: Array<string> = []
    const { backend, baseUrl } = yield* startBackend({
      fault: (endpoint, n, request) =>
        Option.map(faults[endpoint]?.(n, request.headers) ?? Option.none(), (response) =>
          response === "hang" ? Effect.never : Effect.succeed(response))
    })
    const document = yield* backend.issueLogin({ accountId: "account-123", userId: "user-123", accessToken: secrets.access })
    const tokens = document["tokens"] as Record<string, unknown>
    const doc = {
      ...document,
      tokens: { ...tokens, refresh_token: secrets.refresh, id_token: (tokens["id_token"] as string) }
    }
    const logger = Logger.make(({ message, cause }) => {
      logs.push(`${Array.isArray(message) ? message.join(" ") : String(message)} ${Cause.isEmpty(cause) ? "" : Cause.pretty(cause)}`)
    })
    const layer = liveAuthLayer({
      baseUrl: baseUrlOverride ?? baseUrl,
      document: doc,
      settings: { retry: { baseDelay: "1 millis", maxDelay: "20 millis" } as never, ...settings }
    }).pipe(Layer.provideMerge(Logger.replace(Logger.defaultLogger, logger)))
    const result = yield* Effect.gen(function*() {
      const auth = yield* AuthManager
      const exit = yield* Effect.exit(auth.ensureTask)
      const fallback = yield* auth.authorizationHeaderOrBearer
      const state = yield* (yield* KeyStore).read
      return { exit, fallback, state }
    }).pipe(Effect.provide(layer), Effect.withLogSpan("scenario"))
    const error = Exit.isFailure(result.exit) ? Option.getOrUndefined(Cause.failureOption(result.exit.cause)) : undefined
    return { ...result, error, logs, calls: yield* backend.calls }
  }).pipe(Effect.scoped)

/** No canary (nor the stored private key) in the error's message, its encoded fields, or any log line. */
const expectNoSecrets = (run: {
  readonly error: unknown
  readonly logs: ReadonlyArray<string>
  readonly state: { readonly identity: { readonly _tag: string; readonly record?: { readonly agent_private_key: Redacted.Redacted<string> } } }
}) => {
  const texts = [...run.logs]
  const stored = run.state.identity.record === undefined ? [] : [Redacted.value(run.state.identity.record.agent_private_key)]
  if (run.error !== undefined) {
    texts.push((run.error as Error).message, JSON.stringify(Schema.encodeSync(AuthError)(run.error as AuthError)), String(run.error))
  }
  for (const text of texts) for (const secret of [...allCanaries(), ...stored]) expect(text).not.toContain(secret)
}

describe("typed errors, no secrets, nothing stored", () => {
  it.live("HttpStatusError: the body is quoted, scrubbed of echoed credentials and cut to 512 characters", () =>
    Effect.gen(function*() {
      const run = yield* scenario({
        biscuit: () => Option.some(HttpServerResponse.empty({ status: 200, headers: { "x-openai-authorization": secrets.biscuit } })),
        register: (_, headers) =>
          Option.some(HttpServerResponse.text(`echo ${JSON.stringify(headers)} ${"x".repeat(2000)}`, { status: 400 }))
      })
      expect(run.error?._tag).toBe("HttpStatusError")
      if (run.error?._tag === "HttpStatusError") {
        expect(run.error.status).toBe(400)
        expect(run.error.body).toContain("<redacted>")
        expect(Array.from(run.error.body).length).toBe(515) // 512 + "..."
      }
      expect(run.calls.register).toBe(1) // a 400 is not retried
      expect(run.state.identity._tag).toBe("Absent")
      expect(Option.map(run.fallback, (h) => h.scheme)).toEqual(Option.some("Bearer"))
      expectNoSecrets(run)
    }))

  it.live("LoginUnavailableError(Expired): a 401 from the biscuit endpoint asks for a new Codex login", () =>
    Effect.gen(function*() {
      const run = yield* scenario({ biscuit: echo(401) })
      expect(run.error?._tag).toBe("LoginUnavailableError")
      expect(run.error?.message).toContain("codex login")
      expect(run.calls).toMatchObject({ biscuit: 1, register: 0 })
      expectNoSecrets(run)
    }))

  it.live("TimeoutError: a hung POST is not retried; the identity is not stored", () =>
    Effect.gen(function*() {
      // 1 s: long enough for the POST to reach the server on a loaded machine, so "not retried" is seen.
      const run = yield* scenario({ register: () => Option.some("hang") }, { timeouts: { register: "1 second" } as never })
      expect(run.error?._tag).toBe("TimeoutError")
      expect(run.calls.register).toBe(1)
      expect(run.state.identity._tag).toBe("Absent")
      expectNoSecrets(run)
    }))

  it.live("TransportError: a refused connection is reported as never sent", () =>
    Effect.gen(function*() {
      const run = yield* scenario({}, {}, "http://127.0.0.1:1/backend-api")
      expect(run.error?._tag).toBe("TransportError")
      if (run.error?._tag === "TransportError") expect(run.error.requestSent).toBe(false)
      expectNoSecrets(run)
    }))

  it.live("ResponseDecodeError: non-JSON, wrong types, a missing biscuit header, an answer with no task id, an oversized body", () =>
    Effect.gen(function*() {
      const cases: Array<Partial<Record<Endpoint, Fault>>> = [
        { register: () => Option.some(HttpServerResponse.text("<html>not json</html>")) },
        { register: () => Option.some(HttpServerResponse.unsafeJson({ agent_runtime_id: 5 })) },
        { biscuit: () => Option.some(HttpServerResponse.empty({ status: 200 })) },
        { task: () => Option.some(HttpServerResponse.unsafeJson({ something: "else" })) },
        { register: () => Option.some(HttpServerResponse.text("x".repeat(200_000))) }
      ]
      for (const faults of cases) {
        const run = yield* scenario(faults)
        expect(run.error?._tag).toBe("ResponseDecodeError")
        expect(run.state.identity._tag === "Record" ? Option.isNone(Option.fromNullable(run.state.identity.record.background_task_id)) : true).toBe(true)
        expectNoSecrets(run)
      }
    }))

  it.live("DecryptError: a tampered sealed task id is refused and no task is stored", () =>
    Effect.gen(function*() {
      const run = yield* scenario({
        task: () => Option.some(HttpServerResponse.unsafeJson({ encrypted_task_id: C.encodeBase64(new Uint8Array(60).fill(1)) }))
      })
      expect(run.error?._tag).toBe("DecryptError")
      expect(run.state.identity._tag === "Record" && run.state.identity.record.background_task_id).toBe(undefined)
      expectNoSecrets(run)
    }))

  it.live("RuntimeIdError: an unsafe runtime id is refused before any task URL is built, and not stored", () =>
    Effect.gen(function*() {
      // One id here; every kind of unsafe id: test/reliability/backendAnswers.test.ts and test/http/endpoints.test.ts.
      const run = yield* scenario({ register: () => Option.some(HttpServerResponse.unsafeJson({ agent_runtime_id: "../admin" })) })
      expect(run.error?._tag).toBe("RuntimeIdError")
      expect(run.calls.task).toBe(0)
      expect(run.state.identity._tag).toBe("Absent")
      expectNoSecrets(run)
    }))
})
