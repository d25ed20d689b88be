/** Issue 7: Agent Identity JWTs — decode, RS256 verification against the JWKS, storage and use, CLI import. */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { afterEach, describe, expect, it, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import { exportJWK, generateKeyPair, SignJWT } from "jose"
import * as fs from "node:fs"
import * as path from "node:path"
import * as AgentIdentityJwt from "../../src/services/AgentIdentityJwt.js"
import { AuthManager } from "../../src/manager/AuthManager.js"
import * as Config from "../../src/Domain/Settings.js"
import * as C from "../../src/crypto/index.js"
import { KeyStore } from "../../src/services/KeyStore.js"
import { cleanTemps, cli, readAuth, tempDir } from "../cli/helpers.js"
import { layerTestBackend, liveAuthLayer, TestBackend } from "../utils/backend.js"

afterEach(cleanTemps)
const claimsOf = { accountId: "account-123", userId: "user-123" }
const b64 = (value: unknown) => C.encodeBase64Url(new TextEncoder().encode(JSON.stringify(value)))

describe("Agent Identity JWT: unverified decode (Codex's rules)", () => {
  it("refuses a 4th part, an empty part, a bad payload, non-JSON and missing claims", () => {
    const reasons = ["a.b.c.d", "a..c", "a.!!!.c", `a.${C.encodeBase64Url(new TextEncoder().encode("not json"))}.c`, `a.${b64({ agent_runtime_id: "x" })}.c`]
      .map((jwt) => Either.match(AgentIdentityJwt.decodeUnverified(jwt), { onLeft: (e) => e.reason, onRight: () => "accepted" }))
    expect(reasons[0]).toBe("invalid agent identity JWT format")
    expect(reasons[1]).toBe("invalid agent identity JWT format")
    expect(reasons[2]).toBe("agent identity JWT payload is not valid base64url")
    expect(reasons[3]).toBe("agent identity JWT payload is not valid JSON")
    expect(reasons[4]).toMatch(/^agent identity JWT is missing claims: .*agent_private_key/)
  })
})

describe("a stored JWT with hostile claims", () => {
  it("an absurd iat is reported as unknown, not a crash", () => {
    expect(AgentIdentityJwt.issuedAt({ iat: 1e20 })).toBe("unknown")
    expect(AgentIdentityJwt.issuedAt({ iat: Number.NaN })).toBe("unknown")
    expect(AgentIdentityJwt.issuedAt({ iat: 1776715719 })).toBe("2026-04-20T20:08:39Z")
  })
})

// One backend (and so one RSA signing key, slow to make) for every test that needs one; the live clock,
// since the JWTs carry real times. Kept last in the file: @effect/vitest's layer() rebinds the module's
// it.effect to this layer's runtime for every test defined after it.
layer(layerTestBackend(), { excludeTestServices: true })("against one reference backend", (it) => {
  describe("Agent Identity JWT: verification against the backend's JWKS", () => {
    it.effect("a backend-issued JWT verifies; kid, algorithm, issuer, audience, expiry and tampering are checked", () =>
      Effect.gen(function*() {
        const { backend, baseUrl } = yield* TestBackend
        const jwt = yield* backend.issueIdentityJwt(claimsOf)
        const service = yield* AgentIdentityJwt.make.pipe(
          Effect.provide(Layer.merge(Config.layer({ baseUrl }), NodeHttpClient.layer))
        )
        const claims = yield* service.verify(Redacted.make(jwt))
        expect([claims.account_id, claims.chatgpt_user_id, claims.iss, claims.aud]).toEqual(["account-123", "user-123", AgentIdentityJwt.ISSUER, AgentIdentityJwt.AUDIENCE])
        expect(String(claims.agent_private_key)).not.toContain("MFEC")
        const jwks = yield* service.jwks
        const now = Date.now()
        const reason = (token: string, at = now) =>
          Effect.map(Effect.flip(AgentIdentityJwt.verifyWithJwks(token, jwks, at)), (e) => e.reason)

        // Forged with another RSA key under the same kid; a kid the JWKS lacks; no kid; HS256; wrong iss/aud; expiry.
        const other = yield* Effect.promise(() => generateKeyPair("RS256"))
        const kid = jwks.keys[0]!.kid!
        const payload = JSON.parse(Buffer.from(jwt.split(".")[1]!, "base64url").toString()) as Record<string, unknown>
        const sign = (header: Record<string, unknown>, body: Record<string, unknown>, key: Parameters<SignJWT["sign"]>[0] = other.privateKey) =>
          Effect.promise(() => new SignJWT(body).setProtectedHeader(header as never).sign(key))
        expect(yield* reason(yield* sign({ alg: "RS256", kid }, payload))).toMatch(/^failed to verify agent identity JWT/)
        expect(yield* reason(yield* sign({ alg: "RS256", kid: "kid_unknown" }, payload))).toBe('agent identity JWT kid "kid_unknown" is not trusted')
        expect(yield* reason(yield* sign({ alg: "RS256" }, payload))).toBe("agent identity JWT header does not include a kid")
        expect(yield* reason(yield* sign({ alg: "HS256", kid }, payload, new Uint8Array(32)))).toMatch(/^failed to verify/)
        const tampered = [jwt.split(".")[0], b64({ ...payload, account_id: "account-999" }), jwt.split(".")[2]].join(".")
        expect(yield* reason(tampered)).toMatch(/^failed to verify/)
        const exp = payload["exp"] as number
        expect(yield* reason(jwt, (exp + 61) * 1000)).toMatch(/^failed to verify agent identity JWT \(ERR_JWT_EXPIRED\)/)
        expect((yield* AgentIdentityJwt.verifyWithJwks(jwt, jwks, (exp + 59) * 1000)).agent_runtime_id).toBe(claims.agent_runtime_id)
        // A JWKS of our own: wrong issuer and audience are refused even with a good signature.
        const own = yield* Effect.promise(() => generateKeyPair("RS256", { extractable: true }))
        const ownJwks = { keys: [{ ...(yield* Effect.promise(() => exportJWK(own.publicKey))), kid: "mine", alg: "RS256" }] }
        const wrong: Array<[string, string]> = [["https://evil.example", AgentIdentityJwt.AUDIENCE], [AgentIdentityJwt.ISSUER, "someone-else"]]
        for (const [iss, aud] of wrong) {
          const token = yield* Effect.promise(() =>
            new SignJWT({ ...payload, iss, aud }).setProtectedHeader({ alg: "RS256", kid: "mine" }).sign(own.privateKey))
          expect(Either.isLeft(yield* Effect.either(AgentIdentityJwt.verifyWithJwks(token, ownJwks, now)))).toBe(true)
        }
      }))
  })

  describe("a JWT identity in auth.json (the later Codex form)", () => {
    it.effect("is used without registering, gets a process task, signs verifiable assertions, and is never rewritten", () =>
      Effect.gen(function*() {
        const { backend, baseUrl, document } = yield* TestBackend
        const jwt = yield* backend.issueIdentityJwt(claimsOf)
        const registeredBefore = (yield* backend.calls).register
        const result = yield* Effect.gen(function*() {
          const auth = yield* AuthManager
          const identity = yield* auth.ensureIdentity
          const task = yield* auth.ensureTask
          const again = yield* auth.ensureTask
          const header = yield* auth.authorizationHeader
          const state = yield* (yield* KeyStore).read
          return { identity, task, again, header, state }
        }).pipe(Effect.provide(liveAuthLayer({ baseUrl, document: { ...document, agent_identity: jwt } })))
        expect(result.identity.reused).toBe(true)
        expect(result.identity.source).toBe("jwt")
        expect((yield* backend.calls).register).toBe(registeredBefore)
        expect([result.task.reused, result.again.reused, result.again.taskId]).toEqual([false, true, result.task.taskId])
        expect(result.state.identity._tag === "Jwt" && Redacted.value(result.state.identity.jwt)).toBe(jwt)
        const header = Option.getOrThrow(result.header)
        const whoami = yield* Effect.promise(() =>
          fetch(`${baseUrl}/v1/whoami`, { headers: { authorization: Redacted.value(header.value) } }).then((r) => r.json()))
        expect(whoami).toMatchObject({ scheme: "AgentAssertion", agent_runtime_id: result.identity.agentRuntimeId, task_id: result.task.taskId })
      }))

    it.effect("one for another account is not overwritten; one for another user is a BindingMismatchError", () =>
      Effect.gen(function*() {
        const { backend, baseUrl, document } = yield* TestBackend
        const elsewhere = yield* backend.issueIdentityJwt({ accountId: "account-other", userId: "user-123" })
        const otherUser = yield* backend.issueIdentityJwt({ accountId: "account-123", userId: "user-other" })
        const run = (jwt: string) =>
          Effect.gen(function*() {
            const error = yield* Effect.flip((yield* AuthManager).ensureIdentity)
            const slot = (yield* (yield* KeyStore).read).identity
            return { error: error._tag, kept: slot._tag === "Jwt" && Redacted.value(slot.jwt) === jwt }
          }).pipe(Effect.provide(liveAuthLayer({ baseUrl, document: { ...document, agent_identity: jwt } })))
        expect(yield* run(elsewhere)).toEqual({ error: "ForeignIdentityFormatError", kept: true })
        expect(yield* run(otherUser)).toEqual({ error: "BindingMismatchError", kept: true })
      }))

    it.effect("agent-identity import-jwt verifies against the JWKS and stores it; a forged one exits 1 and stores nothing", () =>
      Effect.gen(function*() {
        const { backend, baseUrl, document } = yield* TestBackend
        const jwt = yield* backend.issueIdentityJwt(claimsOf)
        const home = tempDir()
        fs.writeFileSync(path.join(home, "auth.json"), JSON.stringify(document, null, 2), { mode: 0o600 })
        const forged = [jwt.split(".")[0], jwt.split(".")[1], jwt.split(".")[2]!.slice(0, -4) + "AAAA"].join(".")
        // The JWT goes through stdin: on argv `ps` would show it (and the key it carries) to every user.
        const bad = yield* Effect.promise(() => cli(["import-jwt", "--codex-home", home, "--base-url", baseUrl, "-"], {}, forged))
        expect(bad.code).toBe(1)
        expect(bad.stderr).toMatch(/^error: AgentIdentityJwtError: failed to verify agent identity JWT/)
        expect(readAuth(home)["agent_identity"]).toBeUndefined()
        const ok = yield* Effect.promise(() => cli(["import-jwt", "--codex-home", home, "--base-url", baseUrl, "--json"], {}, jwt))
        expect(ok.code).toBe(0)
        expect(JSON.parse(ok.stdout)).toMatchObject({ account_id: "account-123", stored: true })
        expect(ok.stdout + ok.stderr).not.toContain(jwt)
        const stored = readAuth(home)
        expect(stored["agent_identity"]).toBe(jwt)
        const { agent_identity: _, ...rest } = stored
        expect(rest).toEqual(document)
        const status = JSON.parse((yield* Effect.promise(() => cli(["status", "--codex-home", home, "--base-url", baseUrl, "--json"]))).stdout)
        expect(status.identity.agent_runtime_id).toBe(JSON.parse(ok.stdout).agent_runtime_id)
      }))
  })
})
