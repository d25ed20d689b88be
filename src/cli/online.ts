/**
 * The commands that talk to a backend: `register`, `task`, and the embedded reference backend's
 * `serve` and `demo`. Imported on demand, so the offline commands never load the HTTP stack.
 */
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as AgentIdentityJwt from "../services/AgentIdentityJwt.js"
import { AuthManager } from "../manager/AuthManager.js"
import { start } from "../backend/server.js"
import * as Settings from "../Domain/Settings.js"
import { verifyAgentAssertion } from "../crypto/assertion.js"
import { sshFingerprint } from "../crypto/ed25519.js"
import { formatAuthDocument } from "../Domain/AuthDocument.js"
import { AssertionRejectedError } from "../Domain/Errors.js"
import { whoamiUrl } from "../Domain/Endpoints.js"
import * as HttpMiddleware from "../http/middleware.js"
import * as KeyStore from "../services/KeyStore.js"
import * as Layers from "../manager/Layers.js"
import type { Resolved } from "./global.js"
import { print } from "./output.js"

/** The AuthManager on auth.json in `codexHome`, over node's HTTP client. */
const onlineLayer = (resolved: Pick<Resolved, "codexHome" | "settings">) =>
  Layers.authManager.pipe(
    Layer.provideMerge(Layer.mergeAll(
      Layer.succeed(Settings.AgentIdentityConfig, resolved.settings),
      KeyStore.layerFile({ codexHome: resolved.codexHome }).pipe(Layer.provide(NodeFileSystem.layer)),
      NodeHttpClient.layer
    ))
  )

/** `register`: reuse a valid stored identity, else register one. */
export const register = (resolved: Resolved) =>
  Effect.gen(function*() {
    const identity = yield* (yield* AuthManager).ensureIdentity
    yield* print(resolved.json, {
      agent_runtime_id: identity.agentRuntimeId,
      public_key: identity.publicKeySsh,
      reused: identity.reused
    }, () => [
      `${identity.reused ? "reusing" : "registered"} agent ${identity.agentRuntimeId}`,
      `public key: ${identity.publicKeySsh}`
    ])
  }).pipe(Effect.provide(onlineLayer(resolved)))

/** `task`: ensure the identity, then reuse its background task or register one. */
export const task = (resolved: Resolved) =>
  Effect.gen(function*() {
    const registered = yield* (yield* AuthManager).ensureTask
    yield* print(resolved.json, {
      agent_runtime_id: registered.agentRuntimeId,
      task_id: registered.taskId,
      reused: registered.reused
    }, () => [`${registered.reused ? "reusing" : "registered"} task ${registered.taskId} for agent ${registered.agentRuntimeId}`])
  }).pipe(Effect.provide(onlineLayer(resolved)))

/** `import-jwt`: verify an Agent Identity JWT against the backend's JWKS, then store it in auth.json. */
export const importJwt = (resolved: Resolved, input: string) =>
  Effect.gen(function*() {
    const jwt = Redacted.make((input === "-" ? fs.readFileSync(0, "utf8") : input).trim())
    const claims = yield* (yield* AgentIdentityJwt.AgentIdentityJwt).verify(jwt)
    yield* (yield* KeyStore.KeyStore).saveIdentityJwt(jwt)
    yield* print(resolved.json, { agent_runtime_id: claims.agent_runtime_id, account_id: claims.account_id, stored: true }, () => [
      `stored the Agent Identity JWT for agent ${claims.agent_runtime_id} (account ${claims.account_id}) in ${resolved.codexHome}/auth.json`
    ])
  }).pipe(
    Effect.provide(Layer.mergeAll(
      AgentIdentityJwt.layer.pipe(Layer.provide(NodeHttpClient.layer)),
      KeyStore.layerFile({ codexHome: resolved.codexHome }).pipe(Layer.provide(NodeFileSystem.layer))
    )),
    Effect.provide(Layer.succeed(Settings.AgentIdentityConfig, resolved.settings))
  )

