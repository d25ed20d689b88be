/**
 * The offline half of the AuthManager: the binding, what a stored identity means for it, the
 * `Authorization` header, status and forget. No network and no HTTP modules, so a command that only
 * reads auth.json and signs (the CLI's `header` and `status`) loads none of them.
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import { type AgentKey, AssertionSigner } from "../services/AssertionSigner.js"
import { AgentIdentityConfig } from "../Domain/Settings.js"
import type { AgentIdentityRecord, AuthState, Login } from "../Domain/AuthDocument.js"
import type { TaskId } from "../Domain/Ids.js"
import { decodeUnverified, issuedAt } from "../Domain/IdentityJwt.js"
import { AgentRuntimeId } from "../Domain/Ids.js"
import {
  type AuthError,
  BindingMismatchError,
  ForeignIdentityFormatError,
  type InvalidKeyError,
  type KeyStoreError,
  LoginUnavailableError
} from "../Domain/Errors.js"
import { isTrustedBaseUrl } from "../Domain/Endpoints.js"
import { KeyStore } from "../services/KeyStore.js"

/** Which account and user an identity belongs to (Codex's `AgentIdentityBinding`). */
export interface Binding {
  /** `chatgpt-account-{workspace}`. */
  readonly bindingId: string
  readonly accountId: string
  /** None matches a stored identity of any user. */
  readonly userId: Option.Option<string>
}

/** A usable stored identity. */
export interface AgentIdentity {
  readonly agentRuntimeId: AgentRuntimeId
  readonly workspaceId: string
  readonly userId: Option.Option<string>
  readonly registeredAt: string
  readonly backgroundTaskId: Option.Option<TaskId>
  readonly key: AgentKey
  /** `ssh-ed25519 …`. */
  readonly publicKeySsh: string
  /** Where it is stored: the seed-era record, or an Agent Identity JWT (whose tasks live in the process). */
  readonly source: "record" | "jwt"
}

/** A registered background task. */
export interface AgentTask {
  readonly agentRuntimeId: AgentRuntimeId
  readonly taskId: TaskId
}

/** An Authorization header value with what the caller needs to send beside it. */
export interface AuthorizationHeader {
  readonly scheme: "AgentAssertion" | "Bearer"
  readonly value: Redacted.Redacted<string>
  /** The `ChatGPT-Account-ID` to send: never with an AgentAssertion (protocol A.8). */
  readonly accountId: Option.Option<string>
}

/** What `status` reports; never the private key. */
export interface Status {
  readonly binding: Option.Option<Binding>
  readonly identity: Option.Option<{
    readonly agentRuntimeId: string
    /** None when the stored key cannot be decoded. */
    readonly publicKeySsh: Option.Option<string>
    readonly registeredAt: string
    readonly backgroundTaskId: Option.Option<string>
  }>
}

/** What the stored slot means for a binding (protocol D.3). */
export type Classified =
  | { readonly _tag: "Missing" }
  | { readonly _tag: "Usable"; readonly identity: AgentIdentity }
  | { readonly _tag: "Stale"; readonly why: string; readonly error: Option.Option<InvalidKeyError> }

/** Codex's binding rule (D.2): forced workspace first, empty values count as absent. */
export const bindingOf = (
  login: Login,
  forcedWorkspaceId: Option.Option<string>
): Either.Either<Binding, LoginUnavailableError> => {
  const unavailable = (reason: LoginUnavailableError["reason"]) => Either.left(new LoginUnavailableError({ reason }))
  if (login._tag === "None") return unavailable("NoLogin")
  if (login._tag === "ApiKey") return unavailable("ApiKey")
  if (Redacted.value(login.accessToken).length === 0) return unavailable("MissingToken")
  const workspace = Option.orElse(
    Option.filter(forcedWorkspaceId, (w) => w.length > 0),
    () => Option.filter(login.accountId, (w) => w.length > 0)
  )
  if (Option.isNone(workspace)) return unavailable("MissingAccount")
  return Either.right({
    bindingId: `chatgpt-account-${workspace.value}`,
    accountId: workspace.value,
    userId: Option.filter(login.claims.userId, (u) => u.length > 0)
  })
}

/** Codex's user rule: a binding without a user matches any stored user. */
const userMatches = (binding: Binding, record: AgentIdentityRecord): boolean =>
  Option.match(binding.userId, { onNone: () => true, onSome: (u) => record.chatgpt_user_id === u })

