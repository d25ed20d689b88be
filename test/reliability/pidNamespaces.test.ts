/**
 * Promise 15: processes in different PID namespaces (containers sharing ~/.codex, `unshare --pid`)
 * keep the single flight. A pid in a lock is judged only by a process of the same host and PID
 * namespace; anyone else waits for the holder's heartbeat to stop. Run with real namespaces
 * (`unshare --pid --fork --mount-proc`, as root) where the machine allows, and always with a lock
 * written under another namespace's id.
 */
import * as HttpServer from "@effect/platform/HttpServer"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import { afterAll, afterEach, beforeAll, describe, expect, it } from "@effect/vitest"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import { type ChildProcess, spawn, spawnSync } from "node:child_process"
import * as fs from "node:fs"
import { createServer } from "node:http"
import * as os from "node:os"
import * as path from "node:path"
import * as ReferenceBackend from "../../src/backend/ReferenceBackend.js"
import { formatAuthDocument } from "../../src/Domain/AuthDocument.js"
import { PID_NAMESPACE } from "../../src/internal/files.js"
import * as KeyStore from "../../src/services/KeyStore.js"
import { chatgptAuthDocument } from "../../src/testing/index.js"
import { CLI, cleanTemps, readAuth, tempDir } from "../cli/helpers.js"
import { counts, report, timeout } from "../utils/profile.js"
import { bundleEntry } from "./fixtures/bundleEntry.js"

const ROUNDS = counts.namespaceRounds
const UNSHARE = ["--pid", "--fork", "--mount-proc"]
const canUnshare = spawnSync("unshare", [...UNSHARE, "true"]).status === 0

let children: { script: string; dir: string }
beforeAll(async () => {
  children = await bundleEntry("lockChildren")
})
afterAll(() => fs.rmSync(children.dir, { recursive: true, force: true }))
afterEach(cleanTemps)

interface Run {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

/** Runs node with `args`, in a new PID namespace when `namespaced`. */
const node = (args: ReadonlyArray<string>, namespaced: boolean): { child: ChildProcess; done: Promise<Run> } => {
  const child = namespaced
    ? spawn("unshare", [...UNSHARE, process.execPath, ...args], { stdio: ["ignore", "pipe", "pipe"] })
    : spawn(process.execPath, [...args], { stdio: ["ignore", "pipe", "pipe"] })
  let stdout = ""
  let stderr = ""
  child.stdout!.on("data", (d: Buffer) => (stdout += d.toString()))
  child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()))
  const done = new Promise<Run>((resolve) => child.once("close", (code) => resolve({ code, stdout, stderr })))
  return { child, done }
}

const waitForLine = (child: ChildProcess, text: string) =>
  new Promise<void>((resolve, reject) => {
    let out = ""
    child.stdout!.on("data", (d: Buffer) => {
      out += d.toString()
      if (out.includes(text)) resolve()
    })
    child.once("exit", () => reject(new Error(`child exited before "${text}"`)))
  })

const stop = (child: ChildProcess) =>
  new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve()
    child.once("exit", () => resolve())
    child.kill("SIGKILL")
  })

const homeWithLogin = () => {
  const home = tempDir()
  fs.writeFileSync(path.join(home, "auth.json"), formatAuthDocument(chatgptAuthDocument({ accountId: "account-123", userId: "user-123" })), {
    mode: 0o600
  })
  return home
}

const tryLock = (home: string, timeoutMillis: number, staleMillis: number, namespaced: boolean) =>
  node([children.script, "try-lock", home, String(timeoutMillis), String(staleMillis)], namespaced).done.then((run) =>
    JSON.parse(run.stdout.trim().split("\n").pop()!) as { result: string; reason?: string }
  )

