/**
 * The one unverified JWT payload decoder, as Codex's `parse_chatgpt_jwt_claims` and its Agent Identity
 * storage decode share it: dot-separated non-empty parts, a strict base64url (no padding) payload,
 * UTF-8 JSON, a JSON object. Signatures are not checked here.
 */
import * as Either from "effect/Either"
import { decodeBase64Url } from "../crypto/base64.js"

/** Why a payload could not be read. */
export type JwtPayloadFailure = "format" | "base64url" | "json" | "object"

const strictUtf8 = new TextDecoder("utf-8", { fatal: true })

/**
 * The payload of a JWT. `exactParts`: exactly three parts (Agent Identity JWTs); otherwise the first three
 * must be non-empty and extra parts are not checked (id_tokens).
 */
export const decodeJwtPayload = (
  jwt: string,
  options: { readonly exactParts: boolean }
): Either.Either<Record<string, unknown>, JwtPayloadFailure> => {
  const parts = jwt.split(".")
  if (options.exactParts ? parts.length !== 3 : parts.length < 3) return Either.left("format")
  if (parts.slice(0, 3).some((p) => p.length === 0)) return Either.left("format")
  const payload = decodeBase64Url(parts[1]!)
  if (Either.isLeft(payload)) return Either.left("base64url")
  let json: unknown
  try {
    json = JSON.parse(strictUtf8.decode(payload.right))
  } catch {
    return Either.left("json")
  }
  return typeof json === "object" && json !== null && !Array.isArray(json)
    ? Either.right(json as Record<string, unknown>)
    : Either.left("object")
}
