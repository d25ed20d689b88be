/**
 * The commands that talk to a backend: `register`, `task`, `login`, `import-jwt`, and the embedded
 * reference backend's `serve` and `demo`. Imported on demand, so the offline commands never load the
 * HTTP stack.
 */
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as Config from "effect/Config"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { isLoopbackAddress } from "../backend/ReferenceBackend.js"
import { start } from "../backend/server.js"
import { verifyAgentAssertion } from "../crypto/assertion.js"
import { sshFingerprint } from "../crypto/ed25519.js"
import { agentIdentityLoginDocument, formatAuthDocument, isPersonalAccessToken } from "../Domain/AuthDocument.js"
import { isHeaderSafeToken, whoamiUrl } from "../Domain/Endpoints.js"
import { AgentIdentityJwtError, AssertionRejectedError, LoginUnavailableError } from "../Domain/Errors.js"
import { UsageError } from "./usage.js"
import * as Settings from "../Domain/Settings.js"
import { escapeControls, toSafeJson } from "../Domain/Text.js"
import * as HttpMiddleware from "../http/middleware.js"
import { AuthManager } from "../manager/AuthManager.js"
import * as Layers from "../manager/Layers.js"
import * as AgentIdentityJwt from "../services/AgentIdentityJwt.js"
import * as KeyStore from "../services/KeyStore.js"
import * as PersonalAccessToken from "../services/PersonalAccessToken.js"
import { ListenError, listenReason } from "./errors.js"
import { print, warn, warnIfExposed } from "./output.js"
import { keyStoreOf } from "./keyStore.js"
import type { Resolved } from "./settings.js"
import { PROGRAM } from "./spec.js"

type Context = Pick<Resolved, "codexHome" | "settings" | "accessToken"> & { readonly store?: Resolved["store"] }

/** The file KeyStore of a CODEX_HOME; `CODEX_ACCESS_TOKEN` wins over its login. */
const keyStoreLayer = (resolved: Context) => keyStoreOf(resolved)

/** The AuthManager on auth.json in `codexHome`, over node's HTTP client. */
const onlineLayer = (resolved: Context) =>
  Layers.authManager.pipe(
    Layer.provideMerge(Layer.mergeAll(Layer.succeed(Settings.Settings, resolved.settings), keyStoreLayer(resolved), NodeHttpClient.layer))
  )

