/**
 * Which account and user an agent identity belongs to, what a stored identity means for them, and the
 * record we write for one. Pure rules (docs/PROTOCOL.md, "Binding"): the KeyStore reads, the manager
 * decides with these functions, the signer parses keys (passed in as `parse`). The rules that need no error
 * type live in `BindingRules` (re-exported here).
 */
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import type { AgentKey } from "./AgentKey.js"
import {
  type AgentIdentityRecord,
  type AuthState,
  type Login,
  presentString
} from "./AuthDocument.js"
import {
  type AgentIdentityJwtError,
  BindingMismatchError,
  ForeignIdentityFormatError,
  type InvalidKeyError,
  LoginUnavailableError
} from "./Errors.js"
import { type Claims, decodeUnverified, issuedAt } from "./IdentityJwt.js"
import { AgentRuntimeId, type TaskId } from "./Ids.js"
import { type Binding, chatGptBinding, recordFor } from "./BindingRules.js"
import type { Protocol } from "./Settings.js"

export { type Binding, chatGptBinding, recordFor, taskOfRecord, userMatches } from "./BindingRules.js"

/** A registered task. */
export interface AgentTask {
  readonly agentRuntimeId: AgentRuntimeId
  readonly taskId: TaskId
}

/** A usable agent identity. */
export interface AgentIdentity {
  readonly agentRuntimeId: AgentRuntimeId
  readonly key: AgentKey
  /** `ssh-ed25519 …`. */
  readonly publicKeySsh: string
  readonly accountId: string
  readonly userId: Option.Option<string>
  readonly isFedramp: boolean
  readonly registeredAt: string
  /** The task of the protocol in use: `background_task_id` (2026-04) or `task_id` (2026-06). */
  readonly taskId: Option.Option<TaskId>
  /** Where it is stored: an auth.json record, or an Agent Identity JWT (whose tasks are kept beside it). */
  readonly source: "record" | "jwt"
  /** The stored record, written back as it was but for the fields that change. */
  readonly record: Option.Option<AgentIdentityRecord>
}

/** What the stored identity means for a binding. */
export type Classified =
  | { readonly _tag: "Missing" }
  | { readonly _tag: "Usable"; readonly identity: AgentIdentity }
  | { readonly _tag: "Stale"; readonly why: string; readonly error: Option.Option<InvalidKeyError> }

const unavailable = (reason: LoginUnavailableError["reason"]) => Either.left(new LoginUnavailableError({ reason }))

const bindingFromClaims = (claims: Claims): Binding => ({
  bindingId: `chatgpt-account-${claims.account_id}`,
  accountId: claims.account_id,
  userId: presentString(claims.chatgpt_user_id),
  email: presentString(claims.email),
  planType: presentString(claims.plan_type),
  isFedramp: claims.chatgpt_account_is_fedramp
})

/**
 * Codex's binding rule: a ChatGPT login binds to the forced workspace, else `tokens.account_id` (empty
 * values count as absent), and its id_token's user. Under 2026-06 an Agent Identity JWT login binds to
 * the JWT's own account and user. A personal access token is a Bearer login with no agent identity.
 */
export const bindingOf = (
  login: Login,
  forcedWorkspaceId: Option.Option<string>,
  protocol: Protocol
): Either.Either<Binding, LoginUnavailableError | AgentIdentityJwtError> => {
  switch (login._tag) {
    case "None":
      return unavailable("NoLogin")
    case "ApiKey":
      return unavailable("ApiKey")
    case "Unsupported":
      return unavailable("Unsupported")
    case "PersonalAccessToken":
      return unavailable(protocol === "2026-04" ? "NoLogin" : "PersonalAccessToken")
    case "AgentIdentityJwt":
      return protocol === "2026-04"
        ? unavailable("NoLogin")
        : Either.map(decodeUnverified(Redacted.value(login.jwt)), bindingFromClaims)
    case "ChatGpt":
      return Either.mapLeft(chatGptBinding(login, forcedWorkspaceId), (reason) => new LoginUnavailableError({ reason }))
  }
}

/** The plan written when the login names none, or one today's Codex does not know. */
export const UNKNOWN_PLAN = "unknown"

/** The plans today's Codex stores by name (its `account::PlanType`); anything else it stores as `unknown`. */
const KNOWN_PLANS = new Set([
  "free", "go", "plus", "pro", "prolite", "team", "business", "ent26", "enterprise", "edu",
  "self_serve_business_prolite", "self_serve_business_usage_based", "enterprise_cbp_automation",
  "enterprise_cbp_usage_based", "edu_plus", "edu_pro"
])
const PLAN_ALIASES: Readonly<Record<string, string>> = { hc: "enterprise", education: "edu" }

/**
 * A claim's plan as today's Codex writes it into a record: a known plan by its name, `hc` and `education`
 * by the plans they stand for, anything else (or none) as `unknown`. Matching is case-sensitive, as serde's.
 */
export const recordPlanType = (plan: Option.Option<string>): string =>
  Option.match(plan, {
    onNone: () => UNKNOWN_PLAN,
    onSome: (raw) => KNOWN_PLANS.has(raw) ? raw : PLAN_ALIASES[raw] ?? UNKNOWN_PLAN
  })