/** `serve`: the reference backend until interrupted. */
export const serve = (resolved: Resolved, options: { readonly host: string; readonly port: number }) =>
  Effect.gen(function*() {
    const { baseUrl } = yield* start({ host: options.host, port: options.port })
    yield* print(resolved.json, { base_url: baseUrl }, () => [
      `reference backend listening on ${baseUrl}`,
      `throwaway ChatGPT login: POST ${baseUrl}/test/login (answers an auth.json document)`
    ])
    return yield* Effect.never
  }).pipe(Effect.scoped)

/** A throwaway CODEX_HOME, removed with the scope. */
const tempCodexHome = Effect.acquireRelease(
  Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "agent-identity-demo-"))),
  (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
)

/** `demo`: the whole flow against the embedded backend on 127.0.0.1, one line per step. */
export const demo = (resolved: Pick<Resolved, "json">) =>
  Effect.gen(function*() {
    const lines: Array<string> = []
    const step = (text: string) => resolved.json ? Effect.sync(() => lines.push(text)) : Console.log(text)

    const { backend, baseUrl } = yield* start({ host: "127.0.0.1", port: 0 })
    yield* step(`1. reference backend listening on ${baseUrl}`)
    const codexHome = yield* tempCodexHome
    const login = yield* backend.issueLogin()
    const tokens = login["tokens"] as { readonly account_id: string }
    fs.writeFileSync(path.join(codexHome, "auth.json"), formatAuthDocument(login), { mode: 0o600 })
    yield* step(`2. throwaway ChatGPT login for ${tokens.account_id} written to ${codexHome}/auth.json`)

    const settings = Settings.make({ baseUrl, trustedHosts: ["127.0.0.1"] })
    const result = yield* Effect.gen(function*() {
      const auth = yield* AuthManager
      const identity = yield* auth.ensureIdentity
      yield* step(`3. registered agent ${identity.agentRuntimeId} (${sshFingerprint(identity.key.publicKey)})`)
      const registered = yield* auth.ensureTask
      yield* step(`4. registered task ${registered.taskId} (sealed to the agent's key, opened here)`)
      const header = yield* auth.authorizationHeader
      if (Option.isNone(header)) return yield* new AssertionRejectedError({ reason: "no AgentAssertion was produced" })
      const value = Redacted.value(header.value.value)
      yield* step(`5. signed header: ${value.slice(0, 40)}… (${value.length} characters)`)
      const whoami = yield* Effect.gen(function*() {
        const client = yield* HttpClient.HttpClient
        const response = yield* client.execute(HttpClientRequest.get(whoamiUrl(baseUrl)))
        return { status: response.status, body: (yield* response.json) as Record<string, unknown> }
      }).pipe(Effect.provide(HttpMiddleware.layer()), Effect.orDie)
      if (whoami.status !== 200 || whoami.body["scheme"] !== "AgentAssertion") {
        return yield* new AssertionRejectedError({ reason: `the backend answered ${whoami.status} to the AgentAssertion` })
      }
      yield* step(`6. GET /v1/whoami with it: ${whoami.status}, ${JSON.stringify(whoami.body)}`)
      const verified = verifyAgentAssertion(value, identity.key.publicKey)
      if (Either.isLeft(verified)) return yield* new AssertionRejectedError({ reason: verified.left.reason })
      yield* step(`7. verified offline against ${identity.publicKeySsh.slice(0, 32)}…: valid for task ${verified.right.taskId}`)
      return { agent_runtime_id: identity.agentRuntimeId, task_id: registered.taskId, whoami: whoami.body }
    }).pipe(Effect.provide(onlineLayer({ codexHome, settings })))
    yield* step("done: register -> task -> header -> request -> verify all succeeded")
    if (resolved.json) yield* Console.log(JSON.stringify({ ok: true, ...result, steps: lines }))
  }).pipe(Effect.scoped)