/** The auth.json record of an identity. */
export const recordOf = (identity: AgentIdentity): AgentIdentityRecord => ({
  workspace_id: identity.workspaceId,
  ...Option.match(identity.userId, { onNone: () => ({}), onSome: (u) => ({ chatgpt_user_id: u }) }),
  agent_runtime_id: identity.agentRuntimeId,
  agent_private_key: identity.key.privateKey,
  registered_at: identity.registeredAt,
  ...Option.match(identity.backgroundTaskId, { onNone: () => ({}), onSome: (t) => ({ background_task_id: t }) })
})

/** The offline operations. */
export interface Service {
  /** The binding of a reading of auth.json. */
  readonly bindingOf: (state: AuthState) => Either.Either<Binding, LoginUnavailableError>
  /** What the stored slot means for the binding; a foreign form is an error, and so is an unusable JWT. */
  readonly classify: (
    state: AuthState,
    binding: Binding
  ) => Effect.Effect<Classified, ForeignIdentityFormatError | BindingMismatchError | InvalidKeyError>
  /** Keeps the task of a JWT identity for the life of this process (it cannot be written into the JWT). */
  readonly setProcessTask: (agentRuntimeId: string, taskId: TaskId) => Effect.Effect<void>
  /** The stored identity usable for the current binding, if any (reads auth.json, no lock). */
  readonly usable: Effect.Effect<Option.Option<AgentIdentity>, AuthError>
  readonly authorizationHeader: Effect.Effect<Option.Option<AuthorizationHeader>, AuthError>
  readonly authorizationHeaderOrBearer: Effect.Effect<Option.Option<AuthorizationHeader>>
  readonly status: Effect.Effect<Status, KeyStoreError>
  readonly forget: Effect.Effect<boolean, KeyStoreError>
}

/** The offline half as a service. */
export class Identity extends Context.Tag("effect-agent-identity/Identity")<Identity, Service>() {}

