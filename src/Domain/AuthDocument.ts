/**
 * Codex's `auth.json` as a JSON document: the pure reading of the login and of the agent identity slot,
 * and the one edit we make (the `agent_identity` slot), keeping every other field — known or unknown — as
 * it was. Both KeyStore layers share these functions.
 *
 * Two Codex generations read this file (docs/PROTOCOL.md, "auth.json"). The seed's Codex (protocol
 * 2026-04) reads `agent_identity` as `{workspace_id, chatgpt_user_id?, agent_runtime_id, agent_private_key,
 * registered_at, background_task_id?}`; today's Codex (2026-06) as a JWT string or `{agent_runtime_id,
 * agent_private_key, account_id, chatgpt_user_id, email, plan_type, chatgpt_account_is_fedramp, task_id?}`.
 * A value that fits neither makes that Codex fail to read the whole file (its user is logged out). Neither
 * reader refuses fields it does not know, so the record we write holds both field sets.
 */
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import { unsafeIdReason } from "./Endpoints.js"
import { AgentRuntimeId, TaskId } from "./Ids.js"
import { decodeJwtPayload } from "./Jwt.js"

/** A parsed auth.json: any JSON object. */
export type AuthDocument = { readonly [key: string]: unknown }

const NullableString = Schema.optionalWith(Schema.String, { nullable: true })

/**
 * The `agent_identity` record as we read and write it: the fields of both Codex generations, today's
 * first, in the order today's Codex writes them, then the seed's. Every field but the runtime id and the
 * key is optional here; `recordForms` says which generation's reader accepts a value.
 */
export const AgentIdentityRecord = Schema.Struct({
  agent_runtime_id: AgentRuntimeId,
  agent_private_key: Schema.Redacted(Schema.String),
  account_id: Schema.optional(Schema.String),
  chatgpt_user_id: NullableString,
  email: NullableString,
  plan_type: Schema.optional(Schema.String),
  chatgpt_account_is_fedramp: Schema.optional(Schema.Boolean),
  task_id: Schema.optionalWith(TaskId, { nullable: true }),
  workspace_id: Schema.optional(Schema.String),
  registered_at: Schema.optional(Schema.String),
  background_task_id: Schema.optionalWith(TaskId, { nullable: true })
})
export type AgentIdentityRecord = typeof AgentIdentityRecord.Type

/** Which Codex generation's reader accepts a record. */
export interface RecordForms {
  /** The seed's reader (protocol 2026-04): `workspace_id` and `registered_at` present. */
  readonly seed: boolean
  /** Today's reader (protocol 2026-06): `account_id`, `chatgpt_user_id`, `plan_type` and the FedRAMP flag present. */
  readonly current: boolean
}

/** Which readers accept a decoded record (the types are already checked by the schema). */
export const recordForms = (record: AgentIdentityRecord): RecordForms => ({
  seed: record.workspace_id !== undefined && record.registered_at !== undefined,
  current: record.account_id !== undefined && typeof record.chatgpt_user_id === "string" &&
    record.plan_type !== undefined && record.chatgpt_account_is_fedramp !== undefined
})

/** The account a record is for: the one the given generation reads, else the other's. */
export const recordAccount = (record: AgentIdentityRecord, protocol: "2026-04" | "2026-06"): string | undefined =>
  protocol === "2026-04" ? record.workspace_id ?? record.account_id : record.account_id ?? record.workspace_id

/** A string field where `""` reads as absent (today's Codex writes a missing email as `""`). */
export const presentString = (value: string | null | undefined): Option.Option<string> =>
  value === undefined || value === null || value.length === 0 ? Option.none() : Option.some(value)

/** Claims read (never verified) from the id_token. */
export interface IdTokenClaims {
  readonly userId: Option.Option<string>
  readonly accountId: Option.Option<string>
  readonly email: Option.Option<string>
  readonly planType: Option.Option<string>
  readonly isFedramp: boolean
}

/** Where an access-token login came from: auth.json, or `CODEX_ACCESS_TOKEN` (never written). */
export type LoginSource = "auth.json" | "environment"

