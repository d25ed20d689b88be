/**
 * The commands that only read auth.json and sign or verify: `header`, `status`, `verify`, `forget`.
 * They load no HTTP module.
 */
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as AssertionSigner from "../services/AssertionSigner.js"
import * as Settings from "../Domain/Settings.js"
import { verifyAgentAssertion } from "../crypto/assertion.js"
import { parseSshPublicKey } from "../crypto/ed25519.js"
import { parseTimestamp, withinSkew } from "../crypto/time.js"
import { isHeaderSafeToken, isTrustedBaseUrl } from "../Domain/Endpoints.js"
import { AssertionRejectedError, LoginUnavailableError } from "../Domain/Errors.js"
import * as Identity from "../manager/Identity.js"
import * as KeyStore from "../services/KeyStore.js"
import { headerJson } from "./format.js"
import { keyStoreOf } from "./keyStore.js"
import type { Resolved } from "./settings.js"
import { note, print, warnIfExposed } from "./output.js"

/** The offline services on the file KeyStore. */
export const offlineLayer = (resolved: Resolved) =>
  Identity.layer.pipe(
    Layer.provideMerge(Layer.mergeAll(
      // A one-shot process signs once: node:crypto needs no precomputed tables (same bytes, see the tests).
      AssertionSigner.layerNodeCrypto,
      Layer.succeed(Settings.Settings, resolved.settings),
      keyStoreOf(resolved)
    ))
  )

/** The stored identity as another protocol sees it (to tell "no task" from "a task of the other protocol"). */
const statusUnder = (resolved: Resolved, protocol: Settings.Protocol) =>
  Effect.flatMap(Identity.Identity, (identity) => identity.status).pipe(
    Effect.provide(offlineLayer({ ...resolved, settings: { ...resolved.settings, protocol } }))
  )

/**
 * Why `header` chose Bearer although an identity is stored, as a note on stderr: the host is not trusted,
 * there is no task (or only one of the other protocol), or the stored identity cannot be used for this login.
 */
const explainBearer = (resolved: Resolved) =>
  Effect.gen(function*() {
    const identity = yield* Identity.Identity
    const stored = (yield* identity.status).identity
    if (Option.isNone(stored)) return
    const { baseUrl, protocol, trustedHosts } = resolved.settings
    const bearer = "Bearer, not AgentAssertion"
    if (!isTrustedBaseUrl(baseUrl, trustedHosts)) {
      const url = new URL(baseUrl)
      return yield* note(
        `${bearer}: an AgentAssertion goes only to Codex's hosts over https or to a host given with --trust-host ` +
          `(or $AGENT_IDENTITY_TRUSTED_HOSTS), and ${url.protocol}//${url.host} is neither; ` +
          `add --trust-host ${url.hostname} if this backend is yours`
      )
    }
    const agent = stored.value.agentRuntimeId
    if (Option.isNone(stored.value.taskId)) {
      const other: Settings.Protocol = protocol === "2026-04" ? "2026-06" : "2026-04"
      const elsewhere = (yield* Effect.either(statusUnder(resolved, other))).pipe(
        Either.map((s) => Option.flatMap(s.identity, (i) => i.taskId)),
        Either.getOrElse(() => Option.none())
      )
      return yield* note(
        Option.isSome(elsewhere)
          ? `${bearer}: agent ${agent} has a task of protocol ${other} only, and this run speaks ${protocol}; ` +
            `run \`agent-identity task\` to register one for ${protocol}, or pass --protocol ${other}`
          : `${bearer}: agent ${agent} has no task yet; run \`agent-identity task\` first`
      )
    }
    const signed = yield* Effect.either(identity.authorizationHeader)
    return yield* note(
      Either.isLeft(signed)
        ? `${bearer}: the stored identity cannot be used: ${signed.left.message}`
        : `${bearer}: the stored agent ${agent} was registered for another login; \`agent-identity register\` registers one for this login`
    )
  })