/**
 * A record both Codex generations read (docs/PROTOCOL.md, "auth.json"), for a newly registered identity.
 * Missing profile values are written as today's Codex writes them: `""` for no user or email, `unknown`
 * for no plan (or one it does not know).
 */
export const newRecord = (input: {
  readonly agentRuntimeId: AgentRuntimeId
  readonly privateKey: Redacted.Redacted<string>
  readonly binding: Binding
  readonly registeredAt: string
}): AgentIdentityRecord => ({
  agent_runtime_id: input.agentRuntimeId,
  agent_private_key: input.privateKey,
  account_id: input.binding.accountId,
  chatgpt_user_id: Option.getOrElse(input.binding.userId, () => ""),
  email: Option.getOrElse(input.binding.email, () => ""),
  plan_type: recordPlanType(input.binding.planType),
  chatgpt_account_is_fedramp: input.binding.isFedramp,
  workspace_id: input.binding.accountId,
  registered_at: input.registeredAt
})

/**
 * A stored record with a task: every stored field as it was (the key's text too), the task in its
 * generation's field, and the fields either Codex needs that it lacked filled in from the binding.
 */
export const recordWithTask = (
  stored: AgentIdentityRecord,
  binding: Binding,
  protocol: Protocol,
  taskId: TaskId,
  registeredAt: string
): AgentIdentityRecord => {
  const filled = newRecord({ agentRuntimeId: stored.agent_runtime_id, privateKey: stored.agent_private_key, binding, registeredAt })
  const present = Object.fromEntries(Object.entries(stored).filter(([, value]) => value !== undefined && value !== null))
  return { ...filled, ...present, ...(protocol === "2026-04" ? { background_task_id: taskId } : { task_id: taskId }) }
}

/** The parts of the KeyStore and signer that classification needs. */
export interface ClassifyContext {
  readonly protocol: Protocol
  readonly parse: (privateKey: Redacted.Redacted<string>) => Effect.Effect<AgentKey, InvalidKeyError>
  /** The task kept for an Agent Identity JWT identity, by runtime id. */
  readonly jwtTask: (agentRuntimeId: string) => Option.Option<TaskId>
}

const fromJwt = (jwt: Redacted.Redacted<string>, binding: Binding, context: ClassifyContext) =>
  Effect.gen(function*() {
    const claims = yield* Either.mapLeft(
      decodeUnverified(Redacted.value(jwt)),
      () => new ForeignIdentityFormatError({ form: "an Agent Identity JWT that does not decode" })
    )
    if (claims.account_id !== binding.accountId) return { _tag: "Missing" } as Classified
    if (Option.isSome(binding.userId) && claims.chatgpt_user_id !== binding.userId.value) {
      return yield* new BindingMismatchError({ field: "user", expected: binding.userId.value, actual: claims.chatgpt_user_id })
    }
    const key = yield* context.parse(claims.agent_private_key)
    const agentRuntimeId = AgentRuntimeId.make(claims.agent_runtime_id)
    return {
      _tag: "Usable",
      identity: {
        agentRuntimeId,
        key,
        publicKeySsh: key.publicKeySsh,
        accountId: claims.account_id,
        userId: presentString(claims.chatgpt_user_id),
        isFedramp: claims.chatgpt_account_is_fedramp,
        registeredAt: issuedAt(claims),
        taskId: context.jwtTask(agentRuntimeId),
        source: "jwt",
        record: Option.none()
      }
    } as Classified
  })

/**
 * What the stored identity means for the binding. A record for another account is invisible, not deleted
 * (it is replaced only by the next registration); one whose key does not parse or whose user differs is
 * stale (deleted, then registered again). A JWT is used when it is for this account and user, and is
 * never deleted or replaced here. An Agent Identity JWT login is its own identity.
 */
export const classify = (
  state: AuthState,
  binding: Binding,
  context: ClassifyContext
): Effect.Effect<Classified, ForeignIdentityFormatError | BindingMismatchError | InvalidKeyError | AgentIdentityJwtError> => {
  if (state.login._tag === "AgentIdentityJwt" && context.protocol === "2026-06") return fromJwt(state.login.jwt, binding, context)
  const slot = state.identity
  if (slot._tag === "Absent") return Effect.succeed({ _tag: "Missing" })
  if (slot._tag === "Foreign") return Effect.fail(new ForeignIdentityFormatError({ form: slot.form }))
  if (slot._tag === "Jwt") return fromJwt(slot.jwt, binding, context)
  const record = slot.record
  const found = recordFor(record, binding, context.protocol)
  if (found._tag === "Missing") return Effect.succeed({ _tag: "Missing" })
  return context.parse(record.agent_private_key).pipe(
    Effect.map((key): Classified =>
      found.sameUser
        ? { _tag: "Usable", identity: { ...found.fields, key, publicKeySsh: key.publicKeySsh, source: "record", record: Option.some(record) } }
        : { _tag: "Stale", why: "stored agent identity binding no longer matches current auth", error: Option.none() }
    ),
    Effect.catchAll((error) =>
      Effect.succeed<Classified>({ _tag: "Stale", why: "stored agent identity is invalid", error: Option.some(error) })
    )
  )
}
