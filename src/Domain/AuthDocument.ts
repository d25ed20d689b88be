/**
 * Codex's `auth.json` as a JSON document: the pure reading of the ChatGPT login and the agent
 * identity record, and the one edit we make (the `agent_identity` slot), keeping every other field —
 * known or unknown — as it was. Both KeyStore layers share these functions.
 */
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import { decodeBase64Url } from "../crypto/base64.js"
import { AgentRuntimeId, TaskId } from "./Ids.js"

/** A parsed auth.json: any JSON object. */
export type AuthDocument = { readonly [key: string]: unknown }

/** The seed-era `agent_identity` record, fields in the order Codex writes them. */
export const AgentIdentityRecord = Schema.Struct({
  workspace_id: Schema.String,
  chatgpt_user_id: Schema.optionalWith(Schema.String, { nullable: true }),
  agent_runtime_id: AgentRuntimeId,
  agent_private_key: Schema.Redacted(Schema.String),
  registered_at: Schema.String,
  background_task_id: Schema.optionalWith(TaskId, { nullable: true })
})
export type AgentIdentityRecord = typeof AgentIdentityRecord.Type

/** Claims read (never verified) from the id_token. */
export interface IdTokenClaims {
  readonly userId: Option.Option<string>
  readonly accountId: Option.Option<string>
  readonly email: Option.Option<string>
  readonly planType: Option.Option<string>
  readonly isFedramp: boolean
}

/** What auth.json says about the login. */
export type Login =
  | { readonly _tag: "None" }
  | { readonly _tag: "ApiKey" }
  | {
    readonly _tag: "ChatGpt"
    readonly accessToken: Redacted.Redacted<string>
    /** `tokens.account_id`: the workspace used for the binding. */
    readonly accountId: Option.Option<string>
    readonly claims: IdTokenClaims
    /** Codex uses token data only when `last_refresh` is present too. */
    readonly hasLastRefresh: boolean
  }

/** What auth.json holds in its `agent_identity` slot. */
export type IdentitySlot =
  | { readonly _tag: "Absent" }
  | { readonly _tag: "Record"; readonly record: AgentIdentityRecord }
  /** A later Codex's form: an Agent Identity JWT (read, never overwritten silently). */
  | { readonly _tag: "Jwt"; readonly jwt: Redacted.Redacted<string> }
  | { readonly _tag: "Foreign"; readonly form: string }

/** One consistent reading of auth.json. */
export interface AuthState {
  readonly login: Login
  readonly identity: IdentitySlot
}

/** The state of a missing auth.json. */
export const emptyState: AuthState = { login: { _tag: "None" }, identity: { _tag: "Absent" } }

const AUTH_NAMESPACE = "https://api.openai.com/auth"
const PROFILE_NAMESPACE = "https://api.openai.com/profile"

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

const stringField = (object: unknown, key: string): Option.Option<string> =>
  isObject(object) && typeof object[key] === "string" ? Option.some(object[key] as string) : Option.none()

/** Reads the id_token claims as Codex does: three non-empty parts, base64url payload, JSON. */
export const parseIdTokenClaims = (jwt: string): Either.Either<IdTokenClaims, string> => {
  const parts = jwt.split(".")
  if (parts.length < 3 || parts.slice(0, 3).some((p) => p.length === 0)) return Either.left("id_token is not a JWT")
  const payload = decodeBase64Url(parts[1]!)
  if (Either.isLeft(payload)) return Either.left("id_token payload is not base64url")
  let claims: unknown
  try {
    claims = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(payload.right))
  } catch {
    return Either.left("id_token payload is not JSON")
  }
  if (!isObject(claims)) return Either.left("id_token payload is not a JSON object")
  const auth = claims[AUTH_NAMESPACE]
  return Either.right({
    userId: Option.orElse(stringField(auth, "chatgpt_user_id"), () => stringField(auth, "user_id")),
    accountId: stringField(auth, "chatgpt_account_id"),
    email: Option.orElse(stringField(claims, "email"), () => stringField(claims[PROFILE_NAMESPACE], "email")),
    planType: stringField(auth, "chatgpt_plan_type"),
    isFedramp: isObject(auth) && auth["chatgpt_account_is_fedramp"] === true
  })
}

const decodeRecord = Schema.decodeUnknownEither(AgentIdentityRecord)
const encodeRecord = Schema.encodeSync(AgentIdentityRecord)

