/**
 * Agent Identity JWTs, the form later Codex versions receive identities in (protocol F): decoded
 * unverified as Codex's storage does, or verified (RS256 only) against the backend's JWKS with `jose`:
 * the key found by `kid`, issuer `https://chatgpt.com/codex-backend/agent-identity`, audience
 * `codex-app-server`, `exp` and `iat` checked with 60 s of leeway.
 */
export { AUDIENCE, Claims, decodeUnverified, ISSUER, issuedAt, LEEWAY_SECONDS } from "../Domain/IdentityJwt.js"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import { createLocalJWKSet, decodeProtectedHeader, type JSONWebKeySet, jwtVerify } from "jose"
import { AgentIdentityConfig } from "../Domain/Settings.js"
import { AUDIENCE, type Claims, decodeUnverified, ISSUER, LEEWAY_SECONDS } from "../Domain/IdentityJwt.js"
import { AgentIdentityJwtError } from "../Domain/Errors.js"
import { type CallError, decodeJsonBody, retrying, send } from "../internal/transport.js"

/** Verifies a JWT against a JWK Set at time `nowMillis`. */
export const verifyWithJwks = (
  jwt: string,
  jwks: JSONWebKeySet,
  nowMillis: number
): Effect.Effect<Claims, AgentIdentityJwtError> =>
  Effect.gen(function*() {
    const header = yield* Effect.try({
      try: () => decodeProtectedHeader(jwt),
      catch: () => new AgentIdentityJwtError({ reason: "invalid agent identity JWT format" })
    })
    if (typeof header.kid !== "string") return yield* new AgentIdentityJwtError({ reason: "agent identity JWT header does not include a kid" })
    const kid = header.kid
    if (!jwks.keys.some((key) => key.kid === kid)) {
      return yield* new AgentIdentityJwtError({ reason: `agent identity JWT kid ${JSON.stringify(kid.slice(0, 64))} is not trusted` })
    }
    yield* Effect.tryPromise({
      try: () =>
        jwtVerify(jwt, createLocalJWKSet(jwks), {
          algorithms: ["RS256"],
          issuer: ISSUER,
          audience: AUDIENCE,
          requiredClaims: ["iss", "aud", "exp", "iat"],
          clockTolerance: LEEWAY_SECONDS,
          currentDate: new Date(nowMillis)
        }),
      catch: (error) =>
        new AgentIdentityJwtError({
          reason: `failed to verify agent identity JWT (${(error as { code?: string }).code ?? "invalid"})`
        })
    })
    return yield* decodeUnverified(jwt)
  })

/** The JWKS address for a base URL (`0f6330f6`): under `/wham` for `/backend-api` bases. */
export const jwksUrl = (base: string): string => {
  const trimmed = base.replace(/\/+$/, "")
  if (trimmed.includes("/backend-api")) return `${trimmed}/wham/agent-identities/jwks`
  if (trimmed.includes("/api/codex")) return `${trimmed}/agent-identities/jwks`
  return `${trimmed}/api/codex/agent-identities/jwks`
}

const JwkSet = Schema.Struct({
  keys: Schema.Array(Schema.Struct({ kty: Schema.String, kid: Schema.optional(Schema.String) }, { key: Schema.String, value: Schema.Unknown }))
})

/** The AgentIdentityJwt service's operations. */
export interface Service {
  /** The backend's JWK Set (GET, 10 s timeout). */
  readonly jwks: Effect.Effect<JSONWebKeySet, CallError>
  /** Verifies an Agent Identity JWT against the backend's JWKS, now. */
  readonly verify: (jwt: Redacted.Redacted<string>) => Effect.Effect<Claims, AgentIdentityJwtError | CallError>
}

/** The AgentIdentityJwt service. */
export class AgentIdentityJwt extends Context.Tag("effect-agent-identity/AgentIdentityJwt")<AgentIdentityJwt, Service>() {}

/** The service on the ambient HttpClient. */
export const make = Effect.gen(function*() {
  const config = yield* AgentIdentityConfig
  const client = yield* HttpClient.HttpClient
  const url = jwksUrl(config.baseUrl)
  const jwks = send(client, {
    operation: "jwks",
    request: HttpClientRequest.get(url).pipe(HttpClientRequest.setHeader("user-agent", config.userAgent)),
    timeout: Duration.seconds(10),
    secrets: []
  }).pipe(
    retrying(config.retry, { idempotent: true }),
    Effect.flatMap(decodeJsonBody(JwkSet, "jwks", url)),
    Effect.map((set) => set as unknown as JSONWebKeySet)
  )
  return AgentIdentityJwt.of({
    jwks,
    verify: (jwt) =>
      Effect.gen(function*() {
        const set = yield* jwks
        const now = yield* Effect.clockWith((clock) => clock.currentTimeMillis)
        return yield* verifyWithJwks(Redacted.value(jwt), set, now)
      }).pipe(Effect.withSpan("AgentIdentityJwt.verify"))
  })
})

/** The service as a layer. */
export const layer: Layer.Layer<AgentIdentityJwt, never, AgentIdentityConfig | HttpClient.HttpClient> = Layer.effect(AgentIdentityJwt, make)