/** `register`: reuse a valid stored identity, else register one. */
export const register = (resolved: Resolved) =>
  Effect.gen(function*() {
    yield* warnIfExposed(resolved.codexHome)
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

/** `task`: ensure the identity, then reuse its task or register one. */
export const task = (resolved: Resolved) =>
  Effect.gen(function*() {
    yield* warnIfExposed(resolved.codexHome)
    const registered = yield* (yield* AuthManager).ensureTask
    yield* print(resolved.json, {
      agent_runtime_id: registered.agentRuntimeId,
      task_id: registered.taskId,
      reused: registered.reused
    }, () => [`${registered.reused ? "reusing" : "registered"} task ${registered.taskId} for agent ${registered.agentRuntimeId}`])
  }).pipe(Effect.provide(onlineLayer(resolved)))

/** The most of stdin read for a secret: far more than any token. */
const MAX_SECRET_BYTES = 64 * 1024

/** Reads stdin to its end, stopping once past `max` bytes. */
const readStdin = (max: number): Buffer => {
  const chunks: Array<Buffer> = []
  let total = 0
  const buffer = Buffer.alloc(64 * 1024)
  while (total <= max) {
    let read: number
    try {
      read = fs.readSync(0, buffer, 0, buffer.length, null)
    } catch (error) {
      const code = (error as { code?: string }).code
      if (code === "EAGAIN") continue
      if (code === "EOF") break
      throw error
    }
    if (read === 0) break
    chunks.push(Buffer.from(buffer.subarray(0, read)))
    total += read
  }
  return Buffer.concat(chunks)
}

/** Reads one secret from stdin: trimmed, at most 64 KiB, never from argv (visible to every user in `ps`). */
const readSecretFromStdin = Effect.gen(function*() {
  const bytes = yield* Effect.try({
    try: () => readStdin(MAX_SECRET_BYTES),
    catch: () => new AgentIdentityJwtError({ reason: "could not read the token from stdin" })
  })
  if (bytes.length > MAX_SECRET_BYTES) return yield* new AgentIdentityJwtError({ reason: `the token on stdin is larger than ${MAX_SECRET_BYTES} bytes` })
  return Redacted.make(bytes.toString("utf8").trim())
})

/**
 * The JWT `import-jwt` stores: from stdin (`-`, or no argument) or $AGENT_IDENTITY_JWT, never from
 * argv, where `/proc/<pid>/cmdline` and `ps` show it (with the private key it carries) to every user.
 */
const jwtInput = (argument: Option.Option<string>) =>
  Effect.gen(function*() {
    if (Option.isSome(argument) && argument.value !== "-") {
      return yield* Effect.fail(new UsageError({
        reason: "import-jwt takes the JWT on stdin or in $AGENT_IDENTITY_JWT, not as an argument (`ps` shows arguments to every user): " +
          "pipe it in, as in `agent-identity import-jwt < jwt.txt` (or `-` as the last argument)"
      }))
    }
    const fromEnv = Option.isNone(argument) ? yield* Config.option(Config.redacted("AGENT_IDENTITY_JWT")) : Option.none()
    if (Option.isSome(fromEnv)) return Redacted.make(Redacted.value(fromEnv.value).trim())
    return yield* readSecretFromStdin
  }).pipe(Effect.catchTag("ConfigError", () => Effect.fail(new UsageError({ reason: "$AGENT_IDENTITY_JWT cannot be read" }))))

/** `import-jwt`: verify an Agent Identity JWT against the backend's JWKS, then store it in auth.json's `agent_identity`. */
export const importJwt = (resolved: Resolved, argument: Option.Option<string>) =>
  Effect.gen(function*() {
    const jwt = yield* jwtInput(argument)
    yield* warnIfExposed(resolved.codexHome)
    const claims = yield* (yield* AgentIdentityJwt.AgentIdentityJwt).verify(jwt)
    yield* (yield* KeyStore.KeyStore).saveIdentityJwt(jwt)
    yield* print(resolved.json, { agent_runtime_id: claims.agent_runtime_id, account_id: claims.account_id, stored: true }, () => [
      `stored the Agent Identity JWT for agent ${claims.agent_runtime_id} (account ${claims.account_id}) in ${resolved.codexHome}/auth.json`
    ])
  }).pipe(
    Effect.provide(Layer.mergeAll(AgentIdentityJwt.layer.pipe(Layer.provide(NodeHttpClient.layer)), keyStoreLayer(resolved))),
    Effect.provide(Layer.succeed(Settings.Settings, resolved.settings))
  )

/**
 * Stores an access token as `codex login --with-access-token` does. An Agent Identity JWT is verified
 * against the JWKS and written as Codex writes it; a personal access token (`at-…`) is checked with the
 * AuthAPI's whoami and written as Codex writes it (no `auth_mode`). A token that fails writes nothing.
 */
const storeAccessToken = (context: Context, token: Redacted.Redacted<string>) =>
  Effect.gen(function*() {
    const store = yield* KeyStore.KeyStore
    if (Redacted.value(token).length === 0) return yield* new AgentIdentityJwtError({ reason: "no access token on stdin" })
    // Sent as a header (a personal access token) or stored for Codex to send: one no header can carry is refused.
    if (!isHeaderSafeToken(Redacted.value(token))) return yield* new LoginUnavailableError({ reason: "MalformedToken" })
    if (isPersonalAccessToken(Redacted.value(token))) {
      const who = yield* (yield* PersonalAccessToken.PersonalAccessToken).whoami(token)
      yield* store.saveLogin({ OPENAI_API_KEY: null, personal_access_token: Redacted.value(token) })
      return { auth_mode: "personalAccessToken", agent_runtime_id: null, account_id: who.chatgpt_account_id } as const
    }
    const claims = yield* (yield* AgentIdentityJwt.AgentIdentityJwt).verify(token)
    yield* store.saveLogin(agentIdentityLoginDocument(token))
    return { auth_mode: "agentIdentity", agent_runtime_id: claims.agent_runtime_id, account_id: claims.account_id } as const
  }).pipe(
    Effect.provide(Layer.mergeAll(
      Layer.merge(AgentIdentityJwt.layer, PersonalAccessToken.layer).pipe(Layer.provide(NodeHttpClient.layer)),
      KeyStore.layerFile({ codexHome: context.codexHome }).pipe(Layer.provide(NodeFileSystem.layer))
    )),
    Effect.provide(Layer.succeed(Settings.Settings, context.settings))
  )

/** `login --with-access-token`: one token from stdin (never argv: visible to every user in `ps`). */
export const login = (resolved: Resolved, token: Redacted.Redacted<string>) =>
  Effect.flatMap(storeAccessToken(resolved, token), (stored) =>
    print(resolved.json, stored, () => [
      stored.auth_mode === "agentIdentity"
        ? `logged in as agent ${stored.agent_runtime_id} (account ${stored.account_id}); stored in ${resolved.codexHome}/auth.json as Codex stores it`
        : `logged in with a personal access token for account ${stored.account_id} (a Bearer login: it has no agent identity)`
    ]))

/** `login` with the token read from stdin. */
export const loginFromStdin = (resolved: Resolved) => Effect.flatMap(readSecretFromStdin, (token) => login(resolved, token))

/** A word for the shell, quoted when it needs to be. */
const shellWord = (text: string) => /^[\w@%+=:,./-]+$/.test(text) ? text : `'${text.replace(/'/g, "'\\''")}'`

/** How to run this program from another terminal: its name when installed on PATH, else its path. */
const invocation = (): string => {
  const script = process.argv[1] ?? PROGRAM
  if (path.basename(script) === PROGRAM) {
    const dir = path.dirname(path.resolve(script))
    const onPath = (process.env["PATH"] ?? "").split(path.delimiter).some((d) => d.length > 0 && path.resolve(d) === dir)
    return onPath ? PROGRAM : shellWord(path.resolve(script))
  }
  return `node ${shellWord(path.resolve(script))}`
}


/** Whether a host to listen on is on this machine only: a loopback address or `localhost`. */
export const isLoopbackHost = (host: string): boolean => {
  const bare = host.trim().toLowerCase().replace(/^\[(.*)\]$/, "$1")
  return bare === "localhost" || isLoopbackAddress(bare)
}

/** An address a client on this machine can reach a server on `host` at. */
const reachableHost = (host: string) => host === "0.0.0.0" ? "127.0.0.1" : host === "::" || host === "[::]" ? "::1" : host

/**
 * `serve`: the reference backend until interrupted. After its URLs, the commands that get a working
 * header against it from another terminal: a throwaway login into a new CODEX_HOME, `task`, then `header`
 * with the trust its host needs (it is not one of Codex's).
 */
export const serve = (resolved: Pick<Resolved, "json" | "settings">, options: { readonly host: string; readonly port: number }) =>
  Effect.gen(function*() {
    if (!isLoopbackHost(options.host)) {
      yield* warn(
        `serve listens on ${options.host}, beyond loopback: anyone who can reach this port can use this reference backend, ` +
          "which is for tests (its throwaway logins answer only callers on this machine)"
      )
    }
    const started = yield* start({ host: options.host, port: options.port }).pipe(
      Effect.catchTag("ServeError", (error) => Effect.fail(new ListenError({ host: options.host, port: options.port, reason: listenReason(error.cause) })))
    )
    const protocol = resolved.settings.protocol
    // A server on every address is reached on loopback (the throwaway logins answer only callers on this machine).
    const reachable = reachableHost(options.host)
    const local = (url: string) =>
      reachable === options.host ? url : url.replace(`//${options.host.includes(":") ? `[${options.host}]` : options.host}:`, `//${reachable.includes(":") ? `[${reachable}]` : reachable}:`)
    const baseUrl = local(started.baseUrl)
    const authApi = local(started.authApiBaseUrl)
    const trusted = new URL(baseUrl).hostname
    const program = invocation()
    const environment = [
      `CODEX_HOME="$(mktemp -d)"`,
      `CHATGPT_BASE_URL=${baseUrl}`,
      ...(protocol === "2026-06" ? [`CODEX_AGENT_IDENTITY_AUTHAPI_BASE_URL=${authApi}`] : []),
      ...(protocol === Settings.DEFAULT_PROTOCOL ? [] : [`AGENT_IDENTITY_PROTOCOL=${protocol}`])
    ]
    yield* print(resolved.json, { base_url: started.baseUrl, authapi_base_url: started.authApiBaseUrl }, () => [
      `reference backend listening on ${started.baseUrl}`,
      `its AuthAPI (protocol 2026-06): ${started.authApiBaseUrl}`,
      "",
      `To get a working header, paste these into another terminal: a throwaway ChatGPT login from this backend`,
      `into a new CODEX_HOME, then \`task\` registers an agent and its task (protocol ${protocol}), then \`header\``,
      `signs a request header (${trusted} is not one of Codex's hosts, so it is trusted explicitly)` +
        (protocol === "2026-04" ? ":" : ";"),
      ...(protocol === "2026-04" ? [] : ["with --json it prints every header to send: the account rides beside the assertion."]),
      "",
      ...environment.map((assignment) => `  export ${assignment}`),
      `  curl -fsS -X POST "$CHATGPT_BASE_URL/test/login" -o "$CODEX_HOME/auth.json" && chmod 600 "$CODEX_HOME/auth.json"`,
      `  ${program} task`,
      `  ${program} header${protocol === "2026-04" ? "" : " --json"} --trust-host ${trusted}`,
      "",
      "Other throwaway credentials, for callers on this machine:",
      `  POST ${started.baseUrl}/test/agent-identity {"account_id":"…","chatgpt_user_id":"…"} answers {"jwt"}, for \`login --with-access-token\``,
      `  POST ${started.baseUrl}/test/personal-access-token answers {"token"}`,
      "Stop it with Ctrl-C."
    ])
    return yield* Effect.never
  }).pipe(Effect.scoped)

/** A throwaway CODEX_HOME, removed with the scope. */
const tempCodexHome = Effect.acquireRelease(
  Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "agent-identity-demo-"))),
  (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
)

