/** The reference backend refuses what the real one would, and the AssertionVerifier guard. */
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServer from "@effect/platform/HttpServer"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as TestClock from "effect/TestClock"
import { createServer } from "node:http"
import * as AssertionVerifier from "../../src/backend/AssertionVerifier.js"
import * as ReferenceBackend from "../../src/backend/ReferenceBackend.js"
import { isLoopbackAddress } from "../../src/backend/ReferenceBackend.js"
import { start } from "../../src/backend/server.js"
import * as C from "../../src/crypto/index.js"

const post = (url: string, headers: Record<string, string>, body: unknown) =>
  Effect.promise(() => fetch(url, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(body) }))
const mint = (baseUrl: string, token: string, target: string, requestId = C.newRequestId()) =>
  Effect.promise(() =>
    fetch(`${baseUrl}/authenticate_app_v2`, {
      headers: { authorization: `Bearer ${token}`, "x-request-id": requestId, "x-original-method": "POST", "x-original-url": target }
    })
  )

describe("reference backend", () => {
  it.live("biscuits: minted only for its logins and valid request ids; single use; bound to the exact URL", () =>
    Effect.gen(function*() {
      const { backend, baseUrl } = yield* start()
      const doc = yield* backend.issueLogin()
      const token = (doc["tokens"] as { access_token: string }).access_token
      const registerUrl = `${baseUrl}/v1/agent/register`
      const key = C.keyFromSeed(new Uint8Array(32).fill(3))
      const body = {
        abom: { agent_version: "1", agent_harness_id: "codex-cli", running_location: "cli-linux" },
        agent_public_key: C.encodeSshPublicKey(key.publicKey),
        capabilities: []
      }
      expect((yield* mint(baseUrl, "not-a-token", registerUrl)).status).toBe(401)
      expect((yield* mint(baseUrl, token, registerUrl, "codex-agent-identity-short")).status).toBe(400)

      const forOther = (yield* mint(baseUrl, token, `${baseUrl}/v1/agent/register?x=1`)).headers.get("x-openai-authorization")!
      expect((yield* post(registerUrl, { "x-openai-authorization": forOther }, body)).status).toBe(401)

      const biscuit = (yield* mint(baseUrl, token, registerUrl)).headers.get("x-openai-authorization")!
      expect(biscuit).toMatch(/^hb_/)
      const ok = yield* post(registerUrl, { "x-openai-authorization": biscuit }, body)
      expect(ok.status).toBe(200)
      expect((yield* post(registerUrl, { "x-openai-authorization": biscuit }, body)).status).toBe(401)

      const withExtra = (yield* mint(baseUrl, token, registerUrl)).headers.get("x-openai-authorization")!
      expect((yield* post(registerUrl, { "x-openai-authorization": withExtra }, { ...body, extra: 1 })).status).toBe(400)
      const badKey = (yield* mint(baseUrl, token, registerUrl)).headers.get("x-openai-authorization")!
      expect((yield* post(registerUrl, { "x-openai-authorization": badKey }, { ...body, agent_public_key: `${body.agent_public_key} comment` })).status).toBe(400)
      expect((yield* backend.rejections).map((r) => r.reason)).toEqual([
        "invalid access token",
        "bad X-Request-Id",
        "biscuit is bound to another request",
        "biscuit already used",
        "body does not match the registration schema",
        "not a valid ssh-ed25519 public key: unexpected whitespace or comment"
      ])
    }).pipe(Effect.scoped))

  it.live("task registration: the signature must verify with the registered key and the timestamp be fresh", () =>
    Effect.gen(function*() {
      const { backend, baseUrl } = yield* start()
      const doc = yield* backend.issueLogin()
      const token = (doc["tokens"] as { access_token: string }).access_token
      const key = C.keyFromSeed(new Uint8Array(32).fill(4))
      const registerUrl = `${baseUrl}/v1/agent/register`
      const b1 = (yield* mint(baseUrl, token, registerUrl)).headers.get("x-openai-authorization")!
      const registered = (yield* Effect.promise(() =>
        fetch(registerUrl, {
          method: "POST",
          headers: { "x-openai-authorization": b1 },
          body: JSON.stringify({
            abom: { agent_version: "1", agent_harness_id: "codex-cli", running_location: "cli-linux" },
            agent_public_key: C.encodeSshPublicKey(key.publicKey),
            capabilities: []
          })
        }).then((r) => r.json())
      )) as { agent_runtime_id: string }
      const id = registered.agent_runtime_id
      const taskUrl = `${baseUrl}/v1/agent/${id}/task/register`
      const attempt = (signer: C.Ed25519Key, millis: number) =>
        Effect.gen(function*() {
          const biscuit = (yield* mint(baseUrl, token, taskUrl)).headers.get("x-openai-authorization")!
          const timestamp = C.formatTimestamp(millis)
          return yield* post(taskUrl, { "x-openai-authorization": biscuit }, {
            signature: C.signTaskRegistration(signer, id, timestamp),
            timestamp
          })
        })
      expect((yield* attempt(C.keyFromSeed(new Uint8Array(32).fill(5)), Date.now())).status).toBe(401)
      expect((yield* attempt(key, Date.now() - 3_600_000)).status).toBe(401)
      const ok = yield* attempt(key, Date.now())
      expect(ok.status).toBe(200)
      const sealed = ((yield* Effect.promise(() => ok.json())) as { encrypted_task_id: string }).encrypted_task_id
      expect(C.openSealedTaskId(sealed, key)._tag).toBe("Right")
      expect((yield* backend.rejections).map((r) => r.reason)).toEqual(["task signature does not verify", "timestamp outside the skew window"])
    }).pipe(Effect.scoped))

  it.live("the throwaway login and identity routes answer loopback callers only", () =>
    Effect.gen(function*() {
      const { baseUrl } = yield* start()
      const local = yield* Effect.promise(() => fetch(`${baseUrl}/test/login`, { method: "POST" }))
      expect(local.status).toBe(200)
      // Tests connect over loopback only, so a remote caller is a request whose remote address says so.
      const { router } = yield* ReferenceBackend.make()
      const from = (remoteAddress: string, route: string) =>
        Effect.map(
          router.pipe(Effect.provideService(
            HttpServerRequest.HttpServerRequest,
            HttpServerRequest.fromWeb(new Request(`http://backend/backend-api/test/${route}`, { method: "POST", body: "{}" })).modify({ remoteAddress })
          )),
          (response) => response.status
        )
      expect([yield* from("10.0.0.1", "login"), yield* from("10.0.0.1", "agent-identity")]).toEqual([403, 403])
      expect([yield* from("127.0.0.1", "login"), yield* from("::1", "agent-identity")]).toEqual([200, 400])
      for (const address of ["127.0.0.1", "127.8.9.10", "::ffff:127.0.0.1", "::1"]) expect(isLoopbackAddress(address)).toBe(true)
      for (const address of ["10.0.0.1", "192.168.1.2", "::ffff:10.0.0.1", "::2", "1127.0.0.1", "127.0.0.1.example"]) {
        expect(isLoopbackAddress(address)).toBe(false)
      }
    }).pipe(Effect.scoped))
})