/** Builds the offline operations on the settings, the KeyStore and the signer. */
export const make = Effect.gen(function*() {
  const config = yield* AgentIdentityConfig
  const store = yield* KeyStore
  const signer = yield* AssertionSigner
  const trusted = isTrustedBaseUrl(config.baseUrl, config.trustedHosts)
  const resolve = (state: AuthState) => bindingOf(state.login, config.forcedWorkspaceId)

  const processTasks = new Map<string, TaskId>()

  /** A JWT identity: used when it is for this workspace and user; never deleted or replaced here. */
  const classifyJwt = (jwt: Redacted.Redacted<string>, binding: Binding) =>
    Effect.gen(function*() {
      const claims = yield* Either.mapLeft(
        decodeUnverified(Redacted.value(jwt)),
        () => new ForeignIdentityFormatError({ form: "an Agent Identity JWT that does not decode" })
      )
      if (claims.account_id !== binding.accountId) return { _tag: "Missing" } as Classified
      if (Option.isSome(binding.userId) && claims.chatgpt_user_id !== binding.userId.value) {
        return yield* new BindingMismatchError({ field: "user", expected: binding.userId.value, actual: claims.chatgpt_user_id })
      }
      const key = yield* signer.parse(claims.agent_private_key)
      const agentRuntimeId = AgentRuntimeId.make(claims.agent_runtime_id)
      return {
        _tag: "Usable",
        identity: {
          agentRuntimeId,
          workspaceId: claims.account_id,
          userId: Option.some(claims.chatgpt_user_id),
          registeredAt: issuedAt(claims),
          backgroundTaskId: Option.fromNullable(processTasks.get(agentRuntimeId)),
          key,
          publicKeySsh: key.publicKeySsh,
          source: "jwt"
        }
      } as Classified
    })

  const classify: Service["classify"] = (state, binding) => {
    const slot = state.identity
    if (slot._tag === "Absent") return Effect.succeed({ _tag: "Missing" })
    if (slot._tag === "Foreign") return Effect.fail(new ForeignIdentityFormatError({ form: slot.form }))
    if (slot._tag === "Jwt") return classifyJwt(slot.jwt, binding)
    const record = slot.record
    // A record for another workspace is invisible, not deleted (D.3 step 1).
    if (record.workspace_id !== binding.accountId) return Effect.succeed({ _tag: "Missing" })
    return signer.parse(record.agent_private_key).pipe(
      Effect.map((key): Classified =>
        userMatches(binding, record)
          ? {
            _tag: "Usable",
            identity: {
              agentRuntimeId: record.agent_runtime_id,
              workspaceId: record.workspace_id,
              userId: Option.fromNullable(record.chatgpt_user_id),
              registeredAt: record.registered_at,
              backgroundTaskId: Option.fromNullable(record.background_task_id),
              key,
              publicKeySsh: key.publicKeySsh,
              source: "record"
            }
          }
          : { _tag: "Stale", why: "stored agent identity binding no longer matches current auth", error: Option.none() }
      ),
      Effect.catchAll((error) =>
        Effect.succeed<Classified>({ _tag: "Stale", why: "stored agent identity is invalid", error: Option.some(error) })
      )
    )
  }

  const usable: Service["usable"] = Effect.gen(function*() {
    const state = yield* store.read
    const binding = yield* resolve(state)
    const found = yield* classify(state, binding)
    return found._tag === "Usable" ? Option.some(found.identity) : Option.none()
  })

  const authorizationHeader: Service["authorizationHeader"] = Effect.gen(function*() {
    if (config.mode === "disabled" || !trusted) return Option.none()
    const state = yield* store.read
    const binding = resolve(state)
    if (Either.isLeft(binding)) return Option.none()
    const found = yield* classify(state, binding.right)
    if (found._tag === "Stale") {
      return yield* Option.match(found.error, { onNone: () => Effect.succeed(Option.none()), onSome: Effect.fail })
    }
    if (found._tag === "Missing") return Option.none()
    const { identity } = found
    const taskId = identity.backgroundTaskId
    if (Option.isNone(taskId)) return Option.none()
    const value = yield* signer.agentAssertion(identity, { agentRuntimeId: identity.agentRuntimeId, taskId: taskId.value })
    return Option.some<AuthorizationHeader>({ scheme: "AgentAssertion", value, accountId: Option.none() })
  })

  const bearer = Effect.map(store.read, (state): Option.Option<AuthorizationHeader> => {
    const login = state.login
    if (login._tag !== "ChatGpt") return Option.none()
    const token = Redacted.value(login.accessToken)
    if (token.length === 0) return Option.none()
    return Option.some({ scheme: "Bearer", value: Redacted.make(`Bearer ${token}`), accountId: login.accountId })
  })

  const authorizationHeaderOrBearer: Service["authorizationHeaderOrBearer"] = authorizationHeader.pipe(
    Effect.catchAll((error) =>
      Effect.as(
        Effect.logWarning(`falling back to bearer authorization because background agent task auth failed: ${error._tag}: ${error.message}`),
        Option.none()
      )
    ),
    Effect.flatMap((header) => Option.isSome(header) ? Effect.succeed(header) : bearer),
    Effect.catchAll((error) => Effect.as(Effect.logWarning(`no authorization available: ${error.message}`), Option.none()))
  )

  const status: Service["status"] = Effect.gen(function*() {
    const state = yield* store.read
    const slot = state.identity
    if (slot._tag === "Jwt") {
      const claims = decodeUnverified(Redacted.value(slot.jwt))
      const identity = Either.isLeft(claims) ? Option.none() : Option.some({
        agentRuntimeId: claims.right.agent_runtime_id,
        publicKeySsh: yield* signer.parse(claims.right.agent_private_key).pipe(Effect.map((key) => key.publicKeySsh), Effect.option),
        registeredAt: issuedAt(claims.right),
        backgroundTaskId: Option.fromNullable(processTasks.get(claims.right.agent_runtime_id) as string | undefined)
      })
      return { binding: Either.getRight(resolve(state)), identity }
    }
    const identity = slot._tag === "Record"
      ? Option.some({
        agentRuntimeId: slot.record.agent_runtime_id,
        publicKeySsh: yield* signer.parse(slot.record.agent_private_key).pipe(Effect.map((key) => key.publicKeySsh), Effect.option),
        registeredAt: slot.record.registered_at,
        backgroundTaskId: Option.fromNullable(slot.record.background_task_id)
      })
      : Option.none()
    return { binding: Either.getRight(resolve(state)), identity }
  })

  return Identity.of({
    bindingOf: resolve,
    classify,
    setProcessTask: (agentRuntimeId, taskId) => Effect.sync(() => void processTasks.set(agentRuntimeId, taskId)),
    usable,
    authorizationHeader,
    authorizationHeaderOrBearer,
    status,
    forget: store.exclusive(store.removeIdentity)
  })
})

/** The offline half as a layer. */
export const layer: Layer.Layer<Identity, never, AgentIdentityConfig | KeyStore | AssertionSigner> = Layer.effect(Identity, make)