/** `header`: the Authorization value for a downstream request; a note on stderr when it is Bearer although an identity is stored. */
export const header = (resolved: Resolved) =>
  Effect.gen(function*() {
    yield* warnIfExposed(resolved.codexHome)
    const identity = yield* Identity.Identity
    const chosen = yield* identity.authorizationHeaderOrBearer
    if (Option.isNone(chosen)) {
      // No header at all: say why (a token no header can carry, no login, an API-key login, …).
      const state = yield* (yield* KeyStore.KeyStore).read
      const token = state.login._tag === "ChatGpt"
        ? Redacted.value(state.login.accessToken)
        : state.login._tag === "PersonalAccessToken" ? Redacted.value(state.login.token) : ""
      if (token.length > 0 && !isHeaderSafeToken(token)) return yield* new LoginUnavailableError({ reason: "MalformedToken" })
      return yield* Either.match(identity.bindingOf(state), {
        onLeft: Effect.fail,
        onRight: () => Effect.fail(new LoginUnavailableError({ reason: "MissingToken" }))
      })
    }
    const value = Redacted.value(chosen.value.value)
    // The value is printed for a script to send as a header: one no header can carry is refused, not escaped.
    if (chosen.value.scheme === "Bearer" && !isHeaderSafeToken(value.slice("Bearer ".length))) {
      return yield* new LoginUnavailableError({ reason: "MalformedToken" })
    }
    yield* print(resolved.json, headerJson(chosen.value, resolved.settings.protocol), () => [value])
    if (chosen.value.scheme === "Bearer") yield* explainBearer(resolved)
  }).pipe(Effect.provide(offlineLayer(resolved)))

/** `status`: binding, stored identity and task; never the private key. */
export const status = (resolved: Resolved) =>
  Effect.gen(function*() {
    yield* warnIfExposed(resolved.codexHome)
    const { binding, identity } = yield* (yield* Identity.Identity).status
    const bindingJson = Option.match(binding, {
      onNone: () => null,
      onSome: (b) => ({ binding_id: b.bindingId, account_id: b.accountId, user_id: Option.getOrNull(b.userId) })
    })
    const identityJson = Option.match(identity, {
      onNone: () => null,
      onSome: (i) => ({
        agent_runtime_id: i.agentRuntimeId,
        public_key: Option.getOrNull(i.publicKeySsh),
        registered_at: i.registeredAt,
        background_task_id: Option.getOrNull(i.taskId),
        task_id: Option.getOrNull(i.taskId)
      })
    })
    yield* print(resolved.json, { binding: bindingJson, identity: identityJson }, () => [
      `auth.json: ${resolved.codexHome}/auth.json`,
      `binding: ${bindingJson === null ? "none (no usable ChatGPT login)" : `${bindingJson.binding_id} (user ${bindingJson.user_id ?? "any"})`}`,
      ...(identityJson === null ? ["identity: none"] : [
        `identity: ${identityJson.agent_runtime_id}`,
        `public key: ${identityJson.public_key ?? "(stored key is invalid)"}`,
        `registered at: ${identityJson.registered_at}`,
        `${resolved.settings.protocol === "2026-04" ? "background task" : "task"}: ${identityJson.background_task_id ?? "none"}`
      ])
    ])
  }).pipe(Effect.provide(offlineLayer(resolved)))

/** `forget`: removes the stored identity, nothing else. */
export const forget = (resolved: Resolved) =>
  Effect.gen(function*() {
    yield* warnIfExposed(resolved.codexHome)
    const removed = yield* (yield* Identity.Identity).forget
    yield* print(resolved.json, { removed }, () => [removed ? "removed the stored agent identity" : "no stored agent identity"])
  }).pipe(Effect.provide(offlineLayer(resolved)))

/** `verify`: an offline check of an AgentAssertion against a public key and the skew window. */
export const verify = (resolved: Resolved, input: { readonly header: string; readonly publicKey: string; readonly maxSkewSeconds: number }) =>
  Effect.gen(function*() {
    const now = yield* Effect.clockWith((clock) => clock.currentTimeMillis)
    const publicKey = parseSshPublicKey(input.publicKey)
    const result = Either.flatMap(
      Either.mapLeft(publicKey, (f) => f.reason),
      (key) =>
        Either.flatMap(Either.mapLeft(verifyAgentAssertion(input.header, key), (f) => f.reason), (claims) => {
          const seconds = Either.getOrThrow(parseTimestamp(claims.timestamp))
          return withinSkew(seconds, now, input.maxSkewSeconds)
            ? Either.right(claims)
            : Either.left(`timestamp ${claims.timestamp} is more than ${input.maxSkewSeconds} s from now`)
        })
    )
    const claims = Either.getRight(result)
    yield* print(resolved.json, {
      valid: Either.isRight(result),
      agent_runtime_id: Option.match(claims, { onNone: () => null, onSome: (c) => c.agentRuntimeId }),
      task_id: Option.match(claims, { onNone: () => null, onSome: (c) => c.taskId }),
      timestamp: Option.match(claims, { onNone: () => null, onSome: (c) => c.timestamp })
    }, () =>
      Option.match(claims, {
        onNone: () => ["invalid AgentAssertion"],
        onSome: (c) => [`valid AgentAssertion: agent ${c.agentRuntimeId}, task ${c.taskId}, at ${c.timestamp}`]
      }))
    if (Either.isLeft(result)) return yield* new AssertionRejectedError({ reason: result.left })
  })