describe("AssertionVerifier", () => {
  const key = C.keyFromSeed(new Uint8Array(32).fill(7))
  const directory: AssertionVerifier.AgentDirectory = {
    publicKey: (id) => Effect.succeed(id === "agent-123" ? Option.some(key.publicKey) : Option.none()),
    taskOwner: (id) => Effect.succeed(id === "task-123" ? Option.some("agent-123") : id === "task-other" ? Option.some("agent-9") : Option.none())
  }
  const verifier = AssertionVerifier.make({ directory, maxSkewSeconds: 300 })
  const header = (taskId: string, millis: number) =>
    C.buildAgentAssertion(key, { agentRuntimeId: "agent-123", taskId, timestamp: C.formatTimestamp(millis) })

  it.effect("skew boundaries are exact under TestClock: 300 s + 1 s of slack, both directions", () =>
    Effect.gen(function*() {
      const t0 = Date.UTC(2026, 3, 20, 20, 8, 39)
      const signed = header("task-123", t0)
      const at = (offsetMillis: number) =>
        Effect.gen(function*() {
          yield* TestClock.setTime(t0 + offsetMillis)
          return (yield* Effect.either(verifier.verify(signed)))._tag
        })
      expect(yield* at(301_000)).toBe("Right")
      expect(yield* at(301_001)).toBe("Left")
      expect(yield* at(-301_000)).toBe("Right")
      expect(yield* at(-301_001)).toBe("Left")
    }))

  it.effect("rejects an unknown agent, a task of another agent, and a bad signature", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(Date.now())
      const now = Date.now()
      const reasons = []
      for (const h of [
        C.buildAgentAssertion(key, { agentRuntimeId: "agent-x", taskId: "task-123", timestamp: C.formatTimestamp(now) }),
        header("task-other", now),
        header("task-123", now).slice(0, -4) + "AAAA"
      ]) reasons.push((yield* Effect.flip(verifier.verify(h))).reason)
      expect(reasons[0]).toBe("unknown agent runtime id")
      expect(reasons[1]).toBe("the task does not belong to this agent")
      expect(reasons[2]).toMatch(/signature|envelope|base64url/)
      expect((yield* verifier.verify(header("task-123", now))).taskId).toBe("task-123")
    }))

  /** A directory that counts its lookups and whose tasks can be revoked. */
  const countingDirectory = () => {
    const owners = new Map([["task-123", "agent-123"]])
    const lookups = { publicKey: 0, taskOwner: 0 }
    const dir: AssertionVerifier.AgentDirectory = {
      publicKey: (id) => Effect.sync(() => (lookups.publicKey++, id === "agent-123" ? Option.some(key.publicKey) : Option.none())),
      taskOwner: (id) => Effect.sync(() => (lookups.taskOwner++, Option.fromNullable(owners.get(id))))
    }
    return { dir, owners, lookups }
  }

  it.effect("a verified header is remembered until its timestamp leaves the skew window", () =>
    Effect.gen(function*() {
      const { dir, lookups } = countingDirectory()
      const cached = AssertionVerifier.make({ directory: dir, maxSkewSeconds: 300 })
      const t0 = Date.UTC(2026, 3, 20, 20, 8, 39)
      const signed = header("task-123", t0)
      const at = (offsetMillis: number) =>
        Effect.gen(function*() {
          yield* TestClock.setTime(t0 + offsetMillis)
          return (yield* Effect.either(cached.verify(signed)))._tag
        })
      expect(yield* at(0)).toBe("Right")
      expect(yield* at(1_000)).toBe("Right")
      expect(yield* at(301_000)).toBe("Right")
      expect(lookups).toEqual({ publicKey: 1, taskOwner: 1 })
      expect(yield* at(301_001)).toBe("Left")
      expect(yield* at(-301_001)).toBe("Left")
      // A changed header (another second) is verified afresh.
      yield* TestClock.setTime(t0)
      expect((yield* cached.verify(header("task-123", t0 + 1000))).timestamp).toBe(C.formatTimestamp(t0 + 1000))
      expect(lookups.publicKey).toBeGreaterThanOrEqual(2)
    }))

  it.effect("revoking a task drops its remembered headers; with no cache every call asks the directory", () =>
    Effect.gen(function*() {
      const now = Date.UTC(2026, 3, 20, 20, 8, 39)
      yield* TestClock.setTime(now)
      for (const [implementation, cacheSize] of [["node-crypto", undefined], ["noble", undefined], ["node-crypto", 0]] as const) {
        const { dir, lookups, owners } = countingDirectory()
        const cached = AssertionVerifier.make({ directory: dir, cacheSize, implementation })
        const signed = header("task-123", now)
        expect((yield* cached.verify(signed)).taskId).toBe("task-123")
        expect((yield* cached.verify(signed)).taskId).toBe("task-123")
        expect(lookups.taskOwner).toBe(cacheSize === 0 ? 2 : 1)
        owners.delete("task-123")
        // Without the revocation the remembered header would still pass.
        if (cacheSize === undefined) expect((yield* Effect.either(cached.verify(signed)))._tag).toBe("Right")
        yield* cached.revokeTask("task-123")
        expect((yield* Effect.flip(cached.verify(signed))).reason).toBe("the task does not belong to this agent")
      }
    }))

  it.effect("a verification that a revocation overtakes is not remembered", () =>
    Effect.gen(function*() {
      const now = Date.UTC(2026, 3, 20, 20, 8, 39)
      yield* TestClock.setTime(now)
      const owners = new Map([["task-123", "agent-123"]])
      let revokeDuringLookup: Effect.Effect<void> = Effect.void
      const cached = AssertionVerifier.make({
        directory: {
          publicKey: () => Effect.succeed(Option.some(key.publicKey)),
          // The owner is read, then the task is revoked before the verification finishes.
          taskOwner: (id) => Effect.as(Effect.suspend(() => revokeDuringLookup), Option.fromNullable(owners.get(id)))
        }
      })
      revokeDuringLookup = Effect.suspend(() => (owners.delete("task-123"), cached.revokeTask("task-123")))
      const signed = header("task-123", now)
      expect((yield* Effect.either(cached.verify(signed)))._tag).toBe("Right")
      revokeDuringLookup = Effect.void
      expect((yield* Effect.flip(cached.verify(signed))).reason).toBe("the task does not belong to this agent")
    }))

  it.live("the reference backend forgets a revoked task's headers: the same header is refused afterwards", () =>
    Effect.gen(function*() {
      const { backend, baseUrl } = yield* start()
      const agent = C.keyFromSeed(new Uint8Array(32).fill(3))
      const doc = yield* backend.issueLogin()
      const token = (doc["tokens"] as { access_token: string }).access_token
      const registerUrl = `${baseUrl}/v1/agent/register`
      const biscuit = (yield* mint(baseUrl, token, registerUrl)).headers.get("x-openai-authorization")!
      const registered = yield* post(registerUrl, { "x-openai-authorization": biscuit }, {
        abom: { agent_version: "0.1.0", agent_harness_id: "codex-cli", running_location: "cli-linux" },
        agent_public_key: C.encodeSshPublicKey(agent.publicKey),
        capabilities: []
      })
      const id = ((yield* Effect.promise(() => registered.json())) as { agent_runtime_id: string }).agent_runtime_id
      const taskUrl = `${baseUrl}/v1/agent/${id}/task/register`
      const taskBiscuit = (yield* mint(baseUrl, token, taskUrl)).headers.get("x-openai-authorization")!
      const timestamp = C.formatTimestamp(Date.now())
      const task = yield* post(taskUrl, { "x-openai-authorization": taskBiscuit }, { signature: C.signTaskRegistration(agent, id, timestamp), timestamp })
      const sealed = ((yield* Effect.promise(() => task.json())) as { encrypted_task_id: string }).encrypted_task_id
      const taskId = Either.getOrThrow(C.openSealedTaskIdNative(sealed, agent))
      const assertion = C.buildAgentAssertion(agent, { agentRuntimeId: id, taskId, timestamp })
      const whoami = () => Effect.promise(() => fetch(`${baseUrl}/v1/whoami`, { headers: { authorization: assertion } }).then((r) => r.status))
      expect([yield* whoami(), yield* whoami()]).toEqual([200, 200])
      expect(yield* backend.revokeTask(taskId)).toBe(true)
      expect(yield* whoami()).toBe(401)
    }).pipe(Effect.scoped))

  it.live("authenticate guards a route: 401 without a valid assertion; the handler sees CurrentAgent", () =>
    Effect.gen(function*() {
      const router = HttpRouter.empty.pipe(
        HttpRouter.get(
          "/private",
          AssertionVerifier.authenticate(Effect.map(AssertionVerifier.CurrentAgent, (agent) => HttpServerResponse.unsafeJson(agent)))
        )
      )
      const server = yield* NodeHttpServer.make(() => createServer(), { host: "127.0.0.1", port: 0 })
      yield* HttpServer.serveEffect(router).pipe(
        Effect.provideService(HttpServer.HttpServer, server),
        Effect.provide(AssertionVerifier.layer({ directory }))
      )
      const port = server.address._tag === "TcpAddress" ? server.address.port : 0
      const call = (authorization?: string) =>
        Effect.promise(() => fetch(`http://127.0.0.1:${port}/private`, { headers: authorization ? { authorization } : {} }))
      expect((yield* call()).status).toBe(401)
      expect((yield* call(header("task-123", Date.now() - 3_600_000))).status).toBe(401)
      const ok = yield* call(header("task-123", Date.now()))
      expect(ok.status).toBe(200)
      expect(yield* Effect.promise(() => ok.json())).toMatchObject({ agentRuntimeId: "agent-123", taskId: "task-123" })
    }).pipe(Effect.scoped))
})
