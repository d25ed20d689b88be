/**
 * The IdentityPool against the reference backend over real HTTP: an identity per account, one registration per
 * account however many fibers ask, per-session tasks, 401 recovery that replaces a task once, revocation, the
 * release of idle accounts, and the metrics it counts.
 */
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { describe, expect, it } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Redacted from "effect/Redacted"
import * as TestClock from "effect/TestClock"
import * as Settings from "../../src/Domain/Settings.js"
import { IdentityPool, make as makePool } from "../../src/pool/IdentityPool.js"
import * as Metrics from "../../src/pool/Metrics.js"
import * as AccountStore from "../../src/services/AccountStore.js"
import { agentIdentityLoginDocument } from "../../src/Domain/AuthDocument.js"
import { chatgptAuthDocument } from "../../src/Domain/CodexLogin.js"
import { accountId, startFleet, taskOf, whoami } from "./helpers.js"

const poolOf = (fleet: { readonly context: Context.Context<IdentityPool> }) => Context.get(fleet.context, IdentityPool)

describe("IdentityPool", () => {
  for (const protocol of ["2026-06", "2026-04"] as const) {
    it.live(`${protocol}: each account signs with an identity of its own, which the backend accepts for that account`, () =>
      Effect.gen(function*() {
        const fleet = yield* startFleet({ accounts: 3, protocol })
        const pool = poolOf(fleet)
        const seen = new Set<string>()
        for (let i = 0; i < 3; i++) {
          const header = yield* pool.authorizationHeader({ accountId: accountId(i) })
          const task = taskOf(header)
          const answer = yield* whoami(fleet.baseUrl, Option.getOrThrow(header))
          expect(answer).toEqual({
            status: 200,
            body: { scheme: "AgentAssertion", agent_runtime_id: task.agentRuntimeId, task_id: task.taskId, account_id: accountId(i) }
          })
          seen.add(task.agentRuntimeId)
        }
        expect(seen.size).toBe(3)
        // Stored per account: each account's KeyStore holds its own identity.
        const entries = yield* fleet.store.list
        expect(new Set(entries.map((e) => Option.getOrThrow(e.agentRuntimeId)))).toEqual(seen)
        const events = yield* fleet.store.events
        expect(events.filter((e) => e.action === "registered").map((e) => e.accountId).sort()).toEqual(
          [accountId(0), accountId(0), accountId(1), accountId(1), accountId(2), accountId(2)]
        )
      }).pipe(Effect.scoped))
  }

  it.live("access-token accounts (2026-06): their JWT identities sign, with no agent registration and one JWKS fetch for all", () =>
    Effect.gen(function*() {
      const fleet = yield* startFleet({ accounts: 0 })
      for (let i = 0; i < 3; i++) {
        const jwt = yield* fleet.backend.issueIdentityJwt({ accountId: accountId(i), userId: `user-${i}` })
        yield* fleet.store.put(agentIdentityLoginDocument(Redacted.make(jwt)), "2026-06")
      }
      const pool = poolOf(fleet)
      for (let i = 0; i < 3; i++) {
        const header = yield* pool.authorizationHeader({ accountId: accountId(i) })
        const session = yield* pool.authorizationHeader({ accountId: accountId(i), sessionKey: "s" })
        for (const h of [header, session]) {
          expect((yield* whoami(fleet.baseUrl, Option.getOrThrow(h))).body).toMatchObject({ scheme: "AgentAssertion", account_id: accountId(i) })
        }
        expect(taskOf(session).agentRuntimeId).toBe(taskOf(header).agentRuntimeId)
      }
      const calls = yield* fleet.backend.calls
      expect([calls.register, calls.task, calls.jwks]).toEqual([0, 6, 1])
    }).pipe(Effect.scoped))

  it.live("N fibers over M accounts: exactly M agent and M task registrations, each fiber with its account's identity", () =>
    Effect.gen(function*() {
      const accounts = 8
      const fleet = yield* startFleet({ accounts })
      const pool = poolOf(fleet)
      const before = yield* Metrics.snapshot
      const headers = yield* Effect.forEach(
        Array.from({ length: 48 }, (_, n) => n % accounts),
        (i) => Effect.map(pool.authorizationHeader({ accountId: accountId(i) }), (header) => ({ i, task: taskOf(header) })),
        { concurrency: "unbounded" }
      )
      const calls = yield* fleet.backend.calls
      expect(calls.register).toBe(accounts)
      expect(calls.task).toBe(accounts)
      // Every fiber of an account got the same task; accounts do not share one.
      const byAccount = new Map<number, Set<string>>()
      for (const { i, task } of headers) byAccount.set(i, (byAccount.get(i) ?? new Set()).add(`${task.agentRuntimeId}/${task.taskId}`))
      expect([...byAccount.values()].map((s) => s.size)).toEqual(Array(accounts).fill(1))
      expect(new Set([...byAccount.values()].map((s) => [...s][0])).size).toBe(accounts)
      // Each handle was built once and is held (idle) now.
      expect(yield* pool.active).toBe(accounts)
      const after = yield* Metrics.snapshot
      expect(after.registrations.agent - before.registrations.agent).toBe(accounts)
      expect(after.registrations.task - before.registrations.task).toBe(accounts)
      expect(after.header.count - before.header.count).toBe(48)
    }).pipe(Effect.scoped))

  it.live("a session's registration whose caller is interrupted (a client hung up) does not fail those waiting on it", () =>
    Effect.gen(function*() {
      // The session's first task registration (the backend's second task call) never answers.
      const fleet = yield* startFleet({
        accounts: 1,
        fault: (endpoint, n) => endpoint === "task" && n === 1 ? Option.some(Effect.never) : Option.none()
      })
      const pool = poolOf(fleet)
      yield* pool.authorizationHeader({ accountId: accountId(0) })
      const request = { accountId: accountId(0), sessionKey: "conversation-hung-up" }
      const runner = yield* Effect.fork(pool.authorizationHeader(request))
      while ((yield* fleet.backend.calls).task < 2) yield* Effect.sleep("5 millis")
      const waiter = yield* Effect.fork(pool.authorizationHeader(request))
      yield* Effect.sleep("50 millis")
      yield* Fiber.interrupt(runner)
      const header = yield* Fiber.join(waiter)
      expect(taskOf(header).taskId.length).toBeGreaterThan(0)
      expect((yield* fleet.backend.calls).task).toBe(3)
    }).pipe(Effect.scoped))

  it.live("sessions: a task per session key, distinct from the account's, kept in the store and reused", () =>
    Effect.gen(function*() {
      const fleet = yield* startFleet({ accounts: 1 })
      const pool = poolOf(fleet)
      const account = taskOf(yield* pool.authorizationHeader({ accountId: accountId(0) }))
      const concurrent = yield* Effect.forEach(
        Array.from({ length: 10 }, () => ({ accountId: accountId(0), sessionKey: "conversation-1" })),
        (request) => pool.authorizationHeader(request),
        { concurrency: "unbounded" }
      )
      const one = taskOf(concurrent[0]!)
      expect(new Set(concurrent.map((h) => taskOf(h).taskId))).toEqual(new Set([one.taskId]))
      const two = taskOf(yield* pool.authorizationHeader({ accountId: accountId(0), sessionKey: "conversation-2" }))
      expect(new Set([account.taskId, one.taskId, two.taskId]).size).toBe(3)
      expect(one.agentRuntimeId).toBe(account.agentRuntimeId)

      const calls = yield* fleet.backend.calls
      expect(calls.task).toBe(3)
      const again = yield* pool.ensureTask({ accountId: accountId(0), sessionKey: "conversation-1" })
      expect(again).toEqual({ ...one, reused: true })
      expect((yield* fleet.backend.calls).task).toBe(3)

      const key = yield* pool.resolve({ accountId: accountId(0) })
      expect(yield* fleet.store.sessionTask(key, "conversation-1")).toEqual(Option.some(one))
      const answer = yield* whoami(fleet.baseUrl, Option.getOrThrow(concurrent[3]!))
      expect(answer.body).toMatchObject({ task_id: one.taskId, account_id: accountId(0) })
    }).pipe(Effect.scoped))

  it.live("recover: a rejected task is replaced once; a header already replaced is not replaced again", () =>
    Effect.gen(function*() {
      const fleet = yield* startFleet({ accounts: 2 })
      const pool = poolOf(fleet)
      const changes = yield* pool.subscribe
      const request = { accountId: accountId(1) }
      const header = Option.getOrThrow(yield* pool.authorizationHeader(request))
      const rejected = taskOf(Option.some(header))
      yield* fleet.backend.revokeTask(rejected.taskId)
      expect((yield* whoami(fleet.baseUrl, header)).status).toBe(401)
      const registered = (yield* Queue.takeAll(changes)).pipe(Chunk.toReadonlyArray)
      expect(registered.map((c) => c.reason)).toEqual(["registered"])

      const before = (yield* fleet.backend.calls).task
      const renewed = Option.getOrThrow(yield* pool.recover(request, header))
      const task = taskOf(Option.some(renewed))
      expect(task.taskId).not.toBe(rejected.taskId)
      expect(task.agentRuntimeId).toBe(rejected.agentRuntimeId)
      expect((yield* whoami(fleet.baseUrl, renewed)).body).toMatchObject({ task_id: task.taskId, account_id: accountId(1) })
      // Another fiber that got the same 401 reuses the replacement.
      const second = Option.getOrThrow(yield* pool.recover(request, header))
      expect(taskOf(Option.some(second))).toEqual(task)
      expect((yield* fleet.backend.calls).task).toBe(before + 1)

      const change = yield* Queue.take(changes)
      expect(change).toEqual({
        accountId: accountId(1),
        userId: Option.some("user-1"),
        sessionKey: Option.none(),
        reason: "renewed",
        previous: Option.some(rejected),
        current: Option.some(task)
      })
      expect(yield* Queue.size(changes)).toBe(0)
      const events = yield* fleet.store.events
      expect(events.filter((e) => e.action === "renewed")).toEqual([
        { action: "renewed", accountId: accountId(1), userId: Option.some("user-1"), detail: `task ${task.taskId} of agent ${task.agentRuntimeId} replacing ${rejected.taskId}` }
      ])
      // A Bearer header signed for no task: nothing to recover.
      expect(yield* pool.recover(request, { ...header, scheme: "Bearer", task: Option.none() })).toEqual(Option.none())
    }).pipe(Effect.scoped))

  it.live("recover with a session key replaces the session's task, once", () =>
    Effect.gen(function*() {
      const fleet = yield* startFleet({ accounts: 1 })
      const pool = poolOf(fleet)
      const request = { accountId: accountId(0), sessionKey: "s" }
      const header = Option.getOrThrow(yield* pool.authorizationHeader(request))
      const rejected = taskOf(Option.some(header))
      yield* fleet.backend.revokeTask(rejected.taskId)
      const tasksBefore = (yield* fleet.backend.calls).task
      const [a, b] = yield* Effect.all([pool.recover(request, header), pool.recover(request, header)], { concurrency: 2 })
      expect(taskOf(a)).toEqual(taskOf(b))
      expect(taskOf(a).taskId).not.toBe(rejected.taskId)
      expect((yield* fleet.backend.calls).task).toBe(tasksBefore + 1)
      expect((yield* whoami(fleet.baseUrl, Option.getOrThrow(a))).status).toBe(200)
      const key = yield* pool.resolve(request)
      expect(Option.map(yield* fleet.store.sessionTask(key, "s"), (t) => t.taskId)).toEqual(Option.some(taskOf(a).taskId))
      const metrics = yield* Metrics.snapshot
      expect(metrics.renewals.session).toBeGreaterThanOrEqual(1)
    }).pipe(Effect.scoped))

  it.live("revoke: the account's identity is dropped, its next header registers a new one", () =>
    Effect.gen(function*() {
      const fleet = yield* startFleet({ accounts: 1 })
      const pool = poolOf(fleet)
      const changes = yield* pool.subscribe
      const first = taskOf(yield* pool.authorizationHeader({ accountId: accountId(0) }))
      expect(yield* pool.revoke({ accountId: accountId(0) })).toBe(true)
      expect(yield* pool.active).toBe(0)
      const taken = Chunk.toReadonlyArray(yield* Queue.takeAll(changes))
      expect(taken.map((c) => [c.reason, Option.map(c.previous, (t) => t.taskId)])).toEqual([
        ["registered", Option.none()],
        ["revoked", Option.some(first.taskId)]
      ])
      const next = taskOf(yield* pool.authorizationHeader({ accountId: accountId(0) }))
      expect(next.agentRuntimeId).not.toBe(first.agentRuntimeId)
      expect((yield* fleet.backend.calls).register).toBe(2)
      expect((yield* fleet.store.events).map((e) => e.action)).toEqual(["registered", "registered", "revoked", "registered", "registered"])
    }).pipe(Effect.scoped))

  it.live("an account the store does not hold fails AccountNotFoundError, counted by tag", () =>
    Effect.gen(function*() {
      const fleet = yield* startFleet({ accounts: 1 })
      const pool = poolOf(fleet)
      const before = yield* Metrics.snapshot
      const error = yield* Effect.flip(pool.authorizationHeader({ accountId: "account-unknown" }))
      expect(error._tag).toBe("AccountNotFoundError")
      const orBearer = yield* Effect.flip(pool.authorizationHeaderOrBearer({ accountId: "account-unknown" }))
      expect(orBearer._tag).toBe("AccountNotFoundError")
      const after = yield* Metrics.snapshot
      expect((after.failures["AccountNotFoundError"] ?? 0) - (before.failures["AccountNotFoundError"] ?? 0)).toBe(2)
      expect(yield* pool.active).toBe(0)
    }).pipe(Effect.scoped))

  it.live("a registration the backend refuses: the failure by its tag, a `refused` audit with the status only; Bearer for OrBearer", () =>
    Effect.gen(function*() {
      const fleet = yield* startFleet({
        accounts: 1,
        fault: (endpoint) =>
          endpoint === "register"
            ? Option.some(Effect.succeed(HttpServerResponse.unsafeJson({ error: "secret-looking detail" }, { status: 403 })))
            : Option.none()
      })
      const pool = poolOf(fleet)
      const before = yield* Metrics.snapshot
      const error = yield* Effect.flip(pool.authorizationHeader({ accountId: accountId(0) }))
      expect(error._tag).toBe("HttpStatusError")
      const fallback = Option.getOrThrow(yield* pool.authorizationHeaderOrBearer({ accountId: accountId(0) }))
      expect(fallback.scheme).toBe("Bearer")
      expect((yield* whoami(fleet.baseUrl, fallback)).body).toEqual({ scheme: "Bearer", account_id: accountId(0) })
      const after = yield* Metrics.snapshot
      expect((after.failures["HttpStatusError"] ?? 0) - (before.failures["HttpStatusError"] ?? 0)).toBe(2)
      expect(yield* fleet.store.events).toEqual([
        { action: "refused", accountId: accountId(0), userId: Option.some("user-0"), detail: "agent registration: HTTP 403" },
        { action: "refused", accountId: accountId(0), userId: Option.some("user-0"), detail: "agent registration: HTTP 403" }
      ])
    }).pipe(Effect.scoped))

  it.effect("an idle account's AuthManager is released after idleTimeToLive, and built again on its next use", () =>
    Effect.gen(function*() {
      const memory = yield* AccountStore.makeMemory
      const lookups: Array<string> = []
      const resolutions: Array<string> = []
      const store = AccountStore.AccountStore.of({
        ...memory,
        resolve: (id, user) => Effect.zipRight(Effect.sync(() => resolutions.push(id)), memory.resolve(id, user)),
        keyStore: (key) => Effect.zipRight(Effect.sync(() => lookups.push(key.accountId)), memory.keyStore(key))
      })
      for (const id of ["a", "b"]) {
        const document = chatgptAuthDocument({ accountId: id, userId: `user-${id}` })
        yield* memory.put(document, "2026-06")
      }
      const pool = yield* makePool({ idleTimeToLive: "5 minutes" }).pipe(
        Effect.provide(Layer.mergeAll(
          Layer.succeed(AccountStore.AccountStore, store),
          Layer.orDie(Settings.layer({ baseUrl: "http://127.0.0.1:9/backend-api", trustedHosts: ["127.0.0.1"] })),
          // No request is made: the status of a stored login is read offline.
          Layer.succeed(HttpClient.HttpClient, HttpClient.make(() => Effect.die("no request is expected")))
        ))
      )
      const status = (id: string) => pool.withAuthManager({ accountId: id }, (auth) => auth.status)
      yield* status("a")
      yield* status("a")
      yield* status("b")
      expect(lookups).toEqual(["a", "b"])
      // The account a request names is asked of the store once per resolveTimeToLive (10 s by default).
      expect(resolutions).toEqual(["a", "b"])
      expect(yield* pool.active).toBe(2)
      yield* TestClock.adjust("4 minutes")
      yield* status("b")
      expect(yield* pool.active).toBe(2)
      yield* TestClock.adjust("2 minutes")
      // a: idle for 6 minutes, released; b: used 2 minutes ago, kept.
      expect(yield* pool.active).toBe(1)
      yield* TestClock.adjust("4 minutes")
      expect(yield* pool.active).toBe(0)
      yield* status("a")
      expect(lookups).toEqual(["a", "b", "a"])
      expect(resolutions).toEqual(["a", "b", "b", "a"])
      // Removed from the store: seen once the remembered resolution has expired and the handle is released.
      expect(yield* memory.remove({ accountId: "b", userId: Option.some("user-b") })).toBe(true)
      yield* TestClock.adjust("6 minutes")
      const removed = yield* Effect.flip(status("b"))
      expect(removed._tag).toBe("AccountNotFoundError")
    }).pipe(Effect.scoped))
})
