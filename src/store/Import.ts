/**
 * Import of many logins into any `AccountStore`: Codex auth.json texts (a ChatGPT login, or an Agent Identity
 * JWT login, with or without an identity) and bare access tokens (an Agent Identity JWT on a line of its own).
 * Each input gets a result: `imported`, `unchanged` (the store already held exactly this; repeating an import
 * changes nothing) or `refused` with a reason. No reason, result or audit line ever holds an input's secret:
 * reasons are fixed texts or the library's own error messages, which never format a token.
 */
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import { agentIdentityLoginDocument, type AuthDocument, isPersonalAccessToken, parseAuthText, readState } from "../Domain/AuthDocument.js"
import { type Protocol } from "../Domain/Settings.js"
import { AccountStore, keyOfDocument } from "../services/AccountStore.js"

/** One input: a name for the report (a file name, `stdin#2`) and its text. */
export interface ImportInput {
  readonly name: string
  readonly text: string
}

/** What happened to one input. */
export interface ImportResult {
  readonly name: string
  readonly outcome: "imported" | "unchanged" | "refused"
  /** The account and user the login binds to, when it could be read. */
  readonly accountId: Option.Option<string>
  readonly userId: Option.Option<string>
  /** The login's kind (`ChatGpt`, `AgentIdentityJwt`), when it could be read. */
  readonly login: Option.Option<string>
  /** Why it was refused (secret-free). */
  readonly reason: Option.Option<string>
}

const JWT = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/

/** The document an input stands for, or why it cannot be one. */
const documentOf = (text: string): Either.Either<AuthDocument, string> => {
  const trimmed = text.trim()
  if (trimmed.length === 0) return Either.left("empty input")
  if (trimmed.startsWith("{")) return parseAuthText(trimmed)
  if (isPersonalAccessToken(trimmed)) {
    return Either.left("a personal access token names its account only through the AuthAPI: log in with it and import the auth.json")
  }
  if (JWT.test(trimmed)) return Either.right(agentIdentityLoginDocument(Redacted.make(trimmed)))
  return Either.left("neither an auth.json document nor an Agent Identity JWT")
}

const USABLE = new Set(["ChatGpt", "AgentIdentityJwt"])

/**
 * Imports every input into the ambient AccountStore, in order, and audits each (`imported`, `refused`).
 * A failing store fails the whole import (what was imported before stays).
 */
export const importDocuments = (
  inputs: ReadonlyArray<ImportInput>,
  protocol: Protocol
) =>
  Effect.gen(function*() {
    const store = yield* AccountStore
    const results: Array<ImportResult> = []
    for (const input of inputs) {
      const refuse = (reason: string, key?: { accountId: string; userId: Option.Option<string> }, login?: string) =>
        Effect.gen(function*() {
          yield* store.audit({
            action: "refused",
            accountId: key?.accountId ?? "",
            userId: key?.userId ?? Option.none(),
            detail: `${input.name}: ${reason}`.slice(0, 500)
          })
          results.push({
            name: input.name,
            outcome: "refused",
            accountId: Option.fromNullable(key?.accountId),
            userId: key?.userId ?? Option.none(),
            login: Option.fromNullable(login),
            reason: Option.some(reason)
          })
        })
      const document = documentOf(input.text)
      if (Either.isLeft(document)) {
        yield* refuse(document.left)
        continue
      }
      const state = readState(document.right)
      if (Either.isLeft(state)) {
        yield* refuse(state.left)
        continue
      }
      const login = state.right.login._tag
      if (!USABLE.has(login)) {
        yield* refuse(
          login === "None" ? "no login in the document" : login === "ApiKey" ? "an API key login has no agent identity" : `a ${login} login cannot hold an agent identity`,
          undefined,
          login
        )
        continue
      }
      const key = keyOfDocument(document.right, protocol)
      if (Either.isLeft(key)) {
        yield* refuse(key.left.message, undefined, login)
        continue
      }
      const outcome = yield* Effect.either(store.put(document.right, protocol))
      if (Either.isLeft(outcome)) {
        if (outcome.left._tag === "KeyStoreError") return yield* Effect.fail(outcome.left)
        yield* refuse(outcome.left.message, key.right, login)
        continue
      }
      if (outcome.right.changed) {
        yield* store.audit({ action: "imported", accountId: key.right.accountId, userId: key.right.userId, detail: `${login} login from ${input.name}`.slice(0, 500) })
      }
      results.push({
        name: input.name,
        outcome: outcome.right.changed ? "imported" : "unchanged",
        accountId: Option.some(key.right.accountId),
        userId: key.right.userId,
        login: Option.some(login),
        reason: Option.none()
      })
    }
    return results as ReadonlyArray<ImportResult>
  })
