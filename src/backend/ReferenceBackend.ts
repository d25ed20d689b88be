/**
 * The reference backend: an HttpRouter that makes the checks the ChatGPT backend would make —
 * bearer tokens it issued; biscuits that are random, single-use, short-lived and bound to the method
 * and exact URL; request-id format; body schemas; the ssh key's shape; the task signature against the
 * registered key; timestamp skew; task ids sealed to the agent's key — plus `GET /v1/whoami`
 * (AgentAssertion or Bearer). State is in memory. It also issues throwaway ChatGPT logins.
 *
 * Reachable by anyone who can reach its port, it holds only bounded state for them: a body is
 * refused past 64 KiB before it is read (Content-Length first, the stream capped otherwise), and
 * only after the credential is checked; biscuits, throwaway logins and personal access tokens expire
 * and are capped in number; requests are recorded only when a test asks for it (`recordRequests`),
 * and then only the latest ones.
 */
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { randomBytes } from "@noble/hashes/utils.js"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { exportJWK, generateKeyPair, SignJWT } from "jose"
import { PATHS } from "../Domain/Endpoints.js"
import { AUDIENCE, ISSUER } from "../Domain/IdentityJwt.js"
import { verifyTaskRegistration } from "../crypto/assertion.js"
import { encodeBase64Url } from "../crypto/base64.js"
import { encodePrivateKeyBase64, generateKey, parseSshPublicKey } from "../crypto/ed25519.js"
import { sealTaskId } from "../crypto/sealedBox.js"
import { isRequestId, parseTimestamp, withinSkew } from "../crypto/time.js"
import type { AuthDocument } from "../Domain/AuthDocument.js"
import { RegisterAgentRequest, RegisterAgentRequestV2, RegisterTaskRequest, RegisterTaskRequestV2 } from "../Domain/Wire.js"
import { chatgptAuthDocument } from "../Domain/CodexLogin.js"
import * as AssertionVerifier from "./AssertionVerifier.js"

/**
 * The endpoints, for counters and fault injection. `register` and `task` count both generations: at the
 * ChatGPT backend with a biscuit (2026-04) and at the AuthAPI (2026-06). `credential` is the AuthAPI's
 * whoami of a personal access token.
 */
export type Endpoint = "biscuit" | "register" | "task" | "whoami" | "jwks" | "credential"

/** Backend options. */
export interface Options {
  /** Path prefix of every ChatGPT backend route (default `/backend-api`). */
  readonly prefix?: "" | `/${string}`
  /** Path prefix of the AuthAPI routes (default `/api/accounts`). */
  readonly authApiPrefix?: `/${string}`
  readonly maxSkewSeconds?: number
  /** Seal task ids (default) or answer them in plain `task_id`. */
  readonly sealTaskIds?: boolean
  /** Ids for new agents and tasks (default random). */
  readonly nextRuntimeId?: () => string
  readonly nextTaskId?: () => string
  /**
   * Keep the latest requests (headers and body: credentials included) for `requests`. Off by default:
   * tests turn it on; `true` keeps the latest 1,000, a number that many.
   */
  readonly recordRequests?: boolean | number
  /** How long a biscuit stays valid (default 300 s). */
  readonly biscuitTtlSeconds?: number
  /** How long a throwaway login or personal access token stays valid (default 24 h). */
  readonly loginTtlSeconds?: number
  /** Answer the n-th call (from 0) of an endpoint with this response instead (it may be delayed or echo the request). */
  readonly fault?: (
    endpoint: Endpoint,
    n: number,
    request: HttpServerRequest.HttpServerRequest
  ) => Option.Option<Effect.Effect<HttpServerResponse.HttpServerResponse>>
}

/** A login the backend issued, with its profile. */
interface Login {
  readonly accountId: string
  readonly userId: string
  readonly email?: string | undefined
  readonly planType: string
  readonly isFedramp: boolean
}
/** A login or personal access token as issued: valid until `expiresAt` (the backend's Clock). */
interface IssuedLogin extends Login {
  readonly expiresAt: number
}
interface Biscuit {
  readonly method: string
  readonly url: string
  readonly login: Login
  readonly expiresAt: number
  used: boolean
}
interface Agent {
  readonly publicKey: Uint8Array
  readonly login: Login
}

/** A request as the backend received it (tests only: it holds the request's credentials). */
export interface RecordedRequest {
  readonly endpoint: Endpoint
  readonly method: string
  readonly url: string
  readonly headers: Readonly<Record<string, string>>
  readonly body: string
}

