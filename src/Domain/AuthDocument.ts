/**
 * Codex's `auth.json` as a JSON document: the pure reading of the login and of the agent identity slot
 * (`AuthRead`, re-exported here), the record's Schema, and the one edit we make (the `agent_identity`
 * slot), keeping every other field — known or unknown — as it was. Both KeyStore layers share these.
 *
 * Two Codex generations read this file (docs/PROTOCOL.md, "auth.json"). The seed's Codex (protocol
 * 2026-04) reads `agent_identity` as `{workspace_id, chatgpt_user_id?, agent_runtime_id, agent_private_key,
 * registered_at, background_task_id?}`; today's Codex (2026-06) as a JWT string or `{agent_runtime_id,
 * agent_private_key, account_id, chatgpt_user_id, email, plan_type, chatgpt_account_is_fedramp, task_id?}`.
 * A value that fits neither makes that Codex fail to read the whole file (its user is logged out). Neither
 * reader refuses fields it does not know, so the record we write holds both field sets.
 */
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import type * as AuthRead from "./AuthRead.js"
import { type AuthDocument, type IdentitySlot, isObject } from "./AuthRead.js"
import { AgentRuntimeId, TaskId } from "./Ids.js"

export {
  accessTokenLogin,
  type AuthDocument,
  type AuthState,
  decodeIdentityRecord,
  emptyState,
  hasDuplicateKey,
  type IdentitySlot,
  type IdTokenClaims,
  isPersonalAccessToken,
  type Login,
  type LoginSource,
  parseAuthText,
  parseIdTokenClaims,
  presentString,
  readState,
  recordAccount,
  type RecordForms,
  recordForms
} from "./AuthRead.js"

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

// The Schema's type and the one `AuthRead` reads are the same type.
const sameRecord: [AuthRead.AgentIdentityRecord, AgentIdentityRecord] = [] as unknown as [AgentIdentityRecord, AuthRead.AgentIdentityRecord]
void sameRecord

const encodeRecord = Schema.encodeSync(AgentIdentityRecord)

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
