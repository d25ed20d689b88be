/** Issue 7 / seed tests 19-27: per-conversation session tasks persisted as JSONL session_state items. */
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import { afterEach, describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as fs from "node:fs"
import * as path from "node:path"
import * as AssertionSignerModule from "../../src/services/AssertionSigner.js"
import { AssertionSigner } from "../../src/services/AssertionSigner.js"
import { AuthManager } from "../../src/manager/AuthManager.js"
import * as C from "../../src/crypto/index.js"
import { HttpStatusError } from "../../src/Domain/Errors.js"
import * as SessionTasks from "../../src/manager/SessionTasks.js"
import { chatgptAuthDocument, FakeBackend, type FakeScript } from "../../src/testing/index.js"
import { layerAuthManager2604 } from "../utils/protocol.js"
import { cleanTemps, tempDir } from "../cli/helpers.js"
import { liveAuthLayer, startBackend } from "../utils/backend.js"

afterEach(cleanTemps)
const document = {
  ...chatgptAuthDocument({ accountId: "account-123", userId: "user-123" }),
  agent_identity: {
    workspace_id: "account-123",
    chatgpt_user_id: "user-123",
    agent_runtime_id: "agent-123",
    agent_private_key: C.encodePrivateKeyBase64(C.keyFromSeed(new Uint8Array(32).fill(7))),
    registered_at: "2026-04-15T00:00:00Z"
  }
}
const task = (runtime: string, id = "task_123") => ({ agent_runtime_id: runtime, task_id: id, registered_at: "2026-04-20T00:00:00Z" })
const line = (agentTask: unknown) => JSON.stringify({ timestamp: "2026-04-20T00:00:00Z", type: "session_state", payload: { agent_task: agentTask } })
const other = JSON.stringify({ timestamp: "2026-04-20T00:00:00Z", type: "response_item", payload: { role: "user" } })

const rollout = (lines: ReadonlyArray<string>) => {
  const file = path.join(tempDir(), "rollout.jsonl")
  if (lines.length > 0) fs.writeFileSync(file, lines.join("\n") + "\n")
  return file
}
const withSession = <A, E>(file: string, body: (s: SessionTasks.Session) => Effect.Effect<A, E, FakeBackend>, script?: FakeScript) =>
  Effect.flatMap(SessionTasks.make(file), body).pipe(
    Effect.provide(Layer.merge(layerAuthManager2604({ document, ...(script ? { script } : {}) }), NodeFileSystem.layer))
  )
const lastItem = (file: string) => JSON.parse(fs.readFileSync(file, "utf8").trim().split("\n").pop()!).payload.agent_task

describe("session tasks", () => {
  it.effect("19: the latest persisted task is restored (other rollout items are ignored)", () =>
    withSession(rollout([line(task("agent-123")), line(null), other, line(task("agent-123", "task_latest"))]), (s) =>
      Effect.map(s.current, (current) => expect(current).toEqual(Option.some(task("agent-123", "task_latest"))))))

  it.effect("20: a persisted task of another identity is discarded", () =>
    withSession(rollout([line(task("agent-other"))]), (s) => Effect.map(s.current, (current) => expect(Option.isNone(current)).toBe(true)))
  )

  it.effect("21: a later null clears it", () =>
    withSession(rollout([line(task("agent-123")), line(null)]), (s) => Effect.map(s.current, (current) => expect(Option.isNone(current)).toBe(true)))
  )

  it.effect("23: the start-up prewarm registers and caches a task, and persists it", () => {
    const file = rollout([])
    return withSession(file, (s) =>
      Effect.gen(function*() {
        yield* s.prewarm
        const current = yield* s.current
        expect(Option.map(current, (t) => [t.agent_runtime_id, t.task_id])).toEqual(Option.some(["agent-123", "task_123"]))
        expect(lastItem(file)).toMatchObject({ agent_runtime_id: "agent-123", task_id: "task_123" })
        // The background task in auth.json is not touched by a session task.
        expect((yield* (yield* FakeBackend).calls).tasks.length).toBe(1)
      }), { task: () => Effect.succeed("task_123") })
  })

  it.effect("22, 24: a failing registration is a typed error for ensure; the prewarm only logs it", () => {
    const file = rollout([])
    return withSession(file, (s) =>
      Effect.gen(function*() {
        const logs: Array<string> = []
        const capture = Logger.make(({ logLevel, message }) => {
          logs.push(`${logLevel.label} ${Array.isArray(message) ? message.join(" ") : String(message)}`)
        })
        yield* s.prewarm.pipe(Effect.provide(Logger.replace(Logger.defaultLogger, capture)))
        expect(logs.filter((l) => !l.startsWith("DEBUG"))).toEqual([expect.stringMatching(/^WARN startup agent task prewarm failed; .*HttpStatusError/)])
        expect(Option.isNone(yield* s.current)).toBe(true)
        const error = yield* Effect.flip(s.ensure)
        expect(error._tag).toBe("HttpStatusError")
        expect(fs.existsSync(file)).toBe(false)
      }), { task: () => Effect.fail(new HttpStatusError({ operation: "task", status: 500, method: "POST", url: "fake", body: "" })) })
  })

  it.effect("25: a cached task for a stale identity is cleared, and null persisted", () => {
    const file = rollout([])
    return withSession(file, (s) =>
      Effect.gen(function*() {
        yield* s.set(task("agent-old"))
        expect(Option.isNone(yield* s.current)).toBe(true)
        expect(lastItem(file)).toBeNull()
      }))
  })

  it.effect("26, 27: set then current gives it back; an identical set writes nothing; clear removes it", () => {
    const file = rollout([])
    return withSession(file, (s) =>
      Effect.gen(function*() {
        yield* s.set(task("agent-123"))
        yield* s.set(task("agent-123"))
        expect(fs.readFileSync(file, "utf8").trim().split("\n").length).toBe(1)
        expect(yield* s.current).toEqual(Option.some(task("agent-123")))
        expect(yield* s.ensure).toEqual(Option.some(task("agent-123")))
        yield* s.clear
        expect(Option.isNone(yield* s.current)).toBe(true)
        expect(fs.readFileSync(file, "utf8").trim().split("\n").map((l) => JSON.parse(l).payload.agent_task)).toEqual([task("agent-123"), null])
      }))
  })

  it("latestSessionState: none when there is no session_state item; a torn last line is ignored", () => {
    expect(SessionTasks.latestSessionState(other)).toEqual(Option.none())
    expect(SessionTasks.latestSessionState(`${line(task("a"))}\n{"type":"session_st`)).toEqual(Option.some(task("a")))
  })
})

describe("session tasks against the reference backend", () => {
  it.live("a prewarmed session task is a real task: its assertion is accepted, and a resumed session restores it", () =>
    Effect.gen(function*() {
      const { backend, baseUrl, document: login } = yield* startBackend()
      const file = path.join(tempDir(), "rollout.jsonl")
      const live = Layer.merge(liveAuthLayer({ baseUrl, document: login }), NodeFileSystem.layer)
      const result = yield* Effect.gen(function*() {
        const session = yield* SessionTasks.make(file)
        yield* session.prewarm
        const task = Option.getOrThrow(yield* session.current)
        const auth = yield* AuthManager
        const identity = yield* auth.ensureIdentity
        const signer = yield* AssertionSigner
        const header = yield* signer.agentAssertion(identity, { agentRuntimeId: task.agent_runtime_id, taskId: task.task_id })
        const whoami = yield* Effect.promise(() =>
          fetch(`${baseUrl}/v1/whoami`, { headers: { authorization: Redacted.value(header) } }).then((r) => r.json()))
        const resumed = yield* Effect.flatMap(SessionTasks.make(file), (s) => s.current)
        return { task, whoami, resumed }
      }).pipe(Effect.provide(Layer.merge(live, AssertionSignerModule.layer)))
      expect(result.whoami).toMatchObject({ scheme: "AgentAssertion", task_id: result.task.task_id })
      expect(result.resumed).toEqual(Option.some(result.task))
      expect((yield* backend.calls).task).toBe(1)
    }).pipe(Effect.scoped))
})
