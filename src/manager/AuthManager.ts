/**
 * AuthManager: binds the agent identity to the current ChatGPT account and user, reuses what is
 * valid, deletes and re-registers what is not, registers background tasks, and produces the
 * `Authorization` header — an AgentAssertion where one may be used, else `Bearer`. Registrations
 * run inside `KeyStore.exclusive`, so concurrent callers (fibers or processes) share one.
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { AgentRegistry } from "../services/AgentRegistry.js"
import { AssertionSigner } from "../services/AssertionSigner.js"
import { AgentIdentityConfig } from "../Domain/Settings.js"
import { formatTimestamp } from "../crypto/time.js"
import type { AuthState } from "../Domain/AuthDocument.js"
import type { TaskId } from "../Domain/Ids.js"
import {
  AgentIdentityDisabledError,
  type AuthError,
  BindingMismatchError,
  type KeyStoreError,
  LoginUnavailableError
} from "../Domain/Errors.js"
import * as Identity from "./Identity.js"
import { KeyStore } from "../services/KeyStore.js"
import { TaskRegistry } from "../services/TaskRegistry.js"

export type { AgentIdentity, AgentTask, AuthorizationHeader, Binding, Status } from "./Identity.js"
export { bindingOf } from "./Identity.js"

/** The AuthManager's operations. */
export interface Service {
  /** The binding of the current login; fails when there is no usable ChatGPT login. */
  readonly binding: Effect.Effect<Identity.Binding, LoginUnavailableError | KeyStoreError>
  /** Reuses a valid stored identity, else registers one; `reused` says which. */
  readonly ensureIdentity: Effect.Effect<Identity.AgentIdentity & { readonly reused: boolean }, AuthError>
  /** Ensures the identity, then reuses its stored background task or registers one. */
  readonly ensureTask: Effect.Effect<Identity.AgentTask & { readonly reused: boolean }, AuthError>
  /**
   * The AgentAssertion for the stored task, when the mode is enabled, the base URL's host is trusted
   * and a task is stored; None otherwise. No network I/O, no writes.
   */
  readonly authorizationHeader: Effect.Effect<Option.Option<Identity.AuthorizationHeader>, AuthError>
  /** `authorizationHeader`, falling back to `Bearer <access token>` (a failure is logged as a warning). */
  readonly authorizationHeaderOrBearer: Effect.Effect<Option.Option<Identity.AuthorizationHeader>>
  /**
   * Ensures the identity and registers a new task, returned but not stored (for callers that keep
   * their own tasks, such as per-conversation session tasks).
   */
  readonly registerTask: Effect.Effect<Identity.AgentTask, AuthError>
  /**
   * Replaces a task the backend rejected (e.g. a 401 to its AgentAssertion) with a newly registered one.
   * If the stored task is already another one (renewed meanwhile, by us or another process), that one is returned.
   */
  readonly renewTask: (rejected: Identity.AgentTask) => Effect.Effect<Identity.AgentTask & { readonly reused: boolean }, AuthError>
  /** Whether the stored identity (valid for the current binding) has the task's runtime id. */
  readonly taskMatchesCurrentIdentity: (task: Pick<Identity.AgentTask, "agentRuntimeId">) => Effect.Effect<boolean>
  /** Removes the stored identity; true when there was one. */
  readonly forget: Effect.Effect<boolean, KeyStoreError>
  /** The binding and stored identity, for display. */
  readonly status: Effect.Effect<Identity.Status, KeyStoreError>
}

/** The AuthManager service. */
export class AuthManager extends Context.Tag("effect-agent-identity/AuthManager")<AuthManager, Service>() {}

