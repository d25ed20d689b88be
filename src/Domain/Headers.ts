/**
 * An Authorization header value with what is sent beside it, and every header of a request by name. No
 * Schema here: the CLI's `header` fast path (src/cli/fastHeader.ts) prints these very headers.
 */
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import type { AgentTask } from "./Binding.js"

/** An Authorization header value with what the caller sends beside it. */
export interface AuthorizationHeader {
  readonly scheme: "AgentAssertion" | "Bearer"
  readonly value: Redacted.Redacted<string>
  /**
   * The `ChatGPT-Account-ID` to send: beside Bearer always; beside an AgentAssertion under 2026-06 only
   * (the seed's Codex sent none).
   */
  readonly accountId: Option.Option<string>
  /** Send `X-OpenAI-Fedramp: true` (a FedRAMP account, under 2026-06). */
  readonly fedramp: boolean
  /** The task an AgentAssertion signs for (None for Bearer). */
  readonly task: Option.Option<AgentTask>
}

/**
 * The AgentAssertion for a task of an identity, with what goes beside it: under 2026-06 the identity's
 * account as `ChatGPT-Account-ID`, and `X-OpenAI-Fedramp` for a FedRAMP account; under 2026-04 nothing.
 */
export const agentAssertionHeader = (
  value: Redacted.Redacted<string>,
  identity: { readonly accountId: string; readonly isFedramp: boolean },
  task: AgentTask,
  protocol: "2026-04" | "2026-06"
): AuthorizationHeader => {
  const current = protocol === "2026-06"
  return {
    scheme: "AgentAssertion",
    value,
    accountId: current ? Option.some(identity.accountId) : Option.none(),
    fedramp: current && identity.isFedramp,
    task: Option.some(task)
  }
}

/** Every header to send with a request for an Authorization choice, by name (the secret revealed here only). */
export const requestHeaders = (header: AuthorizationHeader): Readonly<Record<string, string>> => ({
  Authorization: Redacted.value(header.value),
  ...Option.match(header.accountId, { onNone: () => ({}), onSome: (id) => ({ "ChatGPT-Account-ID": id }) }),
  ...(header.fedramp ? { "X-OpenAI-Fedramp": "true" } : {})
})
