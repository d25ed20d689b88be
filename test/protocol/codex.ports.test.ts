/**
 * The meaning of today's Codex tests (rust-v0.149: `agent-identity/src/lib.rs`, `login/src/auth/
 * agent_identity.rs`, `storage_tests.rs`, `access_token_tests.rs`, `auth_tests.rs`), ported to this
 * library's pieces. Each title names the Codex test it follows.
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import { createHash } from "node:crypto"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as C from "../../src/crypto/index.js"
import {
  accessTokenLogin,
  agentIdentityLoginDocument,
  formatAuthDocument,
  parseAuthText,
  readState,
  withIdentity
} from "../../src/Domain/AuthDocument.js"
import { type Binding, newRecord, recordPlanType } from "../../src/Domain/Binding.js"
import {
  authApiBaseFor,
  authApiRegisterUrl,
  authApiTaskRegisterUrl,
  jwksUrl,
  PRODUCTION_AUTHAPI,
  requireAuthApi,
  STAGING_AUTHAPI
} from "../../src/Domain/Endpoints.js"
import { HttpStatusError, TimeoutError } from "../../src/Domain/Errors.js"
import { decodeUnverified } from "../../src/Domain/IdentityJwt.js"
import { AgentRuntimeId } from "../../src/Domain/Ids.js"
import * as Settings from "../../src/Domain/Settings.js"
import { RegisterTaskRequestV2 } from "../../src/Domain/Wire.js"
import { isBootstrapRetryable } from "../../src/internal/transport.js"
import { start } from "../../src/backend/server.js"
import { AuthManager } from "../../src/manager/AuthManager.js"
import * as AgentIdentityJwt from "../../src/services/AgentIdentityJwt.js"
import { KeyStore } from "../../src/services/KeyStore.js"
import { chatgptAuthDocument, layerAuthManager } from "../../src/testing/index.js"
import { codexReaders } from "../utils/codexReaders.js"
import { type Answer, type Endpoint, mockClient, mockedAuthLayer } from "../utils/mockHttp.js"

const b64 = (value: unknown) => C.encodeBase64Url(new TextEncoder().encode(JSON.stringify(value)))
const claims = {
  iss: "https://chatgpt.com/codex-backend/agent-identity",
  aud: "codex-app-server",
  iat: 1776715719,
  exp: 1779307719,
  agent_runtime_id: "agent-runtime-1",
  agent_private_key: C.encodePrivateKeyBase64(C.keyFromSeed(new Uint8Array(32).fill(7))),
  account_id: "account-123",
  chatgpt_user_id: "user-123",
  email: "user@example.com",
  plan_type: "pro",
  chatgpt_account_is_fedramp: false
}
const unsigned = (payload: unknown) => `${b64({ alg: "none" })}.${b64(payload)}.sig`

describe("agent-identity/src/lib.rs", () => {
  it("register_task_request_uses_single_run_task_shape", () => {
    const body = JSON.stringify(Schema.encodeSync(RegisterTaskRequestV2)(new RegisterTaskRequestV2({ timestamp: "t", signature: "s" })))
    expect(body).toBe(`{"timestamp":"t","signature":"s"}`)
  })

  it("decode_agent_identity_jwt_reads_claims / accepts_missing_email", () => {
    const decoded = Either.getOrThrow(decodeUnverified(unsigned(claims)))
    expect({ ...decoded, agent_private_key: Redacted.value(decoded.agent_private_key) }).toEqual(claims)
    const { email: _, ...noEmail } = claims
    expect(Either.getOrThrow(decodeUnverified(unsigned(noEmail))).email).toBeUndefined()
    const { iat: __, ...noIat } = claims
    expect(Either.isRight(decodeUnverified(unsigned(noIat)))).toBe(true)
  })

  it("decode_agent_identity_jwt_maps_raw_plan_aliases (as stored: hc is enterprise, unknown plans are unknown)", () => {
    expect(["hc", "education", "pro", "Pro", "team", "martian"].map((p) => recordPlanType(Option.some(p))))
      .toEqual(["enterprise", "edu", "pro", "unknown", "team", "unknown"])
    expect(recordPlanType(Option.none())).toBe("unknown")
  })

  it("chatgpt_environment_maps_known_urls_to_authapi / rejects_custom_urls", () => {
    expect(authApiBaseFor("https://chatgpt.com/backend-api/codex")).toEqual(Option.some(PRODUCTION_AUTHAPI))
    expect(authApiBaseFor("https://chat.openai.com/")).toEqual(Option.some(PRODUCTION_AUTHAPI))
    expect(authApiBaseFor("https://chatgpt-staging.com/backend-api")).toEqual(Option.some(STAGING_AUTHAPI))
    for (const custom of ["http://localhost:8080", "https://chatgpt.com.evil.example", "https://chatgpt.com/api/codex", "http://chatgpt.com"]) {
      expect(authApiBaseFor(custom)).toEqual(Option.none())
    }
  })

  it("agent_registration_url_appends_to_authapi_base_url / agent_task_registration_url_appends_to_authapi_base_url", () => {
    expect(authApiRegisterUrl(PRODUCTION_AUTHAPI)).toBe("https://auth.openai.com/api/accounts/v1/agent/register")
    expect(authApiRegisterUrl("http://localhost:8080/backend-api")).toBe("http://localhost:8080/backend-api/v1/agent/register")
    expect(authApiTaskRegisterUrl("http://localhost:8080/", "agent-runtime-id"))
      .toEqual(Either.right("http://localhost:8080/v1/agent/agent-runtime-id/task/register"))
  })

  it("retryable_registration_error_accepts_429_and_5xx / rejects_hard_failures", () => {
    const status = (code: number) => new HttpStatusError({ operation: "task", status: code, method: "POST", url: "u", body: "" })
    expect([429, 500, 503, 599].map((code) => isBootstrapRetryable(status(code)))).toEqual([true, true, true, true])
    expect([400, 403, 404].map((code) => isBootstrapRetryable(status(code)))).toEqual([false, false, false])
    expect(isBootstrapRetryable(new TimeoutError({ operation: "task", method: "POST", url: "u", timeoutMillis: 1 }))).toBe(true)
    expect(isBootstrapRetryable(new Error("failed to sign registration request"))).toBe(false)
  })

  it("agent_identity_jwks_url_uses_agent_identity_jwt_route / uses_jwt_issuer_base_url", () => {
    expect(jwksUrl("https://chatgpt.com/backend-api/")).toBe("https://chatgpt.com/backend-api/wham/agent-identities/jwks")
    expect(jwksUrl("http://localhost:8080/api/codex/")).toBe("http://localhost:8080/api/codex/agent-identities/jwks")
  })
})

describe("login/src/auth/storage_tests.rs and access_token_tests.rs", () => {
  const read = (doc: unknown) => Either.getOrThrow(readState(Either.getOrThrow(parseAuthText(JSON.stringify(doc)))))

  it("file_storage_round_trips_agent_identity_auth / loads_agent_identity_as_jwt", () => {
    const jwt = unsigned(claims)
    const text = formatAuthDocument(agentIdentityLoginDocument(Redacted.make(jwt)))
    const state = read(JSON.parse(text))
    expect(state.login._tag === "AgentIdentityJwt" && Redacted.value(state.login.jwt)).toBe(jwt)
    expect(codexReaders(JSON.parse(text)).current).toBeNull()
  })

  it("file_storage_round_trips_registered_agent_identity_auth / loads_empty_email_as_none / writes_missing_email_as_empty_string", () => {
    const binding: Binding = {
      bindingId: "chatgpt-account-account-123",
      accountId: "account-123",
      userId: Option.some("user-123"),
      email: Option.none(),
      planType: Option.some("pro"),
      isFedramp: false
    }
    const record = newRecord({ agentRuntimeId: AgentRuntimeId.make("agent-1"), privateKey: Redacted.make("key"), binding, registeredAt: "2026-08-20T12:00:00Z" })
    const doc = withIdentity(chatgptAuthDocument({ accountId: "account-123", userId: "user-123" }), { ...record, task_id: "task-id" as never })
    const written = JSON.parse(formatAuthDocument(doc))
    expect(written["agent_identity"]["email"]).toBe("")
    expect(codexReaders(written)).toEqual({ seed: null, current: null })
    const state = read(written)
    expect(state.identity._tag === "Record" && [state.identity.forms, state.identity.record.task_id]).toEqual([{ seed: true, current: true }, "task-id"])
  })

  it("file_storage_round_trips_personal_access_token_auth (with and without auth_mode)", () => {
    expect(read({ auth_mode: "personalAccessToken", personal_access_token: "at-example" }).login._tag).toBe("PersonalAccessToken")
    expect(read({ OPENAI_API_KEY: null, personal_access_token: "at-example" }).login._tag).toBe("PersonalAccessToken")
  })

  it("classifies_personal_access_tokens_by_prefix", () => {
    expect(accessTokenLogin(Redacted.make("at-example"), "environment")._tag).toBe("PersonalAccessToken")
    expect(accessTokenLogin(Redacted.make("header.payload.signature"), "environment")._tag).toBe("AgentIdentityJwt")
  })
})

describe("auth_tests.rs: environment overrides (our decision: an explicit AuthAPI base accepts any base URL)", () => {
  it("staging maps to its AuthAPI; a custom base needs an AuthAPI base, checked before any request", () => {
    const staging = Either.getOrThrow(Settings.resolve({ baseUrl: "https://chatgpt-staging.com/backend-api/" }))
    expect(staging.authApiBaseUrl).toEqual(Option.some(STAGING_AUTHAPI))
    const custom = Either.getOrThrow(Settings.resolve({ baseUrl: "https://attacker.example/backend-api" }))
    expect(Either.isLeft(requireAuthApi(custom))).toBe(true)
    const given = Either.getOrThrow(Settings.resolve({ baseUrl: "http://127.0.0.1:9/backend-api", authApiBaseUrl: "http://127.0.0.1:9/api/accounts/" }))
    expect(given.authApiBaseUrl).toEqual(Option.some("http://127.0.0.1:9/api/accounts"))
    expect(Either.isLeft(Settings.resolve({ baseUrl: "notaurl" }))).toBe(true)
  })
})

/** 2026-06 over a mocked HttpClient: the answers of the AuthAPI by endpoint and call number. */
const current = (handler: (endpoint: Endpoint, n: number) => Answer, document = chatgptAuthDocument({ accountId: "account-123", userId: "user-123" })) => {
  const mock = mockClient((endpoint, _request, n) => handler(endpoint, n))
  return {
    mock,
    layer: mockedAuthLayer(mock.client, document, {
      protocol: "2026-06",
      authApiBaseUrl: "https://auth.openai.com/api/accounts",
      retry: { baseDelay: 0, maxDelay: 0 }
    })
  }
}
const json = (body: unknown, status = 200) => new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } })
const unavailable = () => new Response("busy", { status: 503 })

