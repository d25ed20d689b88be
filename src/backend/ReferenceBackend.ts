/**
 * The reference backend: an HttpRouter that makes the checks the ChatGPT backend would make —
 * bearer tokens it issued; biscuits that are random, single-use and bound to the method and exact
 * URL; request-id format; body schemas; the ssh key's shape; the task signature against the
 * registered key; timestamp skew; task ids sealed to the agent's key — plus `GET /v1/whoami`
 * (AgentAssertion or Bearer). State is in memory. It also issues throwaway ChatGPT logins.
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
import { AUDIENCE, ISSUER } from "../Domain/IdentityJwt.js"
import { verifyTaskRegistration } from "../crypto/assertion.js"
import { encodeBase64Url } from "../crypto/base64.js"
import { encodePrivateKeyBase64, generateKey, parseSshPublicKey } from "../crypto/ed25519.js"
import { sealTaskId } from "../crypto/sealedBox.js"
import { isRequestId, parseTimestamp, withinSkew } from "../crypto/time.js"
import type { AuthDocument } from "../Domain/AuthDocument.js"
import { RegisterAgentRequest, RegisterTaskRequest } from "../Domain/Wire.js"
import { chatgptAuthDocument } from "../Domain/CodexLogin.js"
import * as AssertionVerifier from "./AssertionVerifier.js"

/** The endpoints, for counters and fault injection. */
export type Endpoint = "biscuit" | "register" | "task" | "whoami" | "jwks"

/** Backend options. */
export interface Options {
  /** Path prefix of every route (default `/backend-api`). */
  readonly prefix?: "" | `/${string}`
  readonly maxSkewSeconds?: number
  /** Seal task ids (default) or answer them in plain `task_id`. */
  readonly sealTaskIds?: boolean
  /** Ids for new agents and tasks (default random). */
  readonly nextRuntimeId?: () => string
  readonly nextTaskId?: () => string
  /** Answer the n-th call (from 0) of an endpoint with this response instead (it may be delayed or echo the request). */
  readonly fault?: (
    endpoint: Endpoint,
    n: number,
    request: HttpServerRequest.HttpServerRequest
  ) => Option.Option<Effect.Effect<HttpServerResponse.HttpServerResponse>>
}

