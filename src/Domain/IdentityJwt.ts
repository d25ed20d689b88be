/**
 * The Agent Identity JWT's claims and Codex's unverified decode (what its storage does, with no JWKS).
 * No HTTP and no JOSE library here: the offline header path reads JWT identities through this module.
 */
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import { formatTimestamp } from "../crypto/time.js"
import { unsafeIdReason } from "./Endpoints.js"
import { AgentIdentityJwtError } from "./Errors.js"
import { issuePaths } from "./issuePaths.js"
import { decodeJwtPayload } from "./Jwt.js"

/** Who issues Agent Identity JWTs, and for whom. */
export const ISSUER = "https://chatgpt.com/codex-backend/agent-identity"
export const AUDIENCE = "codex-app-server"
/** Leeway for `exp` and `iat`, as jsonwebtoken's default. */
export const LEEWAY_SECONDS = 60

/**
 * The claims of an Agent Identity JWT. Today's Codex requires all but `email` (absent or `""` means none)
 * and does not check `iat`.
 */
export const Claims = Schema.Struct({
  iss: Schema.String,
  aud: Schema.Union(Schema.String, Schema.Array(Schema.String)),
  iat: Schema.optional(Schema.Number),
  exp: Schema.Number,
  agent_runtime_id: Schema.String,
  agent_private_key: Schema.Redacted(Schema.String),
  account_id: Schema.String,
  chatgpt_user_id: Schema.String,
  email: Schema.optionalWith(Schema.String, { nullable: true }),
  plan_type: Schema.String,
  chatgpt_account_is_fedramp: Schema.Boolean
})
export type Claims = typeof Claims.Type

const decodeClaims = Schema.decodeUnknownEither(Claims, { errors: "all" })
const fail = (reason: string) => Either.left(new AgentIdentityJwtError({ reason }))

const FAILURES = {
  format: "invalid agent identity JWT format",
  base64url: "agent identity JWT payload is not valid base64url",
  json: "agent identity JWT payload is not valid JSON",
  object: "agent identity JWT payload is not valid JSON"
} as const

/** Codex's unverified decode: exactly 3 non-empty parts, a base64url payload, JSON, every required claim present. */
export const decodeUnverified = (jwt: string): Either.Either<Claims, AgentIdentityJwtError> => {
  const payload = decodeJwtPayload(jwt, { exactParts: true })
  if (Either.isLeft(payload)) return fail(FAILURES[payload.left])
  const claims = decodeClaims(payload.right)
  if (Either.isLeft(claims)) {
    return fail(`agent identity JWT is missing claims: ${issuePaths(claims.left.issue, "payload").join(", ")}`)
  }
  // The runtime id goes into URLs, headers and terminals: the same rule as a server's answer.
  const unsafe = unsafeIdReason(claims.right.agent_runtime_id)
  return unsafe === undefined ? Either.right(claims.right) : fail(`agent identity JWT has an unsafe agent_runtime_id: ${unsafe}`)
}

/** `iat` as a Codex timestamp, or "unknown" when absent or not a representable time (a hostile or broken JWT). */
export const issuedAt = (claims: Pick<Claims, "iat">): string =>
  claims.iat !== undefined && Number.isFinite(claims.iat) && Math.abs(claims.iat) <= 8.64e12
    ? formatTimestamp(Math.floor(claims.iat) * 1000)
    : "unknown"