describe("auth_tests.rs and agent_identity.rs: registration, retries and the bootstrap cooldown", () => {
  it.effect("chatgpt_auth_registers_agent_identity_when_enabled: one agent, one task, then reuse with no request", () =>
    Effect.gen(function*() {
      const { layer, mock } = current((e) => e === "register" ? json({ agent_runtime_id: "agent-1" }) : json({ task_id: "task-run-1" }))
      const result = yield* Effect.gen(function*() {
        const auth = yield* AuthManager
        const first = yield* auth.ensureTask
        const second = yield* auth.ensureTask
        return { first, second, state: yield* (yield* KeyStore).read }
      }).pipe(Effect.provide(layer))
      expect(result.first).toMatchObject({ agentRuntimeId: "agent-1", taskId: "task-run-1", reused: false })
      expect(result.second.reused).toBe(true)
      expect([mock.counts.register, mock.counts.task, mock.counts.biscuit]).toEqual([1, 1, 0])
      expect(result.state.identity._tag === "Record" && result.state.identity.record.task_id).toBe("task-run-1")
      const body = JSON.parse(new TextDecoder().decode((mock.seen.find((s) => s.endpoint === "register")!.request.body as { body: Uint8Array }).body))
      expect([body.abom.agent_harness_id, body.capabilities, body.ttl]).toEqual(["codex-cli", ["responsesapi"], null])
    }))

  it.effect("chatgpt_auth_retries_transient_agent_identity_registration: 503, 503, 200 → registered", () =>
    Effect.gen(function*() {
      const { layer, mock } = current((e, n) => e === "register" ? (n < 2 ? unavailable() : json({ agent_runtime_id: "agent-1" })) : json({ task_id: "t" }))
      yield* Effect.flatMap(AuthManager, (a) => a.ensureTask).pipe(Effect.provide(layer))
      expect(mock.counts.register).toBe(3)
    }))

  it.effect("from_record_retries_transient_registration: a task POST answered 500 is tried again (a spare task is harmless)", () =>
    Effect.gen(function*() {
      const { layer, mock } = current((e, n) => e === "register" ? json({ agent_runtime_id: "agent-1" }) : n === 0 ? new Response("", { status: 500 }) : json({ task_id: "t" }))
      yield* Effect.flatMap(AuthManager, (a) => a.ensureTask).pipe(Effect.provide(layer))
      expect(mock.counts.task).toBe(2)
    }))

  it.effect("registration_retry_exhaustion_is_fallback_eligible: BootstrapUnavailable, nothing stored, a cooldown with Bearer and no request", () =>
    Effect.gen(function*() {
      const { layer, mock } = current(() => unavailable())
      const result = yield* Effect.gen(function*() {
        const auth = yield* AuthManager
        const first = yield* Effect.flip(auth.ensureTask)
        const second = yield* Effect.flip(auth.ensureIdentity)
        const header = yield* auth.authorizationHeaderOrBearer
        return { first, second, header, state: yield* (yield* KeyStore).read }
      }).pipe(Effect.provide(layer))
      expect(result.first._tag).toBe("BootstrapUnavailableError")
      expect(result.first.message).toMatch(/^agent identity bootstrap unavailable after 3 attempts during agent identity registration/)
      expect(result.second._tag).toBe("BootstrapUnavailableError")
      expect(mock.counts.register).toBe(3) // the second call was suppressed by the cooldown
      expect(result.state.identity._tag).toBe("Absent")
      expect(Option.map(result.header, (h) => [h.scheme, Option.getOrNull(h.accountId)])).toEqual(Option.some(["Bearer", "account-123"]))
    }))

  it.effect("task_registration_retry_exhaustion_is_fallback_eligible: the stored record stays without a task", () =>
    Effect.gen(function*() {
      const { layer, mock } = current((e) => e === "register" ? json({ agent_runtime_id: "agent-1" }) : unavailable())
      const result = yield* Effect.gen(function*() {
        const error = yield* Effect.flip(Effect.flatMap(AuthManager, (a) => a.ensureTask))
        return { error, state: yield* (yield* KeyStore).read }
      }).pipe(Effect.provide(layer))
      expect(result.error._tag).toBe("BootstrapUnavailableError")
      expect(mock.counts.task).toBe(3)
      expect(result.state.identity._tag === "Record" && result.state.identity.record.task_id).toBeUndefined()
    }))

  it.effect("non_retryable_registration_error_is_hard_failure: 403 once, not BootstrapUnavailable, nothing stored, no cooldown", () =>
    Effect.gen(function*() {
      const { layer, mock } = current((_e, n) => n === 0 ? new Response("no", { status: 403 }) : json({ agent_runtime_id: "agent-1", task_id: "t" }))
      const result = yield* Effect.gen(function*() {
        const auth = yield* AuthManager
        const error = yield* Effect.flip(auth.ensureIdentity)
        const after = yield* Effect.exit(auth.ensureIdentity)
        return { error, after }
      }).pipe(Effect.provide(layer))
      expect(result.error._tag).toBe("HttpStatusError")
      expect(Exit.isSuccess(result.after)).toBe(true)
      expect(mock.counts.register).toBe(2)
    }))

  it.effect("agent_identity_jwt_task_registration_retry_exhaustion_is_strict: a JWT identity's failure is not BootstrapUnavailable", () =>
    Effect.gen(function*() {
      const document = agentIdentityLoginDocument(Redacted.make(unsigned(claims)))
      const failing = new HttpStatusError({ operation: "task", status: 503, method: "POST", url: "u", body: "" })
      const error = yield* Effect.flip(Effect.flatMap(AuthManager, (a) => a.ensureTask)).pipe(
        Effect.provide(layerAuthManager({ document, script: { task: () => Effect.fail(failing) } }))
      )
      expect(error._tag).toBe("HttpStatusError")
    }))
})

