/**
 * Agent Identity JWTs (today's Codex receives identities in this form, from an access token or auth.json):
 * decoded unverified as Codex's storage does, or verified (RS256 only) against the backend's JWKS with
 * `jose`: the key found by `kid`, issuer `https://chatgpt.com/codex-backend/agent-identity`, audience
 * `codex-app-server`, `exp` checked with 60 s of leeway (and `iat` required under 2026-04). The JWKS is
 * kept as long as its `Cache-Control: max-age` allows, and fetched again for a `kid` it does not hold.
 */
export { AUDIENCE, Claims, decodeUnverified, ISSUER, issuedAt, LEEWAY_SECONDS } from "../Domain/IdentityJwt.js"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import { createLocalJWKSet, decodeProtectedHeader, type JSONWebKeySet, jwtVerify } from "jose"
import { jwksUrl } from "../Domain/Endpoints.js"
import { AgentIdentityJwtError } from "../Domain/Errors.js"
import { AUDIENCE, type Claims, decodeUnverified, ISSUER, LEEWAY_SECONDS } from "../Domain/IdentityJwt.js"
import { type Protocol, Settings } from "../Domain/Settings.js"
import { type CallError, decodeJsonBody, retrying, send } from "../internal/transport.js"

export { jwksUrl } from "../Domain/Endpoints.js"

/** The `kid` of a JWT's protected header. */
const kidOf = (jwt: string): Effect.Effect<string, AgentIdentityJwtError> =>
  Effect.gen(function*() {
    const header = yield* Effect.try({
      try: () => decodeProtectedHeader(jwt),
      catch: () => new AgentIdentityJwtError({ reason: "invalid agent identity JWT format" })
    })
    if (typeof header.kid !== "string") return yield* new AgentIdentityJwtError({ reason: "agent identity JWT header does not include a kid" })
    return header.kid
  })

/** Verifies a JWT against a JWK Set at time `nowMillis` (2026-04 also requires `iat`; 2026-06 does not check it). */
export const verifyWithJwks = (
  jwt: string,
  jwks: JSONWebKeySet,
  nowMillis: number,
  protocol: Protocol = "2026-06"
): Effect.Effect<Claims, AgentIdentityJwtError> =>
  Effect.gen(function*() {
    // A malformed token fails before anything else (Codex decodes it unverified first).
    yield* decodeUnverified(jwt)
    const kid = yield* kidOf(jwt)
    if (!jwks.keys.some((key) => key.kid === kid)) {
      return yield* new AgentIdentityJwtError({ reason: `agent identity JWT kid ${JSON.stringify(kid.slice(0, 64))} is not trusted` })
    }
    yield* Effect.tryPromise({
      try: () =>
        jwtVerify(jwt, createLocalJWKSet(jwks), {
          algorithms: ["RS256"],
          issuer: ISSUER,
          audience: AUDIENCE,
          requiredClaims: protocol === "2026-04" ? ["iss", "aud", "exp", "iat"] : ["iss", "aud", "exp"],
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

const JwkSet = Schema.Struct({
  keys: Schema.Array(Schema.Struct({ kty: Schema.String, kid: Schema.optional(Schema.String) }, { key: Schema.String, value: Schema.Unknown }))
})

/** How long a JWKS answer may be kept: its `Cache-Control: max-age` (none with `no-store`/`no-cache`), in ms. */
export const jwksLifetimeMillis = (reply: { readonly headers: Readonly<Record<string, string | undefined>> }): number => {
  const control = (reply.headers["cache-control"] ?? "").toLowerCase()
  if (/\b(no-store|no-cache)\b/.test(control)) return 0
  const maxAge = /\bmax-age=(\d+)\b/.exec(control)
  return maxAge === null ? 0 : Math.min(Number(maxAge[1]), 24 * 3600) * 1000
}

/** The AgentIdentityJwt service's operations. */
export interface Service {
  /** The backend's JWK Set (GET, 10 s timeout), from the cache while its `max-age` lasts. */
  readonly jwks: Effect.Effect<JSONWebKeySet, CallError>
  /** Verifies an Agent Identity JWT against the backend's JWKS, now. */
  readonly verify: (jwt: Redacted.Redacted<string>) => Effect.Effect<Claims, AgentIdentityJwtError | CallError>
}

/** The AgentIdentityJwt service. */
export class AgentIdentityJwt extends Context.Tag("effect-agent-identity/AgentIdentityJwt")<AgentIdentityJwt, Service>() {}

/** The service on the ambient HttpClient. */
export const make = Effect.gen(function*() {
  const settings = yield* Settings
  const client = yield* HttpClient.HttpClient
  const url = settings.protocol === "2026-04" ? jwksUrl(settings.baseUrl, "2026-04") : jwksUrl(settings.jwksBaseUrl, "2026-06")
  const now = Effect.clockWith((clock) => clock.currentTimeMillis)
  let cached: { readonly set: JSONWebKeySet; readonly until: number } | undefined

  const fetch = send(client, {
    operation: "jwks",
    request: HttpClientRequest.get(url).pipe(HttpClientRequest.setHeader("user-agent", settings.userAgent)),
    timeout: settings.timeouts.jwks,
    secrets: []
  }).pipe(
    retrying(settings.retry, { idempotent: true }),
    Effect.flatMap((reply) =>
      Effect.map(decodeJsonBody(JwkSet, "jwks", url)(reply), (set) => ({ set: set as unknown as JSONWebKeySet, lifetime: jwksLifetimeMillis(reply) }))
    ),
    Effect.tap(({ lifetime, set }) => Effect.map(now, (millis) => void (cached = lifetime > 0 ? { set, until: millis + lifetime } : undefined))),
    Effect.map(({ set }) => set)
  )

  const jwks: Service["jwks"] = Effect.flatMap(now, (millis) =>
    cached !== undefined && cached.until > millis ? Effect.succeed(cached.set) : fetch)

  const verify: Service["verify"] = (jwt) =>
    Effect.gen(function*() {
      const text = Redacted.value(jwt)
      yield* decodeUnverified(text)
      const kid = yield* kidOf(text)
      let set = yield* jwks
      // A key the kept set does not hold may be a new one: fetch once more before refusing.
      if (!set.keys.some((key) => key.kid === kid) && cached !== undefined) set = yield* fetch
      return yield* verifyWithJwks(text, set, yield* now, settings.protocol)
    }).pipe(Effect.withSpan("AgentIdentityJwt.verify"))

  return AgentIdentityJwt.of({ jwks, verify })
})

/** The service as a layer. */
export const layer: Layer.Layer<AgentIdentityJwt, never, Settings | HttpClient.HttpClient> = Layer.effect(AgentIdentityJwt, make)