/** What a test may choose of an issued login. */
export interface LoginOptions {
  readonly accountId?: string
  readonly userId?: string
  readonly accessToken?: string
  readonly email?: string
  readonly planType?: string
  readonly isFedramp?: boolean
}

/** The backend's state and recorders, for tests. */
export interface Service {
  /** Issues a throwaway ChatGPT login as a Codex auth.json document. */
  readonly issueLogin: (options?: LoginOptions) => Effect.Effect<AuthDocument>
  /** Issues a personal access token (`at-…`) for a login; the AuthAPI's whoami names its account. */
  readonly issuePersonalAccessToken: (options?: LoginOptions) => Effect.Effect<string>
  /** The latest requests received, when `recordRequests` is on (else none). */
  readonly requests: Effect.Effect<ReadonlyArray<RecordedRequest>>
  /** Calls per endpoint so far (faulted ones included). */
  readonly calls: Effect.Effect<Readonly<Record<Endpoint, number>>>
  /** The latest 1,000 requests that were refused, with why (for tests). */
  readonly rejections: Effect.Effect<ReadonlyArray<{ readonly endpoint: Endpoint; readonly status: number; readonly reason: string }>>
  /**
   * Issues an Agent Identity JWT (RS256, signed with the backend's key, `kid` in its JWKS) for a new
   * agent with a fresh Ed25519 key, registered here so that its assertions verify.
   */
  readonly issueIdentityJwt: (options: {
    readonly accountId: string
    readonly userId: string
    readonly ttlSeconds?: number
    readonly email?: string | null
    readonly planType?: string
    readonly isFedramp?: boolean
    /** For refusal tests: another issuer or audience, or no `kid` (null), still signed with the trusted key. */
    readonly issuer?: string
    readonly audience?: string
    readonly kid?: string | null
  }) => Effect.Effect<string>
  /** Registers an agent key as another client (Codex) would have, for an account; returns its runtime id. */
  readonly registerAgent: (options: { readonly publicKey: Uint8Array } & LoginOptions) => Effect.Effect<string>
  /** Revokes a task: its assertions are refused from now on. */
  readonly revokeTask: (taskId: string) => Effect.Effect<boolean>
  readonly agentCount: Effect.Effect<number>
  readonly taskCount: Effect.Effect<number>
}

/** The ReferenceBackend service. */
export class ReferenceBackend extends Context.Tag("effect-agent-identity/ReferenceBackend")<ReferenceBackend, Service>() {}

/** Whether a socket's remote address is on this machine (127.0.0.0/8 or ::1, IPv4-mapped included). */
export const isLoopbackAddress = (address: string): boolean =>
  /^(::ffff:)?127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(address) || address === "::1"

const randomId = (prefix: string) => `${prefix}${encodeBase64Url(randomBytes(12))}`

/** The largest request body read: the size the client itself accepts in an answer. */
export const MAX_REQUEST_BODY_BYTES = 64 * 1024
const MAX_REJECTIONS = 1000
const MAX_LOGINS = 1000
const MAX_BISCUITS = 10_000

/** Appends to a list that keeps only its latest `limit` items. */
const pushBounded = <A>(list: Array<A>, item: A, limit: number) => {
  list.push(item)
  if (list.length > limit) list.splice(0, list.length - limit)
}

/**
 * Drops a map's expired entries (it is in issue order, so they are at its front) and its oldest
 * beyond `limit`.
 */
const prune = <V extends { readonly expiresAt: number }>(map: Map<string, V>, now: number, limit: number) => {
  for (const [key, value] of map) {
    if (value.expiresAt >= now && map.size <= limit) break
    map.delete(key)
  }
}

const tooLarge = () =>
  HttpServerResponse.unsafeJson(
    { error: `request body larger than ${MAX_REQUEST_BODY_BYTES} bytes` },
    { status: 413, headers: { connection: "close" } }
  )

/** Whether the request declares (Content-Length) a body past the cap. */
const declaredTooLarge = (request: HttpServerRequest.HttpServerRequest) =>
  !(Number(request.headers["content-length"] ?? "0") <= MAX_REQUEST_BODY_BYTES)

/**
 * The request's body, read only up to the cap: a declared Content-Length past it is refused before
 * a byte is read, and a chunked body is cut off once it passes it. Left: the 413 to answer.
 */
