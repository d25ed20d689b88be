/**
 * The binding rules that need no error type: which account and user a ChatGPT login binds an identity to,
 * and what a stored record means for that binding. `Binding` builds its tagged errors on these; they load
 * no Schema, so the CLI's `header` fast path (src/cli/fastHeader.ts) applies these very rules without
 * loading the Effect runtime.
 */
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import { type AgentIdentityRecord, type Login, presentString, recordAccount } from "./AuthRead.js"

type Protocol = "2026-04" | "2026-06"

/** Which account and user an identity belongs to (Codex's `AgentIdentityBinding`), with the login's profile. */
export interface Binding {
  /** `chatgpt-account-{account}`. */
  readonly bindingId: string
  readonly accountId: string
  /** None matches a stored identity of any user (the seed's rule). */
  readonly userId: Option.Option<string>
  readonly email: Option.Option<string>
  readonly planType: Option.Option<string>
  readonly isFedramp: boolean
}

/**
 * Codex's binding rule for a ChatGPT login: the forced workspace, else `tokens.account_id` (empty values
 * count as absent), and its id_token's user; or why there is none.
 */
export const chatGptBinding = (
  login: Extract<Login, { readonly _tag: "ChatGpt" }>,
  forcedWorkspaceId: Option.Option<string>
): Either.Either<Binding, "MissingToken" | "MissingAccount"> => {
  if (Redacted.value(login.accessToken).length === 0) return Either.left("MissingToken")
  const workspace = Option.orElse(
    Option.filter(forcedWorkspaceId, (w) => w.length > 0),
    () => Option.filter(login.accountId, (w) => w.length > 0)
  )
  if (Option.isNone(workspace)) return Either.left("MissingAccount")
  return Either.right({
    bindingId: `chatgpt-account-${workspace.value}`,
    accountId: workspace.value,
    userId: Option.filter(login.claims.userId, (u) => u.length > 0),
    email: login.claims.email,
    planType: login.claims.planType,
    isFedramp: login.claims.isFedramp
  })
}

/** The task field of each generation's record. */
export const taskOfRecord = (record: AgentIdentityRecord, protocol: Protocol): Option.Option<NonNullable<AgentIdentityRecord["task_id"]>> =>
  Option.fromNullable(protocol === "2026-04" ? record.background_task_id : record.task_id)

/** The user rule: under 2026-04 a binding without a user matches any stored user; under 2026-06 users must be equal. */
export const userMatches = (binding: Binding, storedUser: Option.Option<string>, protocol: Protocol): boolean =>
  Option.match(binding.userId, {
    onNone: () => protocol === "2026-04" || Option.isNone(storedUser),
    onSome: (u) => Option.contains(storedUser, u)
  })
/**
 * What a stored record means for a binding, its key aside: for another account it is not this binding's
 * (`Missing`); for this account, it is this user's or another's, with the fields of the identity it holds.
 */
export const recordFor = (record: AgentIdentityRecord, binding: Binding, protocol: Protocol) => {
  const account = recordAccount(record, protocol)
  if (account !== binding.accountId) return { _tag: "Missing" } as const
  const storedUser = presentString(record.chatgpt_user_id)
  return {
    _tag: "Found",
    sameUser: userMatches(binding, storedUser, protocol),
    fields: {
      agentRuntimeId: record.agent_runtime_id,
      accountId: account,
      userId: storedUser,
      isFedramp: record.chatgpt_account_is_fedramp ?? binding.isFedramp,
      registeredAt: record.registered_at ?? "unknown",
      taskId: taskOfRecord(record, protocol)
    }
  } as const
}