interface Login {
  readonly accountId: string
  readonly userId: string
}
interface Biscuit {
  readonly method: string
  readonly url: string
  readonly login: Login
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

/** The backend's state and recorders, for tests. */
export interface Service {
  /** Issues a throwaway ChatGPT login as a Codex auth.json document. */
  readonly issueLogin: (
    options?: { readonly accountId?: string; readonly userId?: string; readonly accessToken?: string }
  ) => Effect.Effect<AuthDocument>
  /** Every request received so far. */
  readonly requests: Effect.Effect<ReadonlyArray<RecordedRequest>>
  /** Calls per endpoint so far (faulted ones included). */
  readonly calls: Effect.Effect<Readonly<Record<Endpoint, number>>>
  /** Requests that were refused, with why (for tests). */
  readonly rejections: Effect.Effect<ReadonlyArray<{ readonly endpoint: Endpoint; readonly status: number; readonly reason: string }>>
  /**
   * Issues an Agent Identity JWT (RS256, signed with the backend's key, `kid` in its JWKS) for a new
   * agent with a fresh Ed25519 key, registered here so that its assertions verify.
   */
  readonly issueIdentityJwt: (options: {
    readonly accountId: string
    readonly userId: string
    readonly ttlSeconds?: number
  }) => Effect.Effect<string>
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

const decodeRegister = Schema.decodeUnknownEither(Schema.parseJson(RegisterAgentRequest), { onExcessProperty: "error" })
const decodeTask = Schema.decodeUnknownEither(Schema.parseJson(RegisterTaskRequest), { onExcessProperty: "error" })

/** Builds the state and the router. */
export const make = (options: Options = {}) =>
  Effect.sync(() => {
    const prefix = options.prefix ?? "/backend-api"
    const maxSkew = options.maxSkewSeconds ?? 300
    const logins = new Map<string, Login>()
    const biscuits = new Map<string, Biscuit>()
    const agents = new Map<string, Agent>()
    const tasks = new Map<string, string>()
    const counts: Record<Endpoint, number> = { biscuit: 0, register: 0, task: 0, whoami: 0, jwks: 0 }
    const rejections: Array<{ endpoint: Endpoint; status: number; reason: string }> = []
    const requests: Array<RecordedRequest> = []

    const directory: AssertionVerifier.AgentDirectory = {
      publicKey: (id) => Effect.sync(() => Option.fromNullable(agents.get(id)?.publicKey)),
      taskOwner: (id) => Effect.sync(() => Option.fromNullable(tasks.get(id)))
    }
    const verifier = AssertionVerifier.make({ directory, maxSkewSeconds: maxSkew })

    const refuse = (endpoint: Endpoint, status: number, reason: string) => {
      rejections.push({ endpoint, status, reason })
      return HttpServerResponse.unsafeJson({ error: reason }, { status })
    }

    const loginOf = (authorization: string | undefined): Login | undefined =>
      authorization?.startsWith("Bearer ") ? logins.get(authorization.slice("Bearer ".length)) : undefined

    /** Counts the call and applies an injected fault, else runs the handler. */
    const endpoint = <E, R>(
      name: Endpoint,
      handler: (request: HttpServerRequest.HttpServerRequest) => Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>
    ) =>
      Effect.gen(function*() {
        const request = yield* HttpServerRequest.HttpServerRequest
        const n = counts[name]++
        const body = request.method === "POST" ? yield* Effect.orElseSucceed(request.text, () => "") : ""
        requests.push({ endpoint: name, method: request.method, url: request.originalUrl, headers: { ...request.headers }, body })
        const fault = options.fault?.(name, n, request) ?? Option.none()
        return yield* Option.isSome(fault) ? fault.value : handler(request)
      })

    /** The biscuit check of a POST: present, unused, for this method and this exact URL. */
    const spendBiscuit = (name: Endpoint, request: HttpServerRequest.HttpServerRequest): Either.Either<Biscuit, HttpServerResponse.HttpServerResponse> => {
      const value = request.headers["x-openai-authorization"]
      const biscuit = value === undefined ? undefined : biscuits.get(value)
      if (biscuit === undefined) return Either.left(refuse(name, 401, "missing or unknown biscuit"))
      if (biscuit.used) return Either.left(refuse(name, 401, "biscuit already used"))
      const url = `http://${request.headers["host"]}${request.originalUrl}`
      if (biscuit.method !== request.method || biscuit.url !== url) {
        return Either.left(refuse(name, 401, "biscuit is bound to another request"))
      }
      biscuit.used = true
      return Either.right(biscuit)
    }

    const mint = endpoint("biscuit", (request) =>
      Effect.sync(() => {
        const login = loginOf(request.headers["authorization"])
        if (login === undefined) return refuse("biscuit", 401, "invalid access token")
        if (!isRequestId(request.headers["x-request-id"] ?? "")) return refuse("biscuit", 400, "bad X-Request-Id")
        const method = request.headers["x-original-method"]
        const url = request.headers["x-original-url"] ?? ""
        if (method !== "POST") return refuse("biscuit", 400, "X-Original-Method must be POST")
        if (!/^https?:\/\/[^\s]+$/.test(url)) return refuse("biscuit", 400, "X-Original-Url must be an absolute URL")
        const value = randomId("hb_")
        biscuits.set(value, { method, url, login, used: false })
        return HttpServerResponse.empty({ status: 200, headers: { "x-openai-authorization": value } })
      }))

    const register = endpoint("register", (request) =>
      Effect.gen(function*() {
        const spent = spendBiscuit("register", request)
        if (Either.isLeft(spent)) return spent.left
        const body = decodeRegister(yield* request.text)
        if (Either.isLeft(body)) return refuse("register", 400, "body does not match the registration schema")
        const publicKey = parseSshPublicKey(body.right.agent_public_key)
        if (Either.isLeft(publicKey)) return refuse("register", 400, publicKey.left.reason)
        const id = options.nextRuntimeId?.() ?? randomId("agent_")
        agents.set(id, { publicKey: publicKey.right, login: spent.right.login })
        return HttpServerResponse.unsafeJson({ agent_runtime_id: id })
      }))

    const registerTask = endpoint("task", (request) =>
      Effect.gen(function*() {
        const spent = spendBiscuit("task", request)
        if (Either.isLeft(spent)) return spent.left
        const { id } = yield* HttpRouter.params
        const agent = id === undefined ? undefined : agents.get(id)
        if (id === undefined || agent === undefined) return refuse("task", 404, "unknown agent runtime id")
        if (agent.login.accountId !== spent.right.login.accountId) return refuse("task", 403, "agent belongs to another account")
        const body = decodeTask(yield* request.text)
        if (Either.isLeft(body)) return refuse("task", 400, "body does not match the task schema")
        const seconds = parseTimestamp(body.right.timestamp)
        if (Either.isLeft(seconds)) return refuse("task", 400, "bad timestamp")
        const now = yield* Effect.clockWith((c) => c.currentTimeMillis)
        if (!withinSkew(seconds.right, now, maxSkew)) return refuse("task", 401, "timestamp outside the skew window")
        if (!verifyTaskRegistration(agent.publicKey, id, body.right.timestamp, body.right.signature)) {
          return refuse("task", 401, "task signature does not verify")
        }
        const taskId = options.nextTaskId?.() ?? randomId("task_")
        tasks.set(taskId, id)
        return HttpServerResponse.unsafeJson(
          options.sealTaskIds === false ? { task_id: taskId } : { encrypted_task_id: sealTaskId(taskId, agent.publicKey) }
        )
      }))

    const whoami = endpoint("whoami", (request) =>
      Effect.gen(function*() {
        const authorization = request.headers["authorization"] ?? ""
        if (authorization.startsWith("AgentAssertion ")) {
          const verified = yield* Effect.either(verifier.verify(authorization))
          if (Either.isLeft(verified)) return refuse("whoami", 401, verified.left.reason)
          const agent = agents.get(verified.right.agentRuntimeId)!
          return HttpServerResponse.unsafeJson({
            scheme: "AgentAssertion",
            agent_runtime_id: verified.right.agentRuntimeId,
            task_id: verified.right.taskId,
            account_id: agent.login.accountId
          })
        }
        const login = loginOf(authorization)
        if (login === undefined) return refuse("whoami", 401, "no valid AgentAssertion or bearer token")
        return HttpServerResponse.unsafeJson({ scheme: "Bearer", account_id: login.accountId })
      }))

    const issueLogin: Service["issueLogin"] = (login = {}) =>
      Effect.sync(() => {
        const accountId = login.accountId ?? randomId("account-")
        const userId = login.userId ?? randomId("user-")
        const accessToken = login.accessToken ?? randomId("at_") + encodeBase64Url(randomBytes(12))
        logins.set(accessToken, { accountId, userId })
        return chatgptAuthDocument({ accountId, userId, accessToken, refreshToken: randomId("rt_"), lastRefresh: new Date().toISOString() })
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
        agents.set(id, { publicKey: key.publicKey, login: { accountId: options.accountId, userId: options.userId } })
        const now = Math.floor((yield* Effect.clockWith((c) => c.currentTimeMillis)) / 1000)
        return yield* Effect.promise(() =>
          new SignJWT({
            agent_runtime_id: id,
            agent_private_key: encodePrivateKeyBase64(key),
            account_id: options.accountId,
            chatgpt_user_id: options.userId,
            email: `${options.userId}@example.test`,
            plan_type: "plus",
            chatgpt_account_is_fedramp: false
          })
            .setProtectedHeader({ alg: "RS256", kid, typ: "JWT" })
            .setIssuer(ISSUER)
            .setAudience(AUDIENCE)
            .setIssuedAt(now)
            .setExpirationTime(now + (options.ttlSeconds ?? 30 * 24 * 3600))
            .sign(privateKey)
        )
      })

    const jwks = endpoint("jwks", () => Effect.map(signingKey, ({ jwk }) => HttpServerResponse.unsafeJson({ keys: [jwk] })))

    const issueIdentityRoute = Effect.gen(function*() {
      const request = yield* HttpServerRequest.HttpServerRequest
      if (!Option.exists(request.remoteAddress, isLoopbackAddress)) return HttpServerResponse.empty({ status: 403 })
      const body = yield* Effect.orElseSucceed(request.json, () => ({}))
      const { account_id, chatgpt_user_id } = body as { account_id?: unknown; chatgpt_user_id?: unknown }
      if (typeof account_id !== "string" || typeof chatgpt_user_id !== "string") {
        return HttpServerResponse.unsafeJson({ error: "account_id and chatgpt_user_id are required" }, { status: 400 })
      }
      return HttpServerResponse.unsafeJson({ jwt: yield* issueIdentityJwt({ accountId: account_id, userId: chatgpt_user_id }) })
    })

    const issueLoginRoute = Effect.gen(function*() {
      const request = yield* HttpServerRequest.HttpServerRequest
      // Throwaway logins only for callers on this machine.
      if (!Option.exists(request.remoteAddress, isLoopbackAddress)) return HttpServerResponse.empty({ status: 403 })
      return HttpServerResponse.unsafeJson(yield* issueLogin())
    })

    const router = HttpRouter.empty.pipe(
      HttpRouter.get(`${prefix}/authenticate_app_v2`, mint),
      HttpRouter.post(`${prefix}/v1/agent/register`, register),
      HttpRouter.post(`${prefix}/v1/agent/:id/task/register`, registerTask),
      HttpRouter.get(`${prefix}/v1/whoami`, whoami),
      HttpRouter.get(`${prefix}/wham/agent-identities/jwks`, jwks),
      HttpRouter.post(`${prefix}/test/login`, issueLoginRoute),
      HttpRouter.post(`${prefix}/test/agent-identity`, issueIdentityRoute)
    )

    const service: Service = {
      issueLogin,
      calls: Effect.sync(() => ({ ...counts })),
      rejections: Effect.sync(() => [...rejections]),
      requests: Effect.sync(() => [...requests]),
      issueIdentityJwt,
      revokeTask: (taskId) => Effect.sync(() => tasks.delete(taskId)),
      agentCount: Effect.sync(() => agents.size),
      taskCount: Effect.sync(() => tasks.size)
    }
    return { router, service, directory }
  })

/** The backend's state as a layer, with its router. */
export const layer = (options: Options = {}) =>
  Layer.effectContext(Effect.map(make(options), ({ service }) => Context.make(ReferenceBackend, service)))