describe("PID namespaces (promise 15)", () => {
  it("a live holder in another PID namespace is waited for, never taken over; once killed, its heartbeat decides", async () => {
    const home = homeWithLogin()
    // The holder is on the host; the waiter in a new PID namespace, where the holder's pid names nobody.
    const holder = node([children.script, "hold-lock", home], false)
    try {
      await waitForLine(holder.child, "locked")
      const lock = JSON.parse(fs.readFileSync(path.join(home, KeyStore.LOCK_FILE), "utf8"))
      expect(lock.pidNamespace).toBe(PID_NAMESPACE)
      const waiter = canUnshare
        ? await tryLock(home, 1500, 30_000, true)
        : await (async () => {
          // No namespaces here: the same lock, as a process of another namespace would see it.
          fs.writeFileSync(path.join(home, KeyStore.LOCK_FILE), JSON.stringify({ ...lock, pidNamespace: "pid:[1]" }))
          return tryLock(home, 1500, 30_000, false)
        })()
      expect(waiter).toEqual({ result: "KeyStoreError", reason: "Lock" })
      expect(fs.existsSync(path.join(home, KeyStore.LOCK_FILE))).toBe(true)
    } finally {
      await stop(holder.child)
    }
    // The holder is gone: from another namespace only its heartbeat tells, so the lock goes once stale.
    const after = await tryLock(home, 10_000, 1500, canUnshare)
    expect(after).toEqual({ result: "acquired" })
    console.log(
      `PID namespaces (${canUnshare ? "unshare --pid" : "a lock naming another namespace"}): a live holder on the host -> ` +
        `the namespaced waiter failed with Lock after its 1.5 s budget, lock untouched; holder killed -> taken over once stale`
    )
  }, 60_000)

  it.live("a lock naming another PID namespace is judged by its heartbeat only; one naming ours by its pid", () =>
    Effect.gen(function*() {
      const home = homeWithLogin()
      const lockPath = path.join(home, KeyStore.LOCK_FILE)
      const dead = spawnSync(process.execPath, ["-e", "0"]).pid!
      const store = (lockTimeout: Duration.DurationInput, staleLockTimeout: Duration.DurationInput) =>
        KeyStore.makeFile({ codexHome: home, lockTimeout, staleLockTimeout }).pipe(Effect.provide(NodeFileSystem.layer))

      // Same host, a dead pid, but another namespace: that pid may be alive there. Wait; take over once stale.
      fs.writeFileSync(lockPath, JSON.stringify({ pid: dead, host: os.hostname(), pidNamespace: "pid:[4026531836999]", token: "other" }))
      const refused = yield* Effect.flip((yield* store("400 millis", "30 seconds")).exclusive(Effect.void))
      expect(refused._tag === "KeyStoreError" && refused.reason).toBe("Lock")
      // An older lock that does not say its namespace is treated alike.
      fs.writeFileSync(lockPath, JSON.stringify({ pid: dead, host: os.hostname(), token: "legacy" }))
      const legacy = yield* Effect.flip((yield* store("400 millis", "30 seconds")).exclusive(Effect.void))
      expect(legacy._tag === "KeyStoreError" && legacy.reason).toBe("Lock")
      const old = new Date(Date.now() - 60_000)
      fs.utimesSync(lockPath, old, old)
      yield* (yield* store("2 seconds", "30 seconds")).exclusive(Effect.void)

      // Our own namespace: the dead pid is proof, and the lock is taken over at once.
      fs.writeFileSync(lockPath, JSON.stringify({ pid: dead, host: os.hostname(), pidNamespace: PID_NAMESPACE, token: "ours" }))
      yield* (yield* store("2 seconds", "30 seconds")).exclusive(Effect.void)
      expect(fs.existsSync(lockPath)).toBe(false)
    }))

  it(`${ROUNDS} rounds of register racing across PID namespaces: one agent, both processes print the stored one`, async () => {
    const scope = Effect.runSync(Scope.make())
    try {
      // The reference backend, its registration answered after 400 ms so that the two runs overlap.
      const { authApiBaseUrl, baseUrl, service } = await Effect.runPromise(Effect.gen(function*() {
        const { router, service } = yield* ReferenceBackend.make({})
        const app = Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) =>
          request.url.endsWith("/v1/agent/register") ? Effect.zipRight(Effect.sleep("400 millis"), router) : router)
        const server = yield* NodeHttpServer.make(() => createServer(), { host: "127.0.0.1", port: 0 })
        yield* HttpServer.serveEffect(app).pipe(Effect.provideService(HttpServer.HttpServer, server))
        const port = server.address._tag === "TcpAddress" ? server.address.port : 0
        return { baseUrl: `http://127.0.0.1:${port}/backend-api`, authApiBaseUrl: `http://127.0.0.1:${port}/api/accounts`, service }
      }).pipe(Scope.extend(scope)))
      let exact = 0
      for (let round = 0; round < ROUNDS; round++) {
        const home = tempDir()
        fs.writeFileSync(path.join(home, "auth.json"), formatAuthDocument(await Effect.runPromise(service.issueLogin())), { mode: 0o600 })
        // The default protocol (2026-06: registration at the AuthAPI with the user's Bearer token).
        const args = [CLI, "register", "--codex-home", home, "--base-url", baseUrl, "--authapi-base-url", authApiBaseUrl, "--json"]
        const before = await Effect.runPromise(service.agentCount)
        // Either side first, in turn: the first holds the lock through its 400 ms registration.
        const hostFirst = round % 2 === 0
        const first = node(args, !hostFirst && canUnshare)
        await new Promise((r) => setTimeout(r, 100))
        const second = node(args, hostFirst && canUnshare)
        const runs = await Promise.all([first.done, second.done])
        const printed = runs.map((r) => r.code === 0 ? JSON.parse(r.stdout) : null)
        const stored = readAuth(home)["agent_identity"]?.agent_runtime_id
        const agents = (await Effect.runPromise(service.agentCount)) - before
        const ok = agents === 1 && printed.every((p) => p !== null && p.agent_runtime_id === stored) &&
          printed.filter((p) => p?.reused === false).length === 1
        if (ok) exact++
        else console.log(`round ${round}: ${agents} agents, stored ${stored}`, runs)
      }
      report(
        `PID namespace race (${canUnshare ? "host vs unshare --pid" : "no namespaces on this machine: host vs host"}): ` +
          `${ROUNDS} rounds -> one agent registered and the stored one printed by both processes in ${exact}/${ROUNDS}`
      )
      expect(exact).toBe(ROUNDS)
    } finally {
      await Effect.runPromise(Scope.close(scope, Exit.void))
    }
  }, timeout(120_000, 300_000))
})