const readLogin = (doc: AuthDocument): Either.Either<Login, string> => {
  const mode = doc["auth_mode"]
  const apiKey = doc["OPENAI_API_KEY"]
  if (mode === "apikey" || (mode === undefined && typeof apiKey === "string")) return Either.right({ _tag: "ApiKey" })
  const tokens = doc["tokens"]
  if (tokens === undefined || tokens === null) return Either.right({ _tag: "None" })
  // Plain type checks: a failure names the field and never formats the (possibly hostile) value.
  if (!isObject(tokens)) return Either.left("tokens is not an object")
  const { access_token, account_id, id_token } = tokens
  if (typeof id_token !== "string") return Either.left("tokens.id_token is missing or not a string")
  if (typeof access_token !== "string") return Either.left("tokens.access_token is missing or not a string")
  if (account_id !== undefined && account_id !== null && typeof account_id !== "string") {
    return Either.left("tokens.account_id is not a string")
  }
  const claims = parseIdTokenClaims(id_token)
  if (Either.isLeft(claims)) return Either.left(`tokens.${claims.left}`)
  return Either.right({
    _tag: "ChatGpt",
    accessToken: Redacted.make(access_token),
    accountId: Option.fromNullable(account_id),
    claims: claims.right,
    hasLastRefresh: typeof doc["last_refresh"] === "string"
  })
}

const readIdentity = (value: unknown): IdentitySlot => {
  if (value === undefined || value === null) return { _tag: "Absent" }
  if (typeof value === "string") return { _tag: "Jwt", jwt: Redacted.make(value) }
  const record = decodeRecord(value)
  return Either.isRight(record) ? { _tag: "Record", record: record.right } : { _tag: "Foreign", form: "unrecognised record" }
}

/**
 * Whether valid JSON text has an object with a repeated key. `JSON.parse` keeps the last silently;
 * serde (Codex) refuses such a file, so we do too. In valid JSON a string followed by `:` is a key.
 */
export const hasDuplicateKey = (text: string): boolean => {
  const stack: Array<Set<string> | null> = []
  for (let i = 0; i < text.length; i++) {
    const c = text[i]
    if (c === "{") stack.push(new Set())
    else if (c === "[") stack.push(null)
    else if (c === "}" || c === "]") stack.pop()
    else if (c === "\"") {
      let j = i + 1
      while (text[j] !== "\"") j += text[j] === "\\" ? 2 : 1
      let k = j + 1
      while (text[k] === " " || text[k] === "\n" || text[k] === "\r" || text[k] === "\t") k++
      const keys = stack[stack.length - 1]
      if (text[k] === ":" && keys) {
        const key = JSON.parse(text.slice(i, j + 1)) as string
        if (keys.has(key)) return true
        keys.add(key)
      }
      i = j
    }
  }
  return false
}

/** Parses auth.json text; a message (never a value from the file) says why it cannot be used. */
export const parseAuthText = (text: string): Either.Either<AuthDocument, string> => {
  let doc: unknown
  try {
    doc = JSON.parse(text)
  } catch {
    return Either.left(text.trim().length === 0 ? "auth.json is empty" : "auth.json is not valid JSON")
  }
  if (!isObject(doc)) return Either.left("auth.json is not a JSON object")
  return hasDuplicateKey(text) ? Either.left("auth.json has a duplicate key") : Either.right(doc)
}

/** Reads the login and identity slot of a document. */
export const readState = (doc: AuthDocument): Either.Either<AuthState, string> =>
  Either.map(readLogin(doc), (login) => ({ login, identity: readIdentity(doc["agent_identity"]) }))

/**
 * The C.3 carry-over: a new record without a task id keeps the stored task id when it is for the
 * same workspace and runtime.
 */
export const mergeRecord = (existing: IdentitySlot, next: AgentIdentityRecord): AgentIdentityRecord =>
  next.background_task_id === undefined && existing._tag === "Record" &&
    existing.record.workspace_id === next.workspace_id &&
    existing.record.agent_runtime_id === next.agent_runtime_id &&
    existing.record.background_task_id !== undefined
    ? { ...next, background_task_id: existing.record.background_task_id }
    : next

/** The document with its `agent_identity` slot set to `value` (or removed), every other key kept in place. */
const withSlot = (doc: AuthDocument, value: unknown): AuthDocument => {
  const out: Record<string, unknown> = {}
  for (const [key, current] of Object.entries(doc)) {
    if (key !== "agent_identity") out[key] = current
    else if (value !== undefined) out[key] = value
  }
  if (value !== undefined && !("agent_identity" in doc)) out["agent_identity"] = value
  return out
}

/** The document with its `agent_identity` record replaced (or removed), every other key kept in place. */
export const withIdentity = (doc: AuthDocument, record: AgentIdentityRecord | undefined): AuthDocument =>
  withSlot(doc, record === undefined ? undefined : encodeRecord(record))

/** The document with an Agent Identity JWT in its `agent_identity` slot (the later Codex form). */
export const withIdentityJwt = (doc: AuthDocument, jwt: Redacted.Redacted<string>): AuthDocument =>
  withSlot(doc, Redacted.value(jwt))

/** auth.json text exactly as serde's `to_string_pretty` writes it: 2-space indent, no trailing newline. */
export const formatAuthDocument = (doc: AuthDocument): string => JSON.stringify(doc, null, 2)
