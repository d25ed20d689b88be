/**
 * AuthManager: binds the agent identity to the current ChatGPT account and user, reuses what is
 * valid, deletes and re-registers what is not, registers background tasks, and produces the
 * `Authorization` header — an AgentAssertion where one may be used, else `Bearer`. Registrations
 * run inside `KeyStore.exclusive`, so concurrent callers (fibers or processes) share one.
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import { AgentRegistry } from "./AgentRegistry.js"
import { type AgentKey, AssertionSigner } from "./AssertionSigner.js"
import { AgentIdentityConfig } from "./Config.js"
import { formatTimestamp } from "./crypto/time.js"
import type { AgentIdentityRecord, AuthState, Login } from "./Domain/AuthDocument.js"
import type { AgentRuntimeId, TaskId } from "./Domain/Ids.js"
import {
  AgentIdentityDisabledError,
  type AuthError,
  BindingMismatchError,
  ForeignIdentityFormatError,
  type InvalidKeyError,
  type KeyStoreError,
  LoginUnavailableError
} from "./Errors.js"
import { isTrustedBaseUrl } from "./http/endpoints.js"
import { KeyStore } from "./KeyStore.js"
import { TaskRegistry } from "./TaskRegistry.js"

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

/** The AuthManager's operations. */
export interface Service {
  /** The binding of the current login; fails when there is no usable ChatGPT login. */
  readonly binding: Effect.Effect<Binding, LoginUnavailableError | KeyStoreError>
  /** Reuses a valid stored identity, else registers one; `reused` says which. */
  readonly ensureIdentity: Effect.Effect<AgentIdentity & { readonly reused: boolean }, AuthError>
  /** Ensures the identity, then reuses its stored background task or registers one. */
  readonly ensureTask: Effect.Effect<AgentTask & { readonly reused: boolean }, AuthError>
  /**
   * The AgentAssertion for the stored task, when the mode is enabled, the base URL's host is trusted
   * and a task is stored; None otherwise. No network I/O, no writes.
   */
  readonly authorizationHeader: Effect.Effect<Option.Option<AuthorizationHeader>, AuthError>
  /** `authorizationHeader`, falling back to `Bearer <access token>` (a failure is logged as a warning). */
  readonly authorizationHeaderOrBearer: Effect.Effect<Option.Option<AuthorizationHeader>>
  /** Whether the stored identity (valid for the current binding) has the task's runtime id. */
  readonly taskMatchesCurrentIdentity: (task: Pick<AgentTask, "agentRuntimeId">) => Effect.Effect<boolean>
  /** Removes the stored identity; true when there was one. */
  readonly forget: Effect.Effect<boolean, KeyStoreError>
  /** The binding and stored identity, for display. */
  readonly status: Effect.Effect<Status, KeyStoreError>
}

/** The AuthManager service. */
export class AuthManager extends Context.Tag("effect-agent-identity/AuthManager")<AuthManager, Service>() {}

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
const recordOf = (identity: AgentIdentity): AgentIdentityRecord => ({
  workspace_id: identity.workspaceId,
  ...Option.match(identity.userId, { onNone: () => ({}), onSome: (u) => ({ chatgpt_user_id: u }) }),
  agent_runtime_id: identity.agentRuntimeId,
  agent_private_key: identity.key.privateKey,
  registered_at: identity.registeredAt,
  ...Option.match(identity.backgroundTaskId, { onNone: () => ({}), onSome: (t) => ({ background_task_id: t }) })
})

/** What the stored slot means for a binding (D.3). */
type Classified =
  | { readonly _tag: "Missing" }
  | { readonly _tag: "Usable"; readonly identity: AgentIdentity }
  | { readonly _tag: "Stale"; readonly why: string; readonly error: Option.Option<InvalidKeyError> }