describe("the JWKS is kept as Cache-Control allows and fetched again for an unknown kid (our decision; Codex fetches it every time)", () => {
  it.live("two verifications within max-age: one fetch; a JWT with a kid the kept set lacks: one more fetch, then refused", () =>
    Effect.gen(function*() {
      const { backend, baseUrl } = yield* start()
      const jwt = Redacted.make(yield* backend.issueIdentityJwt({ accountId: "a", userId: "u" }))
      const unknownKid = Redacted.make(yield* backend.issueIdentityJwt({ accountId: "a", userId: "u", kid: "kid_rotated" }))
      const layer = AgentIdentityJwt.layer.pipe(
        Layer.provide(Layer.mergeAll(Settings.layer({ baseUrl, authApiBaseUrl: baseUrl }), NodeHttpClient.layer)),
        Layer.orDie
      )
      const outcome = yield* Effect.gen(function*() {
        const jwts = yield* AgentIdentityJwt.AgentIdentityJwt
        yield* jwts.verify(jwt)
        yield* jwts.verify(jwt)
        const afterTwo = (yield* backend.calls).jwks
        const refused = yield* Effect.flip(jwts.verify(unknownKid))
        return { afterTwo, refused, afterUnknown: (yield* backend.calls).jwks }
      }).pipe(Effect.provide(layer))
      expect(outcome.afterTwo).toBe(1)
      expect(outcome.afterUnknown).toBe(2)
      expect(outcome.refused._tag === "AgentIdentityJwtError" && outcome.refused.reason).toMatch(/kid "kid_rotated" is not trusted/)
      expect(AgentIdentityJwt.jwksLifetimeMillis({ headers: { "cache-control": "public, max-age=300" } })).toBe(300_000)
      expect(AgentIdentityJwt.jwksLifetimeMillis({ headers: { "cache-control": "no-store, max-age=300" } })).toBe(0)
      expect(AgentIdentityJwt.jwksLifetimeMillis({ headers: {} })).toBe(0)
    }).pipe(Effect.scoped))
})

describe("agent-identity/src/lib.rs: key generation", () => {
  it("a new key's seed is SHA-512(\"codex-agent-identity-ed25519-v1\" ‖ 64 random bytes)[0..32], computed here by node:crypto", () => {
    const entropy = Uint8Array.from({ length: 64 }, (_, i) => i)
    const expected = createHash("sha512").update("codex-agent-identity-ed25519-v1").update(entropy).digest().subarray(0, 32)
    expect(Buffer.from(C.seedFromEntropy(entropy)).equals(expected)).toBe(true)
    expect(C.generateSeed().length).toBe(32)
    expect(Buffer.from(C.generateSeed()).equals(Buffer.from(C.generateSeed()))).toBe(false)
  })
})
