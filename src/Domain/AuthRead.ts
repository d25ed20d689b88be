/**
 * Reading Codex's `auth.json`: the text parsed as serde would (a duplicate key refused), the login, and
 * what the `agent_identity` slot holds. Pure functions that load no Schema: `AuthDocument` re-exports them
 * beside the record's Schema (which writes records), and the CLI's `header` fast path
 * (src/cli/fastHeader.ts) reads auth.json with these very rules without loading the Effect runtime.
 *
 * Two Codex generations read this file (docs/PROTOCOL.md, "auth.json"): see `AuthDocument`.
 */
import type * as Brand from "effect/Brand"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import { decodeJwtPayload } from "./Jwt.js"
import { unsafeIdReason } from "./Urls.js"

type AgentRuntimeId = string & Brand.Brand<"AgentRuntimeId">
type TaskId = string & Brand.Brand<"TaskId">

/**
 * The `agent_identity` record as we read and write it (the type of `AuthDocument.AgentIdentityRecord`,
 * whose Schema writes it; a test holds the two readings equal).
 */
export interface AgentIdentityRecord {
  readonly agent_runtime_id: AgentRuntimeId
  readonly agent_private_key: Redacted.Redacted<string>
  readonly account_id?: string | undefined
  readonly chatgpt_user_id?: string | undefined
  readonly email?: string | undefined
  readonly plan_type?: string | undefined
  readonly chatgpt_account_is_fedramp?: boolean | undefined
  readonly task_id?: TaskId | undefined
  readonly workspace_id?: string | undefined
  readonly registered_at?: string | undefined
  readonly background_task_id?: TaskId | undefined
}

/** How each field of a record is read: its JSON type, and whether `null` reads as absent. */
const RECORD_FIELDS: ReadonlyArray<readonly [keyof AgentIdentityRecord, "string" | "boolean", "required" | "optional" | "nullable"]> = [
  ["agent_runtime_id", "string", "required"],
  ["agent_private_key", "string", "required"],
  ["account_id", "string", "optional"],
  ["chatgpt_user_id", "string", "nullable"],
  ["email", "string", "nullable"],
  ["plan_type", "string", "optional"],
  ["chatgpt_account_is_fedramp", "boolean", "optional"],
  ["task_id", "string", "nullable"],
  ["workspace_id", "string", "optional"],
  ["registered_at", "string", "optional"],
  ["background_task_id", "string", "nullable"]
]

/**
 * Reads a JSON value as a record: its known fields in the record's order (unknown ones left out), the key
 * redacted; the field that does not fit named otherwise (never its value). The same reading as decoding
 * with the record's Schema.
 */
export const decodeIdentityRecord = (value: unknown): Either.Either<AgentIdentityRecord, string> => {
  if (typeof value !== "object" || value === null) return Either.left("agent_identity is not an object")
  const input = value as Record<string, unknown>
  const out: Record<string, unknown> = {}
  for (const [name, type, presence] of RECORD_FIELDS) {
    if (!Object.prototype.hasOwnProperty.call(input, name) || input[name] === undefined) {
      if (presence === "required") return Either.left(`agent_identity.${name} is missing`)
      continue
    }
    const field = input[name]
    if (field === null && presence === "nullable") continue
    if (typeof field !== type) return Either.left(`agent_identity.${name} is not a ${type}`)
    out[name] = name === "agent_private_key" ? Redacted.make(field as string) : field
  }
  return Either.right(out as unknown as AgentIdentityRecord)
}

/** A parsed auth.json: any JSON object. */
export type AuthDocument = { readonly [key: string]: unknown }

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

export const isObject = (value: unknown): value is Record<string, unknown> =>
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
  const record = decodeIdentityRecord(value)
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