/** What auth.json (or the environment) says about the login. */
export type Login =
  | { readonly _tag: "None" }
  | { readonly _tag: "ApiKey" }
  /** A login mode this library cannot use (`headers`, `bedrockApiKey`, …). */
  | { readonly _tag: "Unsupported"; readonly mode: string }
  | {
    readonly _tag: "ChatGpt"
    readonly accessToken: Redacted.Redacted<string>
    /** `tokens.account_id`: the workspace used for the binding. */
    readonly accountId: Option.Option<string>
    readonly claims: IdTokenClaims
    /** Codex uses token data only when `last_refresh` is present too. */
    readonly hasLastRefresh: boolean
  }
  /** An Agent Identity JWT login (`auth_mode: "agentIdentity"`, or a JWT in `CODEX_ACCESS_TOKEN`). */
  | { readonly _tag: "AgentIdentityJwt"; readonly jwt: Redacted.Redacted<string>; readonly source: LoginSource }
  /** A personal access token (`at-…`): a Bearer login whose account the AuthAPI's whoami names. */
  | { readonly _tag: "PersonalAccessToken"; readonly token: Redacted.Redacted<string>; readonly source: LoginSource }

/** What auth.json holds in its `agent_identity` slot. */
export type IdentitySlot =
  | { readonly _tag: "Absent" }
  | { readonly _tag: "Record"; readonly record: AgentIdentityRecord; readonly forms: RecordForms }
  /** An Agent Identity JWT (today's Codex form; never overwritten silently). */
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

const ID_TOKEN_FAILURES = {
  format: "id_token is not a JWT",
  base64url: "id_token payload is not base64url",
  json: "id_token payload is not JSON",
  object: "id_token payload is not a JSON object"
} as const

/** Reads the id_token claims as Codex does: three non-empty parts, base64url payload, JSON. */
export const parseIdTokenClaims = (jwt: string): Either.Either<IdTokenClaims, string> =>
  Either.mapBoth(decodeJwtPayload(jwt, { exactParts: false }), {
    onLeft: (failure) => ID_TOKEN_FAILURES[failure],
    onRight: (claims) => {
      const auth = claims[AUTH_NAMESPACE]
      return {
        userId: Option.orElse(stringField(auth, "chatgpt_user_id"), () => stringField(auth, "user_id")),
        accountId: stringField(auth, "chatgpt_account_id"),
        email: Option.orElse(stringField(claims, "email"), () => stringField(claims[PROFILE_NAMESPACE], "email")),
        planType: stringField(auth, "chatgpt_plan_type"),
        isFedramp: isObject(auth) && auth["chatgpt_account_is_fedramp"] === true
      }
    }
  })

const decodeRecord = Schema.decodeUnknownEither(AgentIdentityRecord)
const encodeRecord = Schema.encodeSync(AgentIdentityRecord)

/** Whether an access token is a personal access token (`at-…`) rather than an Agent Identity JWT. */
export const isPersonalAccessToken = (token: string): boolean => token.startsWith("at-")

/** The login an access token stands for. */
export const accessTokenLogin = (token: Redacted.Redacted<string>, source: LoginSource): Login =>
  isPersonalAccessToken(Redacted.value(token))
    ? { _tag: "PersonalAccessToken", token, source }
    : { _tag: "AgentIdentityJwt", jwt: token, source }

/**
 * The login mode as Codex resolves it: `auth_mode` when set; else a personal access token, a Bedrock key or
 * an API key by which field is present (in that order); else a ChatGPT login.
 */
const resolvedMode = (doc: AuthDocument): unknown => {
  const mode = doc["auth_mode"]
  if (mode !== undefined && mode !== null) return mode
  if (doc["personal_access_token"] !== undefined && doc["personal_access_token"] !== null) return "personalAccessToken"
  if (doc["bedrock_api_key"] !== undefined && doc["bedrock_api_key"] !== null) return "bedrockApiKey"
  if (typeof doc["OPENAI_API_KEY"] === "string") return "apikey"
  return undefined
}