export const readBody = (
  request: HttpServerRequest.HttpServerRequest
): Effect.Effect<Either.Either<string, HttpServerResponse.HttpServerResponse>> => {
  if (declaredTooLarge(request)) return Effect.succeed(Either.left(tooLarge()))
  return request.text.pipe(
    HttpServerRequest.withMaxBodySize(Option.some(MAX_REQUEST_BODY_BYTES)),
    Effect.map(Either.right),
    Effect.orElseSucceed(() => Either.left(tooLarge()))
  )
}

const decodeRegister = Schema.decodeUnknownEither(Schema.parseJson(RegisterAgentRequest), { onExcessProperty: "error" })
const decodeTask = Schema.decodeUnknownEither(Schema.parseJson(RegisterTaskRequest), { onExcessProperty: "error" })
const decodeRegisterV2 = Schema.decodeUnknownEither(Schema.parseJson(RegisterAgentRequestV2), { onExcessProperty: "error" })
const decodeTaskV2 = Schema.decodeUnknownEither(Schema.parseJson(RegisterTaskRequestV2), { onExcessProperty: "error" })

/** Keys of a JSON object text in order (to check a body's field order, which Codex fixes). */
const keysOf = (text: string): ReadonlyArray<string> => {
  try {
    const value: unknown = JSON.parse(text)
    return typeof value === "object" && value !== null ? Object.keys(value) : []
  } catch {
    return []
  }
}