/** The AuthManager on its services. */
export const make = Effect.gen(function*() {
  const config = yield* AgentIdentityConfig
  const store = yield* KeyStore
  const agents = yield* AgentRegistry
  const tasks = yield* TaskRegistry
  const signer = yield* AssertionSigner
  const offline = yield* Identity.make

  const requireEnabled = config.mode === "enabled" ? Effect.void : Effect.fail(new AgentIdentityDisabledError())

  const accessTokenOf = (state: AuthState) =>
    state.login._tag === "ChatGpt" ? Effect.succeed(state.login.accessToken) : Effect.fail(new LoginUnavailableError({ reason: "NoLogin" }))

  /**
   * Register (or reuse) the identity; the caller holds `store.exclusive`. Returns the access token of
   * the same reading of auth.json, so a following task registration uses one auth snapshot (seed test 17).
   */
  const ensureIdentityLocked = Effect.gen(function*() {
    const state = yield* store.read
    const binding = yield* offline.bindingOf(state)
    const accessToken = yield* accessTokenOf(state)
    const found = yield* offline.classify(state, binding)
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
    const identity: Identity.AgentIdentity = {
      agentRuntimeId,
      workspaceId: binding.accountId,
      userId: binding.userId,
      registeredAt: formatTimestamp(yield* Effect.clockWith((c) => c.currentTimeMillis)),
      backgroundTaskId: Option.none(),
      key,
      publicKeySsh: key.publicKeySsh,
      source: "record"
    }
    yield* store.saveIdentity(Identity.recordOf(identity))
    yield* Effect.logInfo(`registered agent identity ${agentRuntimeId}`)
    return { identity: { ...identity, reused: false }, accessToken }
  })

  const ensureIdentity: Service["ensureIdentity"] = Effect.gen(function*() {
    yield* requireEnabled
    const fast = yield* offline.usable
    if (Option.isSome(fast)) return { ...fast.value, reused: true }
    return (yield* store.exclusive(ensureIdentityLocked)).identity
  }).pipe(Effect.withSpan("AuthManager.ensureIdentity"))

  /** Stores a task: in auth.json for a record, in the process for a JWT identity (the JWT is not ours to edit). */
  const keepTask = (identity: Identity.AgentIdentity, taskId: TaskId) =>
    identity.source === "jwt"
      ? offline.setProcessTask(identity.agentRuntimeId, taskId)
      : store.saveIdentity(Identity.recordOf({ ...identity, backgroundTaskId: Option.some(taskId) }))

  /** At most two registrations: a second one only when the identity changed under the first (D.6.4). */
  const ensureTaskLocked = Effect.gen(function*() {
    let lastRuntime: string | null = null
    let lastStored: string | null = null
    for (let attempt = 0; attempt < 2; attempt++) {
      const { accessToken, identity } = yield* ensureIdentityLocked
      if (Option.isSome(identity.backgroundTaskId)) {
        return { agentRuntimeId: identity.agentRuntimeId, taskId: identity.backgroundTaskId.value, reused: true }
      }
      const taskId = yield* tasks.register({ accessToken, identity })
      // Persist only if the stored identity is still the one the task was registered for.
      const current = yield* offline.usable
      if (Option.isSome(current) && current.value.agentRuntimeId === identity.agentRuntimeId) {
        yield* keepTask(current.value, taskId)
        yield* Effect.logInfo(`registered agent task for ${identity.agentRuntimeId}`)
        return { agentRuntimeId: identity.agentRuntimeId, taskId, reused: false }
      }
      lastRuntime = identity.agentRuntimeId
      lastStored = Option.match(current, { onNone: () => null, onSome: (c) => c.agentRuntimeId })
      yield* Effect.logDebug("agent identity changed during task registration; retrying")
    }
    return yield* new BindingMismatchError({ field: "runtime", expected: lastStored, actual: lastRuntime })
  })

  const ensureTask: Service["ensureTask"] = Effect.gen(function*() {
    yield* requireEnabled
    const fast = yield* offline.usable
    if (Option.isSome(fast) && Option.isSome(fast.value.backgroundTaskId)) {
      return { agentRuntimeId: fast.value.agentRuntimeId, taskId: fast.value.backgroundTaskId.value, reused: true }
    }
    return yield* store.exclusive(ensureTaskLocked)
  }).pipe(Effect.withSpan("AuthManager.ensureTask"))

  const registerTask: Service["registerTask"] = Effect.gen(function*() {
    yield* requireEnabled
    const { accessToken, identity } = yield* store.exclusive(ensureIdentityLocked)
    const taskId = yield* tasks.register({ accessToken, identity })
    return { agentRuntimeId: identity.agentRuntimeId, taskId }
  }).pipe(Effect.withSpan("AuthManager.registerTask"))

  const renewTask: Service["renewTask"] = (rejected) =>
    Effect.gen(function*() {
      yield* requireEnabled
      return yield* store.exclusive(Effect.gen(function*() {
        const { accessToken, identity } = yield* ensureIdentityLocked
        const stored = identity.backgroundTaskId
        if (Option.isSome(stored) && (stored.value !== rejected.taskId || identity.agentRuntimeId !== rejected.agentRuntimeId)) {
          return { agentRuntimeId: identity.agentRuntimeId, taskId: stored.value, reused: true }
        }
        const taskId = yield* tasks.register({ accessToken, identity })
        yield* keepTask(identity, taskId)
        yield* Effect.logInfo(`replaced rejected agent task ${rejected.taskId} with ${taskId}`)
        return { agentRuntimeId: identity.agentRuntimeId, taskId, reused: false }
      }))
    }).pipe(Effect.withSpan("AuthManager.renewTask"))

  const taskMatchesCurrentIdentity: Service["taskMatchesCurrentIdentity"] = (task) =>
    config.mode === "disabled"
      ? Effect.succeed(false)
      : offline.usable.pipe(
        Effect.map(Option.exists((identity) => identity.agentRuntimeId === task.agentRuntimeId)),
        Effect.orElseSucceed(() => false)
      )

  return AuthManager.of({
    binding: Effect.flatMap(store.read, offline.bindingOf),
    ensureIdentity,
    ensureTask,
    registerTask,
    renewTask,
    authorizationHeader: offline.authorizationHeader,
    authorizationHeaderOrBearer: offline.authorizationHeaderOrBearer,
    taskMatchesCurrentIdentity,
    forget: offline.forget,
    status: offline.status
  })
})

/** The AuthManager as a layer on its five services. */
export const layer: Layer.Layer<
  AuthManager,
  never,
  AgentIdentityConfig | KeyStore | AssertionSigner | AgentRegistry | TaskRegistry
> = Layer.effect(AuthManager, make)