/** The AuthManager on its services. */
export const make = Effect.gen(function*() {
  const config = yield* AgentIdentityConfig
  const store = yield* KeyStore
  const signer = yield* AssertionSigner
  const agents = yield* AgentRegistry
  const tasks = yield* TaskRegistry

  const requireEnabled = config.mode === "enabled" ? Effect.void : Effect.fail(new AgentIdentityDisabledError())

  const resolve = (state: AuthState) => bindingOf(state.login, config.forcedWorkspaceId)

  const accessTokenOf = (state: AuthState) =>
    state.login._tag === "ChatGpt" ? Effect.succeed(state.login.accessToken) : Effect.fail(new LoginUnavailableError({ reason: "NoLogin" }))

  const classify = (state: AuthState, binding: Binding): Effect.Effect<Classified, ForeignIdentityFormatError> => {
    const slot = state.identity
    if (slot._tag === "Absent") return Effect.succeed({ _tag: "Missing" })
    if (slot._tag === "Foreign") return Effect.fail(new ForeignIdentityFormatError({ form: slot.form }))
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
              publicKeySsh: key.publicKeySsh
            }
          }
          : { _tag: "Stale", why: "stored agent identity binding no longer matches current auth", error: Option.none() }
      ),
      Effect.catchAll((error) =>
        Effect.succeed<Classified>({ _tag: "Stale", why: "stored agent identity is invalid", error: Option.some(error) })
      )
    )
  }

  /**
   * Register (or reuse) the identity; the caller holds `store.exclusive`. Returns the access token of
   * the same reading of auth.json, so a following task registration uses one auth snapshot (seed test 17).
   */
  const ensureIdentityLocked = Effect.gen(function*() {
    const state = yield* store.read
    const binding = yield* resolve(state)
    const accessToken = yield* accessTokenOf(state)
    const found = yield* classify(state, binding)
    if (found._tag === "Usable") {
      yield* Effect.logDebug("reusing stored agent identity")
      return { identity: { ...found.identity, reused: true }, accessToken }
    }
    if (found._tag === "Stale") {
      yield* Effect.logWarning(`${found.why}; deleting cached value`)
      yield* store.removeIdentity
    }
    const key = yield* signer.generate
    const agentRuntimeId = yield* agents.register({ accessToken, publicKeySsh: key.publicKeySsh })
    const registeredAt = formatTimestamp(yield* Effect.clockWith((c) => c.currentTimeMillis))
    const identity: AgentIdentity = {
      agentRuntimeId,
      workspaceId: binding.accountId,
      userId: binding.userId,
      registeredAt,
      backgroundTaskId: Option.none(),
      key,
      publicKeySsh: key.publicKeySsh
    }
    yield* store.saveIdentity(recordOf(identity))
    yield* Effect.logInfo(`registered agent identity ${agentRuntimeId}`)
    return { identity: { ...identity, reused: false }, accessToken }
  })

  /** The stored usable identity, read without the lock; None when a registration is needed. */
  const usableWithoutLock = Effect.gen(function*() {
    const state = yield* store.read
    const binding = yield* resolve(state)
    const found = yield* classify(state, binding)
    return found._tag === "Usable" ? Option.some(found.identity) : Option.none()
  })

  const ensureIdentity: Service["ensureIdentity"] = Effect.gen(function*() {
    yield* requireEnabled
    const fast = yield* usableWithoutLock
    if (Option.isSome(fast)) return { ...fast.value, reused: true }
    return (yield* store.exclusive(ensureIdentityLocked)).identity
  }).pipe(Effect.withSpan("AuthManager.ensureIdentity"))

  /** At most two registrations: a second one only when the identity changed under the first (D.6.4). */
  const ensureTaskLocked = Effect.gen(function*() {
    let lastRuntime: string | undefined
    let lastStored: string | null = null
    for (let attempt = 0; attempt < 2; attempt++) {
      const { accessToken, identity } = yield* ensureIdentityLocked
      if (Option.isSome(identity.backgroundTaskId)) {
        return { agentRuntimeId: identity.agentRuntimeId, taskId: identity.backgroundTaskId.value, reused: true }
      }
      const taskId = yield* tasks.register({ accessToken, identity })
      // Persist only if the stored identity is still the one the task was registered for.
      const after = yield* store.read
      const binding = yield* resolve(after)
      const current = yield* classify(after, binding)
      if (current._tag === "Usable" && current.identity.agentRuntimeId === identity.agentRuntimeId) {
        yield* store.saveIdentity(recordOf({ ...current.identity, backgroundTaskId: Option.some(taskId) }))
        yield* Effect.logInfo(`registered agent task for ${identity.agentRuntimeId}`)
        return { agentRuntimeId: identity.agentRuntimeId, taskId, reused: false }
      }
      lastRuntime = identity.agentRuntimeId
      lastStored = current._tag === "Usable" ? current.identity.agentRuntimeId : null
      yield* Effect.logDebug("agent identity changed during task registration; retrying")
    }
    return yield* new BindingMismatchError({ field: "runtime", expected: lastStored, actual: lastRuntime ?? null })
  })

  const ensureTask: Service["ensureTask"] = Effect.gen(function*() {
    yield* requireEnabled
    const fast = yield* usableWithoutLock
    if (Option.isSome(fast) && Option.isSome(fast.value.backgroundTaskId)) {
      return { agentRuntimeId: fast.value.agentRuntimeId, taskId: fast.value.backgroundTaskId.value, reused: true }
    }
    return yield* store.exclusive(ensureTaskLocked)
  }).pipe(Effect.withSpan("AuthManager.ensureTask"))

  const trusted = isTrustedBaseUrl(config.baseUrl, config.trustedHosts)

  const authorizationHeader: Service["authorizationHeader"] = Effect.gen(function*() {
    if (config.mode === "disabled" || !trusted) return Option.none()
    const state = yield* store.read
    const binding = bindingOf(state.login, config.forcedWorkspaceId)
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

  const taskMatchesCurrentIdentity: Service["taskMatchesCurrentIdentity"] = (task) =>
    Effect.gen(function*() {
      if (config.mode === "disabled") return false
      const identity = yield* usableWithoutLock
      return Option.isSome(identity) && identity.value.agentRuntimeId === task.agentRuntimeId
    }).pipe(Effect.orElseSucceed(() => false))

  const status: Service["status"] = Effect.gen(function*() {
    const state = yield* store.read
    const binding = bindingOf(state.login, config.forcedWorkspaceId)
    const slot = state.identity
    const identity = slot._tag === "Record"
      ? Option.some({
        agentRuntimeId: slot.record.agent_runtime_id,
        publicKeySsh: yield* signer.parse(slot.record.agent_private_key).pipe(
          Effect.map((key) => key.publicKeySsh),
          Effect.option
        ),
        registeredAt: slot.record.registered_at,
        backgroundTaskId: Option.fromNullable(slot.record.background_task_id)
      })
      : Option.none()
    return { binding: Either.getRight(binding), identity }
  })

  return AuthManager.of({
    binding: Effect.flatMap(store.read, resolve),
    ensureIdentity,
    ensureTask,
    authorizationHeader,
    authorizationHeaderOrBearer,
    taskMatchesCurrentIdentity,
    forget: store.exclusive(store.removeIdentity),
    status
  })
})

/** The AuthManager as a layer on its five services. */
export const layer: Layer.Layer<
  AuthManager,
  never,
  AgentIdentityConfig | KeyStore | AssertionSigner | AgentRegistry | TaskRegistry
> = Layer.effect(AuthManager, make)