/** One authorized `GET /v1/whoami` through the scoped middleware, as an application would send it. */
const askWhoami = (baseUrl: string) =>
  Effect.gen(function*() {
    const client = yield* HttpMiddleware.BackendClient
    const response = yield* client.execute(HttpClientRequest.get(whoamiUrl(baseUrl)))
    return { status: response.status, body: (yield* response.json) as Record<string, unknown> }
  }).pipe(Effect.provide(HttpMiddleware.layer()), Effect.orDie)

/**
 * `demo`: the whole flow against the embedded backend on 127.0.0.1, one line per step saying what it is
 * for: a ChatGPT login registers an agent and a task, signs a request and has it accepted; under 2026-06
 * an access-token login (no ChatGPT login at all) does the same.
 */
export const demo = (resolved: Pick<Resolved, "json" | "settings">) =>
  Effect.gen(function*() {
    const lines: Array<string> = []
    const step = (text: string) => resolved.json ? Effect.sync(() => lines.push(text)) : Console.log(escapeControls(text))
    const protocol = resolved.settings.protocol

    const { authApiBaseUrl, backend, baseUrl } = yield* start({ host: "127.0.0.1", port: 0 })
    yield* step(`1. A stand-in for the ChatGPT backend is listening on ${baseUrl} (protocol ${protocol}).`)
    const codexHome = yield* tempCodexHome
    const login = yield* backend.issueLogin()
    const tokens = login["tokens"] as { readonly account_id: string }
    fs.writeFileSync(path.join(codexHome, "auth.json"), formatAuthDocument(login), { mode: 0o600 })
    yield* step(`2. A throwaway ChatGPT login for ${tokens.account_id} is written to ${codexHome}/auth.json, as \`codex login\` would.`)

    const settings = yield* Settings.resolve({ baseUrl, authApiBaseUrl, trustedHosts: ["127.0.0.1"], protocol })
    const context = { codexHome, settings, accessToken: Option.none() }
    const result = yield* Effect.gen(function*() {
      const auth = yield* AuthManager
      const identity = yield* auth.ensureIdentity
      yield* step(`3. The agent made a key pair and registered its public key: it is agent ${identity.agentRuntimeId} (${sshFingerprint(identity.key.publicKey)}).`)
      const registered = yield* auth.ensureTask
      yield* step(`4. It registered a task, ${registered.taskId}; the backend sent the id encrypted to the agent's key, and only the agent could read it.`)
      const header = yield* auth.authorizationHeader
      if (Option.isNone(header)) return yield* new AssertionRejectedError({ reason: "no AgentAssertion was produced" })
      const value = Redacted.value(header.value.value)
      yield* step(`5. For each request it signs a fresh header with that key: ${value.slice(0, 40)}… (${value.length} characters).`)
      const whoami = yield* askWhoami(baseUrl)
      if (whoami.status !== 200 || whoami.body["scheme"] !== "AgentAssertion") {
        return yield* new AssertionRejectedError({ reason: `the backend answered ${whoami.status} to the AgentAssertion` })
      }
      yield* step(`6. A request carrying it is accepted: GET /v1/whoami answered ${whoami.status}, ${JSON.stringify(whoami.body)}.`)
      const verified = verifyAgentAssertion(value, identity.key.publicKey)
      if (Either.isLeft(verified)) return yield* new AssertionRejectedError({ reason: verified.left.reason })
      yield* step(`7. Anyone with the public key can check such a header without the backend: valid for task ${verified.right.taskId}.`)
      return { agent_runtime_id: identity.agentRuntimeId, task_id: registered.taskId, whoami: whoami.body }
    }).pipe(Effect.provide(onlineLayer(context)))

    if (protocol === "2026-06") {
      const tokenHome = yield* tempCodexHome
      const jwt = Redacted.make(yield* backend.issueIdentityJwt({ accountId: tokens.account_id, userId: "user-demo" }))
      yield* storeAccessToken({ codexHome: tokenHome, settings, accessToken: Option.none() }, jwt)
      yield* step(`8. An access token from an admin console is an identity of its own: \`login --with-access-token\` checked it and stored it in ${tokenHome}/auth.json.`)
      const viaToken = yield* Effect.gen(function*() {
        const auth = yield* AuthManager
        const registered = yield* auth.ensureTask
        const whoami = yield* askWhoami(baseUrl)
        if (whoami.status !== 200) return yield* new AssertionRejectedError({ reason: `the backend answered ${whoami.status}` })
        return { registered, whoami }
      }).pipe(Effect.provide(onlineLayer({ codexHome: tokenHome, settings, accessToken: Option.none() })))
      yield* step(`9. With no ChatGPT login at all, it registered task ${viaToken.registered.taskId} and its request was accepted as agent ${String(viaToken.whoami.body["agent_runtime_id"])}.`)
    }
    yield* step(`done. Next: \`${PROGRAM} serve\` starts this backend and prints the three commands that do the same by hand; ` +
      `\`${PROGRAM} --help\` lists every command.`)
    if (resolved.json) yield* Console.log(toSafeJson({ ok: true, ...result, steps: lines }))
  }).pipe(Effect.scoped)