const readLogin = (doc: AuthDocument): Either.Either<Login, string> => {
  const mode = resolvedMode(doc)
  if (mode === "apikey") return Either.right({ _tag: "ApiKey" })
  // Plain type checks: a failure names the field and never formats the (possibly hostile) value.
  if (mode === "agentIdentity") {
    const jwt = doc["agent_identity"]
    return typeof jwt === "string"
      ? Either.right({ _tag: "AgentIdentityJwt", jwt: Redacted.make(jwt), source: "auth.json" })
      : Either.left("agent_identity is not a JWT string for an agentIdentity login")
  }
  if (mode === "personalAccessToken") {
    const token = doc["personal_access_token"]
    return typeof token === "string"
      ? Either.right({ _tag: "PersonalAccessToken", token: Redacted.make(token), source: "auth.json" })
      : Either.left("personal_access_token is missing or not a string")
  }
  if (mode !== undefined && mode !== null && mode !== "chatgpt" && mode !== "chatgptAuthTokens") {
    return typeof mode === "string" ? Either.right({ _tag: "Unsupported", mode }) : Either.left("auth_mode is not a string")
  }
  const tokens = doc["tokens"]
  if (tokens === undefined || tokens === null) return Either.right({ _tag: "None" })
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
  if (Either.isLeft(record)) return { _tag: "Foreign", form: "unrecognised record" }
  // Stored ids go into URLs, headers and terminals: a record whose ids break the rule is not used.
  const { agent_runtime_id, background_task_id, task_id } = record.right
  if (unsafeIdReason(agent_runtime_id) !== undefined) return { _tag: "Foreign", form: "a record with an unsafe agent_runtime_id" }
  for (const [field, id] of [["task_id", task_id], ["background_task_id", background_task_id]] as const) {
    if (id !== undefined && unsafeIdReason(id) !== undefined) return { _tag: "Foreign", form: `a record with an unsafe ${field}` }
  }
  const forms = recordForms(record.right)
  return forms.seed || forms.current ? { _tag: "Record", record: record.right, forms } : { _tag: "Foreign", form: "incomplete record" }
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
 * A new record keeps the stored task ids it does not carry itself, when it is for the same account and
 * runtime (Codex's carry-over of `background_task_id`, applied to each generation's task field).
 */
export const mergeRecord = (existing: IdentitySlot, next: AgentIdentityRecord): AgentIdentityRecord => {
  if (existing._tag !== "Record") return next
  const stored = existing.record
  const sameIdentity = stored.agent_runtime_id === next.agent_runtime_id &&
    (stored.workspace_id ?? stored.account_id) === (next.workspace_id ?? next.account_id)
  if (!sameIdentity) return next
  return {
    ...next,
    ...(next.task_id === undefined && stored.task_id !== undefined && stored.task_id !== null ? { task_id: stored.task_id } : {}),
    ...(next.background_task_id === undefined && stored.background_task_id !== undefined && stored.background_task_id !== null
      ? { background_task_id: stored.background_task_id }
      : {})
  }
}

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

/**
 * The JSON of a record: our fields in their order, then any field of the stored value we do not know,
 * as it was (neither Codex refuses unknown fields, and they are not ours to drop).
 */
export const encodeIdentityRecord = (record: AgentIdentityRecord, stored?: unknown): Record<string, unknown> => {
  const encoded: Record<string, unknown> = { ...encodeRecord(record) }
  if (isObject(stored)) {
    for (const [key, value] of Object.entries(stored)) if (!(key in AgentIdentityRecord.fields)) encoded[key] = value
  }
  return encoded
}

/** The document with its `agent_identity` record replaced (or removed), every other key kept in place. */
export const withIdentity = (doc: AuthDocument, record: AgentIdentityRecord | undefined): AuthDocument =>
  withSlot(doc, record === undefined ? undefined : encodeIdentityRecord(record, doc["agent_identity"]))

/** The document with an Agent Identity JWT in its `agent_identity` slot (today's Codex form). */
export const withIdentityJwt = (doc: AuthDocument, jwt: Redacted.Redacted<string>): AuthDocument =>
  withSlot(doc, Redacted.value(jwt))

/**
 * The document `codex login --with-access-token` writes for an Agent Identity JWT: the login replaces
 * whatever login the file held.
 */
export const agentIdentityLoginDocument = (jwt: Redacted.Redacted<string>): AuthDocument => ({
  auth_mode: "agentIdentity",
  OPENAI_API_KEY: null,
  agent_identity: Redacted.value(jwt)
})

/** auth.json text exactly as serde's `to_string_pretty` writes it: 2-space indent, no trailing newline. */
export const formatAuthDocument = (doc: AuthDocument): string => JSON.stringify(doc, null, 2)