/** Builds the state and the router. */
export const make = (options: Options = {}) =>
  Effect.sync(() => {
    const prefix = options.prefix ?? "/backend-api"
    const authApi = options.authApiPrefix ?? "/api/accounts"
    const maxSkew = options.maxSkewSeconds ?? 300
    const biscuitTtl = (options.biscuitTtlSeconds ?? 300) * 1000
    const loginTtl = (options.loginTtlSeconds ?? 24 * 3600) * 1000
    const recordLimit = options.recordRequests === true ? 1000 : typeof options.recordRequests === "number" ? options.recordRequests : 0
    const logins = new Map<string, IssuedLogin>()
    const personalTokens = new Map<string, IssuedLogin>()
    const biscuits = new Map<string, Biscuit>()
    const agents = new Map<string, Agent>()
    const tasks = new Map<string, string>()
    // Tasks registered at the AuthAPI (2026-06): their assertions must name the agent's account beside them.
    const currentTasks = new Set<string>()
    const counts: Record<Endpoint, number> = { biscuit: 0, register: 0, task: 0, whoami: 0, jwks: 0, credential: 0 }
    const rejections: Array<{ endpoint: Endpoint; status: number; reason: string }> = []
    const requests: Array<RecordedRequest> = []

    const directory: AssertionVerifier.AgentDirectory = {
      publicKey: (id) => Effect.sync(() => Option.fromNullable(agents.get(id)?.publicKey)),
      taskOwner: (id) => Effect.sync(() => Option.fromNullable(tasks.get(id)))
    }
    const verifier = AssertionVerifier.make({ directory, maxSkewSeconds: maxSkew })

    const refuse = (endpoint: Endpoint, status: number, reason: string) => {
      pushBounded(rejections, { endpoint, status, reason }, MAX_REJECTIONS)
      return HttpServerResponse.unsafeJson({ error: reason }, { status })
    }

    const now = Effect.clockWith((c) => c.currentTimeMillis)

    /** The unexpired login (or personal access token) a bearer credential names. */
    const bearerOf = (issued: Map<string, IssuedLogin>, authorization: string | undefined, at: number): Login | undefined => {
      const login = authorization?.startsWith("Bearer ") ? issued.get(authorization.slice("Bearer ".length)) : undefined
      return login !== undefined && at <= login.expiresAt ? login : undefined
    }
    const loginOf = (authorization: string | undefined, at: number) => bearerOf(logins, authorization, at)

    /** The refusal of a timestamp outside the window, dated by this backend's clock (the one the skew was measured on). */
    const refuseSkew = (at: number) =>
      HttpServerResponse.setHeader(refuse("task", 401, "timestamp outside the skew window"), "date", new Date(at).toUTCString())

    /** Counts the call and applies an injected fault, else runs the handler. */
    const endpoint = <E, R>(
      name: Endpoint,
      handler: (request: HttpServerRequest.HttpServerRequest) => Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>
    ) =>
      Effect.gen(function*() {
        const request = yield* HttpServerRequest.HttpServerRequest
        const n = counts[name]++
        // A declared body past the cap is refused first, before any other check and before a byte is read.
        if (declaredTooLarge(request)) return tooLarge()
        if (recordLimit > 0) {
          const body = request.method === "POST" ? Either.getOrElse(yield* readBody(request), () => "") : ""
          pushBounded(requests, { endpoint: name, method: request.method, url: request.originalUrl, headers: { ...request.headers }, body }, recordLimit)
        }
        const fault = options.fault?.(name, n, request) ?? Option.none()
        return yield* Option.isSome(fault) ? fault.value : handler(request)
      })

    /** The biscuit check of a POST: present, unexpired, unused, for this method and this exact URL. */
    const spendBiscuit = (
      name: Endpoint,
      request: HttpServerRequest.HttpServerRequest,
      at: number
    ): Either.Either<Biscuit, HttpServerResponse.HttpServerResponse> => {
      const value = request.headers["x-openai-authorization"]
      const biscuit = value === undefined ? undefined : biscuits.get(value)
      if (biscuit === undefined) return Either.left(refuse(name, 401, "missing or unknown biscuit"))
      if (biscuit.used) return Either.left(refuse(name, 401, "biscuit already used"))
      if (at > biscuit.expiresAt) return Either.left(refuse(name, 401, "biscuit expired"))
      const url = `http://${request.headers["host"]}${request.originalUrl}`
      if (biscuit.method !== request.method || biscuit.url !== url) {
        return Either.left(refuse(name, 401, "biscuit is bound to another request"))
      }
      biscuit.used = true
      return Either.right(biscuit)
    }

    const mint = endpoint("biscuit", (request) =>
      Effect.map(now, (at) => {
        const login = loginOf(request.headers["authorization"], at)
        if (login === undefined) return refuse("biscuit", 401, "invalid access token")
        if (!isRequestId(request.headers["x-request-id"] ?? "")) return refuse("biscuit", 400, "bad X-Request-Id")
        const method = request.headers["x-original-method"]
        const url = request.headers["x-original-url"] ?? ""
        if (method !== "POST") return refuse("biscuit", 400, "X-Original-Method must be POST")
        if (!/^https?:\/\/[^\s]+$/.test(url)) return refuse("biscuit", 400, "X-Original-Url must be an absolute URL")
        const value = randomId("hb_")
        prune(biscuits, at, MAX_BISCUITS - 1)
        biscuits.set(value, { method, url, login, expiresAt: at + biscuitTtl, used: false })
        return HttpServerResponse.empty({ status: 200, headers: { "x-openai-authorization": value } })
      }))

    const register = endpoint("register", (request) =>
      Effect.gen(function*() {
        const spent = spendBiscuit("register", request, yield* now)
        if (Either.isLeft(spent)) return spent.left
        const text = yield* readBody(request)
        if (Either.isLeft(text)) return text.left
        const body = decodeRegister(text.right)
        if (Either.isLeft(body)) return refuse("register", 400, "body does not match the registration schema")
        const publicKey = parseSshPublicKey(body.right.agent_public_key)
        if (Either.isLeft(publicKey)) return refuse("register", 400, publicKey.left.reason)
        const id = options.nextRuntimeId?.() ?? randomId("agent_")
        agents.set(id, { publicKey: publicKey.right, login: spent.right.login })
        return HttpServerResponse.unsafeJson({ agent_runtime_id: id })
      }))

    const registerTask = endpoint("task", (request) =>
      Effect.gen(function*() {
        const spent = spendBiscuit("task", request, yield* now)
        if (Either.isLeft(spent)) return spent.left
        const { id } = yield* HttpRouter.params
        const agent = id === undefined ? undefined : agents.get(id)
        if (id === undefined || agent === undefined) return refuse("task", 404, "unknown agent runtime id")
        if (agent.login.accountId !== spent.right.login.accountId) return refuse("task", 403, "agent belongs to another account")
        const text = yield* readBody(request)
        if (Either.isLeft(text)) return text.left
        const body = decodeTask(text.right)
        if (Either.isLeft(body)) return refuse("task", 400, "body does not match the task schema")
        return yield* acceptSignedTask(id, agent, body.right, "2026-04")
      }))

    const whoami = endpoint("whoami", (request) =>
      Effect.gen(function*() {
        const authorization = request.headers["authorization"] ?? ""
        if (authorization.startsWith("AgentAssertion ")) {
          const verified = yield* Effect.either(verifier.verify(authorization))
          if (Either.isLeft(verified)) return refuse("whoami", 401, verified.left.reason)
          const agent = agents.get(verified.right.agentRuntimeId)!
          if (currentTasks.has(verified.right.taskId)) {
            // 2026-06: the account rides beside the assertion, and a FedRAMP account says so.
            if (request.headers["chatgpt-account-id"] !== agent.login.accountId) {
              return refuse("whoami", 401, "ChatGPT-Account-ID does not name the agent's account")
            }
            if (agent.login.isFedramp && request.headers["x-openai-fedramp"] !== "true") {
              return refuse("whoami", 401, "a FedRAMP account's request lacks X-OpenAI-Fedramp")
            }
          }
          return HttpServerResponse.unsafeJson({
            scheme: "AgentAssertion",
            agent_runtime_id: verified.right.agentRuntimeId,
            task_id: verified.right.taskId,
            account_id: agent.login.accountId
          })
        }
        const login = loginOf(authorization, yield* now)
        if (login === undefined) return refuse("whoami", 401, "no valid AgentAssertion or bearer token")
        return HttpServerResponse.unsafeJson({ scheme: "Bearer", account_id: login.accountId })
      }))

    /**
     * The check both generations make of a task registration (a timestamp in the skew window, signed by the
     * agent's key), then a new task, its id sealed to that key unless told otherwise.
     */
    const acceptSignedTask = (
      id: string,
      agent: Agent,
      body: { readonly timestamp: string; readonly signature: string },
      generation: "2026-04" | "2026-06"
    ) =>
      Effect.gen(function*() {
        const seconds = parseTimestamp(body.timestamp)
        if (Either.isLeft(seconds)) return refuse("task", 400, "bad timestamp")
        const at = yield* now
        if (!withinSkew(seconds.right, at, maxSkew)) return refuseSkew(at)
        if (!verifyTaskRegistration(agent.publicKey, id, body.timestamp, body.signature)) {
          return refuse("task", 401, "task signature does not verify")
        }
        const taskId = options.nextTaskId?.() ?? randomId("task_")
        tasks.set(taskId, id)
        if (generation === "2026-06") currentTasks.add(taskId)
        return HttpServerResponse.unsafeJson(
          options.sealTaskIds === false ? { task_id: taskId } : { encrypted_task_id: sealTaskId(taskId, agent.publicKey) }
        )
      })

    /** 2026-06 agent registration at the AuthAPI: the user's Bearer token, no biscuit, Codex's body in its order. */
    const registerAtAuthApi = endpoint("register", (request) =>
      Effect.gen(function*() {
        const login = loginOf(request.headers["authorization"], yield* now)
        if (login === undefined) return refuse("register", 401, "invalid access token")
        if (request.headers["x-openai-authorization"] !== undefined) return refuse("register", 400, "the AuthAPI takes no biscuit")
        if (login.isFedramp !== (request.headers["x-openai-fedramp"] === "true")) {
          return refuse("register", 400, "X-OpenAI-Fedramp must be sent exactly for a FedRAMP account")
        }
        const read = yield* readBody(request)
        if (Either.isLeft(read)) return read.left
        const text = read.right
        const body = decodeRegisterV2(text)
        if (Either.isLeft(body)) return refuse("register", 400, "body does not match the registration schema")
        if (keysOf(text).join(",") !== "abom,agent_public_key,capabilities,ttl") return refuse("register", 400, "body fields out of order")
        if (body.right.capabilities.join(",") !== "responsesapi") return refuse("register", 400, "capabilities must be [\"responsesapi\"]")
        const publicKey = parseSshPublicKey(body.right.agent_public_key)
        if (Either.isLeft(publicKey)) return refuse("register", 400, publicKey.left.reason)
        const id = options.nextRuntimeId?.() ?? randomId("agent_")
        agents.set(id, { publicKey: publicKey.right, login })
        return HttpServerResponse.unsafeJson({ agent_runtime_id: id })
      }))

    /** 2026-06 task registration at the AuthAPI: no credentials at all; the signature is the proof. */
    const registerTaskAtAuthApi = endpoint("task", (request) =>
      Effect.gen(function*() {
        if (request.headers["authorization"] !== undefined || request.headers["x-openai-authorization"] !== undefined) {
          return refuse("task", 400, "task registration at the AuthAPI carries no credentials")
        }
        const { id } = yield* HttpRouter.params
        const agent = id === undefined ? undefined : agents.get(id)
        if (id === undefined || agent === undefined) return refuse("task", 404, "unknown agent runtime id")
        const read = yield* readBody(request)
        if (Either.isLeft(read)) return read.left
        const text = read.right
        const body = decodeTaskV2(text)
        if (Either.isLeft(body)) return refuse("task", 400, "body does not match the task schema")
        if (keysOf(text).join(",") !== "timestamp,signature") return refuse("task", 400, "body fields out of order")
        return yield* acceptSignedTask(id, agent, body.right, "2026-06")
      }))

    /** The AuthAPI's whoami of a personal access token. */
    const credentialWhoami = endpoint("credential", (request) =>
      Effect.map(now, (at) => {
        const login = bearerOf(personalTokens, request.headers["authorization"], at)
        if (login === undefined) return refuse("credential", 401, "invalid personal access token")
        return HttpServerResponse.unsafeJson({
          email: login.email ?? null,
          chatgpt_user_id: login.userId,
          chatgpt_account_id: login.accountId,
          chatgpt_plan_type: login.planType,
          chatgpt_account_is_fedramp: login.isFedramp
        })
      }))

    const profileOf = (login: LoginOptions): Login => ({
      accountId: login.accountId ?? randomId("account-"),
      userId: login.userId ?? randomId("user-"),
      email: login.email,
      planType: login.planType ?? "plus",
      isFedramp: login.isFedramp ?? false
    })

    /** Keeps an issued credential until it expires, at most MAX_LOGINS of a kind (the oldest goes first). */
    const keep = (issued: Map<string, IssuedLogin>, token: string, login: Login, at: number) => {
      prune(issued, at, MAX_LOGINS - 1)
      issued.delete(token)
      issued.set(token, { ...login, expiresAt: at + loginTtl })
    }

    const issueLogin: Service["issueLogin"] = (options = {}) =>
      Effect.map(now, (at) => {
        const login = profileOf(options)
        const accessToken = options.accessToken ?? randomId("at_") + encodeBase64Url(randomBytes(12))
        keep(logins, accessToken, login, at)
        return chatgptAuthDocument({
          ...login,
          accessToken,
          refreshToken: randomId("rt_"),
          lastRefresh: new Date().toISOString()
        })
      })

    const issuePersonalAccessToken: Service["issuePersonalAccessToken"] = (options = {}) =>
      Effect.map(now, (at) => {
        const token = `at-${encodeBase64Url(randomBytes(24))}`
        keep(personalTokens, token, profileOf(options), at)
        return token
      })

    // The identity-JWT signing key, made on first use (RSA key generation takes a moment).
    const signingKey = Effect.runSync(Effect.cached(Effect.promise(async () => {
      const { privateKey, publicKey } = await generateKeyPair("RS256", { extractable: true })
      const kid = randomId("kid_")
      return { privateKey, kid, jwk: { ...(await exportJWK(publicKey)), kid, alg: "RS256", use: "sig" } }
    })))

    const issueIdentityJwt: Service["issueIdentityJwt"] = (options) =>
      Effect.gen(function*() {
        const { kid, privateKey } = yield* signingKey
        const key = generateKey()
        const id = randomId("agent_")
        const login = profileOf({
          accountId: options.accountId,
          userId: options.userId,
          ...(options.planType === undefined ? {} : { planType: options.planType }),
          ...(options.isFedramp === undefined ? {} : { isFedramp: options.isFedramp })
        })
        agents.set(id, { publicKey: key.publicKey, login })
        const now = Math.floor((yield* Effect.clockWith((c) => c.currentTimeMillis)) / 1000)
        return yield* Effect.promise(() =>
          new SignJWT({
            agent_runtime_id: id,
            agent_private_key: encodePrivateKeyBase64(key),
            account_id: options.accountId,
            chatgpt_user_id: options.userId,
            ...(options.email === null ? {} : { email: options.email ?? `${options.userId}@example.test` }),
            plan_type: login.planType,
            chatgpt_account_is_fedramp: login.isFedramp
          })
            .setProtectedHeader(
              options.kid === null ? { alg: "RS256", typ: "JWT" } : { alg: "RS256", kid: options.kid ?? kid, typ: "JWT" }
            )
            .setIssuer(options.issuer ?? ISSUER)
            .setAudience(options.audience ?? AUDIENCE)
            .setIssuedAt(now)
            .setExpirationTime(now + (options.ttlSeconds ?? 30 * 24 * 3600))
            .sign(privateKey)
        )
      })

    const jwks = endpoint("jwks", () =>
      Effect.map(signingKey, ({ jwk }) => HttpServerResponse.unsafeJson({ keys: [jwk] }, { headers: { "cache-control": "public, max-age=300" } })))

    const issueIdentityRoute = Effect.gen(function*() {
      const request = yield* HttpServerRequest.HttpServerRequest
      if (!Option.exists(request.remoteAddress, isLoopbackAddress)) return HttpServerResponse.empty({ status: 403 })
      const text = yield* readBody(request)
      if (Either.isLeft(text)) return text.left
      let body: unknown = {}
      try {
        body = JSON.parse(text.right)
      } catch {
        // Not JSON: answered below as missing fields.
      }
      const { account_id, chatgpt_user_id } = (typeof body === "object" && body !== null ? body : {}) as {
        account_id?: unknown
        chatgpt_user_id?: unknown
      }
      if (typeof account_id !== "string" || typeof chatgpt_user_id !== "string") {
        return HttpServerResponse.unsafeJson(
          { error: "a JSON object body with account_id and chatgpt_user_id (strings) is required" },
          { status: 400 }
        )
      }
      return HttpServerResponse.unsafeJson({ jwt: yield* issueIdentityJwt({ accountId: account_id, userId: chatgpt_user_id }) })
    })

    const issuePatRoute = Effect.gen(function*() {
      const request = yield* HttpServerRequest.HttpServerRequest
      if (!Option.exists(request.remoteAddress, isLoopbackAddress)) return HttpServerResponse.empty({ status: 403 })
      return HttpServerResponse.unsafeJson({ token: yield* issuePersonalAccessToken() })
    })

    const issueLoginRoute = Effect.gen(function*() {
      const request = yield* HttpServerRequest.HttpServerRequest
      // Throwaway logins only for callers on this machine.
      if (!Option.exists(request.remoteAddress, isLoopbackAddress)) return HttpServerResponse.empty({ status: 403 })
      return HttpServerResponse.unsafeJson(yield* issueLogin())
    })

    const router = HttpRouter.empty.pipe(
      HttpRouter.get(`${prefix}${PATHS.biscuit}`, mint),
      HttpRouter.post(`${prefix}${PATHS.register}`, register),
      HttpRouter.post(`${prefix}${PATHS.task}`, registerTask),
      HttpRouter.get(`${prefix}${PATHS.whoami}`, whoami),
      HttpRouter.get(`${prefix}${PATHS.jwksBackendApi}`, jwks),
      HttpRouter.post(`${authApi}${PATHS.register}`, registerAtAuthApi),
      HttpRouter.post(`${authApi}${PATHS.task}`, registerTaskAtAuthApi),
      HttpRouter.get(`${authApi}${PATHS.credentialWhoami}`, credentialWhoami),
      HttpRouter.post(`${prefix}/test/login`, issueLoginRoute),
      HttpRouter.post(`${prefix}/test/personal-access-token`, issuePatRoute),
      HttpRouter.post(`${prefix}/test/agent-identity`, issueIdentityRoute)
    )

    const registerAgent: Service["registerAgent"] = ({ publicKey, ...login }) =>
      Effect.sync(() => {
        const id = randomId("agent_")
        agents.set(id, { publicKey, login: profileOf(login) })
        return id
      })

    const service: Service = {
      issueLogin,
      issuePersonalAccessToken,
      registerAgent,
      calls: Effect.sync(() => ({ ...counts })),
      rejections: Effect.sync(() => [...rejections]),
      requests: Effect.sync(() => [...requests]),
      issueIdentityJwt,
      // The verifier remembers verified headers: a revoked task's must be forgotten with it.
      revokeTask: (taskId) => Effect.zipLeft(Effect.sync(() => tasks.delete(taskId)), verifier.revokeTask(taskId)),
      agentCount: Effect.sync(() => agents.size),
      taskCount: Effect.sync(() => tasks.size)
    }
    return { router, service, directory }
  })

/** The backend's state as a layer, with its router. */
export const layer = (options: Options = {}) =>
  Layer.effectContext(Effect.map(make(options), ({ service }) => Context.make(ReferenceBackend, service)))
