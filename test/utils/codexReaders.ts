/**
 * Strict models of the two Codex readers of auth.json, as their serde types say (docs/PROTOCOL.md,
 * "auth.json"): required fields and their types, `Option` fields that accept missing or null, the untagged
 * JWT-or-record rule of today's `agent_identity`, unknown fields ignored, and no unknown `auth_mode`.
 * Each returns the path of the first field it refuses, or null when that Codex reads the file.
 */

type Json = unknown
const isObject = (v: Json): v is Record<string, Json> => typeof v === "object" && v !== null && !Array.isArray(v)

type Check = (value: Json, at: string) => string | null

const string: Check = (v, at) => typeof v === "string" ? null : `${at}: expected a string`
const boolean: Check = (v, at) => typeof v === "boolean" ? null : `${at}: expected a boolean`
/** serde `Option<T>`: missing or null is None. */
const option = (inner: Check): Check => (v, at) => v === undefined || v === null ? null : inner(v, at)
/** A field with no `#[serde(default)]` and not an `Option`: it must be there. */
const required = (inner: Check): Check => (v, at) => v === undefined ? `${at}: missing` : inner(v, at)

const struct = (fields: Record<string, Check>): Check => (v, at) => {
  if (!isObject(v)) return `${at}: expected an object`
  for (const [key, check] of Object.entries(fields)) {
    const failure = check(v[key], `${at}.${key}`)
    if (failure !== null) return failure
  }
  return null
}

const oneOf = (values: ReadonlyArray<string>): Check => (v, at) =>
  typeof v === "string" && values.includes(v) ? null : `${at}: not one of ${values.join(", ")}`

/** An id_token as `parse_chatgpt_jwt_claims` reads it: three non-empty parts, base64url JSON payload. */
const idToken: Check = (v, at) => {
  if (typeof v !== "string") return `${at}: expected a string`
  const parts = v.split(".")
  if (parts.length < 3 || parts.slice(0, 3).some((p) => p.length === 0)) return `${at}: not a JWT`
  try {
    const payload = JSON.parse(Buffer.from(parts[1]!, "base64url").toString("utf8"))
    return isObject(payload) ? null : `${at}: payload is not an object`
  } catch {
    return `${at}: payload is not JSON`
  }
}

const tokens = struct({
  id_token: required(idToken),
  access_token: required(string),
  refresh_token: required(string),
  account_id: option(string)
})

const rfc3339: Check = (v, at) =>
  typeof v === "string" && /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/.test(v) ? null : `${at}: not RFC 3339`

/** The seed's record (protocol 2026-04). */
const seedRecord = struct({
  workspace_id: required(string),
  chatgpt_user_id: option(string),
  agent_runtime_id: required(string),
  agent_private_key: required(string),
  registered_at: required(string),
  background_task_id: option(string)
})

/** Today's record (protocol 2026-06): `email` and `task_id` optional, the rest required. */
const currentRecord = struct({
  agent_runtime_id: required(string),
  agent_private_key: required(string),
  account_id: required(string),
  chatgpt_user_id: required(string),
  email: option(string),
  plan_type: required(string),
  chatgpt_account_is_fedramp: required(boolean),
  task_id: option(string)
})

/** Today's untagged `AgentIdentityStorage`: a JWT string first, then the record. */
const currentIdentity: Check = (v, at) => typeof v === "string" ? null : currentRecord(v, at)

/** The seed's Codex (2026-04): its `AuthDotJson`. */
export const seedCodexReads = (doc: Json): string | null =>
  struct({
    auth_mode: option(oneOf(["apikey", "chatgpt", "chatgptAuthTokens"])),
    OPENAI_API_KEY: option(string),
    tokens: option(tokens),
    last_refresh: option(rfc3339),
    agent_identity: option(seedRecord)
  })(doc, "auth.json")

/** Today's Codex (2026-06, rust-v0.149): its `AuthDotJson`. */
export const currentCodexReads = (doc: Json): string | null =>
  struct({
    auth_mode: option(oneOf(["apikey", "chatgpt", "chatgptAuthTokens", "headers", "agentIdentity", "personalAccessToken", "bedrockApiKey"])),
    OPENAI_API_KEY: option(string),
    tokens: option(tokens),
    last_refresh: option(rfc3339),
    agent_identity: option(currentIdentity),
    personal_access_token: option(string),
    bedrock_api_key: option(struct({ api_key: required(string), region: required(string) }))
  })(doc, "auth.json")

/** Both readers' verdicts, for one assertion. */
export const codexReaders = (doc: Json) => ({ seed: seedCodexReads(doc), current: currentCodexReads(doc) })
