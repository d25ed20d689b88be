/**
 * The Agent Identity JWT's claims and Codex's unverified decode (what its storage does, with no JWKS).
 * No HTTP and no JOSE library here: the offline header path reads JWT identities through this module.
 */
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import { decodeBase64Url } from "../crypto/base64.js"
import { AgentIdentityJwtError } from "./Errors.js"
import { issuePaths } from "./issuePaths.js"

/** Who issues Agent Identity JWTs, and for whom. */
export const ISSUER = "https://chatgpt.com/codex-backend/agent-identity"
export const AUDIENCE = "codex-app-server"
/** Leeway for `exp` and `iat`, as jsonwebtoken's default. */
export const LEEWAY_SECONDS = 60

/** The claims of an Agent Identity JWT; every one is required. */
export const Claims = Schema.Struct({
  iss: Schema.String,
  aud: Schema.Union(Schema.String, Schema.Array(Schema.String)),
  iat: Schema.Number,
  exp: Schema.Number,
  agent_runtime_id: Schema.String,
  agent_private_key: Schema.Redacted(Schema.String),
  account_id: Schema.String,
  chatgpt_user_id: Schema.String,
  email: Schema.String,
  plan_type: Schema.String,
  chatgpt_account_is_fedramp: Schema.Boolean
})
export type Claims = typeof Claims.Type

const decodeClaims = Schema.decodeUnknownEither(Claims, { errors: "all" })
const fail = (reason: string) => Either.left(new AgentIdentityJwtError({ reason }))

/** Codex's unverified decode: exactly 3 non-empty parts, a base64url payload, JSON, every claim present. */
export const decodeUnverified = (jwt: string): Either.Either<Claims, AgentIdentityJwtError> => {
  const parts = jwt.split(".")
  if (parts.length !== 3 || parts.some((p) => p.length === 0)) return fail("invalid agent identity JWT format")
  const payload = decodeBase64Url(parts[1]!)
  if (Either.isLeft(payload)) return fail("agent identity JWT payload is not valid base64url")
  let json: unknown
  try {
    json = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(payload.right))
  } catch {
    return fail("agent identity JWT payload is not valid JSON")
  }
  return Either.mapLeft(decodeClaims(json), (error) =>
    new AgentIdentityJwtError({ reason: `agent identity JWT is missing claims: ${issuePaths(error.issue, "payload").join(", ")}` }))
}


/** `iat` as a Codex timestamp, or "unknown" when it is not a representable time (a hostile or broken JWT). */
export const issuedAt = (claims: Pick<Claims, "iat">): string =>
  Number.isFinite(claims.iat) && Math.abs(claims.iat) <= 8.64e12
    ? new Date(Math.floor(claims.iat) * 1000).toISOString().slice(0, 19) + "Z"
    : "unknown"
