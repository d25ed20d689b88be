/**
 * The CLI's smaller faults (issue 12): a secret on argv, a bad log level, a readable auth.json, a
 * wrong local clock, a token no header can carry, unsafe task ids, and SIGTERM during a lock wait.
 * The CLI runs as a separate process against the reference backend on 127.0.0.1.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as TestClock from "effect/TestClock"
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { start } from "../../src/backend/server.js"
import { formatAuthDocument } from "../../src/Domain/AuthDocument.js"
import { chatgptAuthDocument } from "../../src/testing/index.js"
import { bundleEntry } from "../reliability/fixtures/bundleEntry.js"
import { withBackend } from "../utils/backend.js"
import { CLI, cleanTemps, cli, codexHomeWith, readAuth, tempDir } from "./helpers.js"

afterEach(cleanTemps)

describe("secrets only through stdin or the environment", () => {
  it("import-jwt refuses a JWT on argv (exit 2, the value not echoed, nothing stored); $AGENT_IDENTITY_JWT works", async () => {
    await withBackend({}, async ({ backend, baseUrl }) => {
      const doc = await Effect.runPromise(backend.issueLogin())
      const home = codexHomeWith(doc)
      const jwt = await Effect.runPromise(backend.issueIdentityJwt({ accountId: "account-123", userId: "user-123" }))
      const refused = await cli(["import-jwt", jwt, "--codex-home", home, "--base-url", baseUrl])
      expect(refused.code).toBe(2)
      expect(refused.stderr).toMatch(/^error: UsageError: import-jwt takes the JWT on stdin or in \$AGENT_IDENTITY_JWT, not as an argument[^\n]*\n$/)
      expect(refused.stdout + refused.stderr).not.toContain(jwt.split(".")[1]!)
      expect(readAuth(home)).toEqual(doc)

      const viaEnv = await cli(["import-jwt", "--codex-home", home, "--base-url", baseUrl, "--json"], { AGENT_IDENTITY_JWT: jwt })
      expect(viaEnv.code).toBe(0)
      expect(JSON.parse(viaEnv.stdout)).toMatchObject({ account_id: "account-123", stored: true })
      expect(readAuth(home)["agent_identity"]).toBe(jwt)
    })
  }, 60_000)
})

describe("usage errors and warnings", () => {
  it("a bad AGENT_IDENTITY_LOG_LEVEL is a usage error (exit 2), on the fast path and the full one", async () => {
    const home = codexHomeWith(chatgptAuthDocument({ accountId: "account-123", userId: "user-123" }))
    for (const command of ["status", "register", "header"]) {
      const result = await cli([command, "--codex-home", home, "--base-url", "http://127.0.0.1:1/backend-api"], { AGENT_IDENTITY_LOG_LEVEL: "loud" })
      expect(result.code, command).toBe(2)
      expect(result.stderr).toBe("error: UsageError: AGENT_IDENTITY_LOG_LEVEL must be one of all, trace, debug, info, warn, error, fatal, off (any case)\n")
    }
    expect((await cli(["status", "--codex-home", home], { AGENT_IDENTITY_LOG_LEVEL: "Debug" })).code).toBe(0)
  }, 60_000)

  it("a group- or world-readable auth.json is used, with a warning; a 0600 one without", async () => {
    const home = codexHomeWith(chatgptAuthDocument({ accountId: "account-123", userId: "user-123" }))
    const file = path.join(home, "auth.json")
    for (const [mode, who] of [[0o644, "every user"], [0o640, "its group"]] as const) {
      fs.chmodSync(file, mode)
      const result = await cli(["status", "--codex-home", home, "--json"])
      expect(result.code).toBe(0)
      expect(result.stderr).toBe(
        `warning: ${file} can be read by ${who} (mode 0${mode.toString(8)}); it holds your login and agent key: run chmod 600 on it\n`
      )
    }
    fs.chmodSync(file, 0o600)
    expect((await cli(["status", "--codex-home", home, "--json"])).stderr).toBe("")
  }, 60_000)
})

describe("a wrong local clock", () => {
  it.effect("a 401 for the task's timestamp says how far the server's clock (its Date header) is from ours", () =>
    Effect.gen(function*() {
      // The backend's clock runs 10 minutes ahead of this machine's.
      yield* TestClock.setTime(Date.now() + 600_000)
      const { backend, baseUrl } = yield* start()
      const home = codexHomeWith(yield* backend.issueLogin())
      const result = yield* Effect.promise(() => cli(["task", "--codex-home", home, "--base-url", baseUrl]))
      expect(result.code).toBe(1)
      expect(result.stderr).toMatch(/^error: HttpStatusError: task request failed with status 401 .*timestamp outside the skew window/)
      // 600 s, less the seconds the CLI took to start (its clock is read when the answer comes).
      expect(result.stderr).toMatch(/its clock is (5[4-9]\d|60[01]) s ahead of this machine's \(by its Date header\): check this machine's clock\)\n$/)
    }).pipe(Effect.scoped))
})

describe("tokens and ids from outside", () => {
  it("an access token with CR/LF is a LoginUnavailableError (MalformedToken) for register, task, header and login, under both protocols; nothing is sent", async () => {
    await withBackend({}, async ({ authApiBaseUrl, backend, baseUrl }) => {
      const token = "at_good\r\nX-Injected: 1"
      const home = codexHomeWith(chatgptAuthDocument({ accountId: "account-123", userId: "user-123", accessToken: token }))
      const before = await Effect.runPromise(backend.calls)
      const runs = [
        ...["register", "task", "header"].flatMap((command) => [
          [command, "--codex-home", home, "--base-url", baseUrl],
          [command, "--codex-home", home, "--base-url", baseUrl, "--protocol", "2026-06", "--authapi-base-url", authApiBaseUrl]
        ])
      ]
      for (const args of runs) {
        const command = args.join(" ")
        const result = await cli(args)
        expect(result.code, command).toBe(1)
        expect(result.stderr).toMatch(/^error: LoginUnavailableError: the access token holds characters an HTTP header cannot carry/)
        expect(result.stdout).toBe("")
      }
      const login = await cli(["login", "--with-access-token", "--codex-home", tempDir(), "--base-url", baseUrl, "--protocol", "2026-06"], {}, "at-token\r\nX-Injected: 1")
      expect(login.code).toBe(1)
      expect(login.stderr).toMatch(/^error: LoginUnavailableError: the access token holds characters an HTTP header cannot carry/)
      expect(await Effect.runPromise(backend.calls)).toEqual(before)
    })
  }, 60_000)

  it("unsafe task ids from the server are refused (RuntimeIdError, task) and not stored; a stored one is never signed", async () => {
    const bad = ["task\u001b[2J", "task\r\nX: 1", "", "a/b", "t".repeat(257), "..", "task\u202eevil"]
    let refused = 0
    for (const id of bad) {
      await withBackend({ sealTaskIds: false, nextTaskId: () => id }, async ({ backend, baseUrl }) => {
        const home = codexHomeWith(await Effect.runPromise(backend.issueLogin()))
        const result = await cli(["task", "--codex-home", home, "--base-url", baseUrl])
        if (result.code === 1 && /^error: RuntimeIdError: unsafe agent task id /.test(result.stderr)) refused++
        expect(readAuth(home)["agent_identity"].background_task_id).toBeUndefined()
      })
    }
    expect(refused).toBe(bad.length)

    // A stored record with such an id is not used: no assertion carries it, and register says why.
    const doc = chatgptAuthDocument({ accountId: "account-123", userId: "user-123" })
    const home = codexHomeWith({
      ...doc,
      agent_identity: {
        workspace_id: "account-123",
        chatgpt_user_id: "user-123",
        agent_runtime_id: "agent-123",
        agent_private_key: "MC4CAQAwBQYDK2VwBCIEIAcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcH",
        registered_at: "2026-04-15T00:00:00Z",
        background_task_id: "task\r\nX: 1"
      }
    })
    const header = await cli(["header", "--codex-home", home, "--base-url", "https://chatgpt.com/backend-api"])
    expect(header.stdout).toBe(`Bearer ${(doc["tokens"] as { access_token: string }).access_token}\n`)
    const register = await cli(["register", "--codex-home", home, "--base-url", "http://127.0.0.1:1/backend-api"])
    expect(register.stderr).toBe(
      "error: ForeignIdentityFormatError: auth.json holds an agent identity in another format (a record with an unsafe background_task_id); run `agent-identity forget` to replace it\n"
    )
  }, 120_000)
})

describe("SIGTERM", () => {
  let children: { script: string; dir: string }
  beforeAll(async () => {
    children = await bundleEntry("lockChildren")
  })
  afterAll(() => fs.rmSync(children.dir, { recursive: true, force: true }))

  it("ends register at once while it waits for another process's lock: exit 0, nothing written, the lock untouched", async () => {
    await withBackend({}, async ({ backend, baseUrl }) => {
      const home = tempDir()
      fs.writeFileSync(path.join(home, "auth.json"), formatAuthDocument(await Effect.runPromise(backend.issueLogin())), { mode: 0o600 })
      const holder = spawn(process.execPath, [children.script, "hold-lock", home], { stdio: ["ignore", "pipe", "inherit"] })
      try {
        await new Promise<void>((resolve) => holder.stdout.on("data", (d: Buffer) => d.toString().includes("locked") && resolve()))
        const before = fs.readFileSync(path.join(home, "auth.json"))
        const lock = fs.readFileSync(path.join(home, ".agent-identity.lock"))
        // The lock's budget is 60 s; the wait is logged after 2 s, then SIGTERM comes.
        const waiter = spawn(process.execPath, [CLI, "register", "--codex-home", home, "--base-url", baseUrl], {
          stdio: ["ignore", "pipe", "pipe"],
          env: { PATH: process.env["PATH"] ?? "", HOME: home, AGENT_IDENTITY_LOG_LEVEL: "info" }
        })
        let stderr = ""
        const exited = new Promise<number | null>((resolve) => waiter.once("exit", (code) => resolve(code)))
        await new Promise<void>((resolve) =>
          waiter.stderr.on("data", (d: Buffer) => {
            stderr += d.toString()
            if (stderr.includes("waiting for another process holding the agent identity lock")) resolve()
          })
        )
        waiter.kill("SIGTERM")
        expect(await exited).toBe(0)
        expect(stderr).not.toContain("error:")
        expect(fs.readFileSync(path.join(home, "auth.json")).equals(before)).toBe(true)
        expect(fs.readFileSync(path.join(home, ".agent-identity.lock")).equals(lock)).toBe(true)
        expect(await Effect.runPromise(backend.agentCount)).toBe(0)
      } finally {
        holder.kill("SIGKILL")
      }
    })
  }, 30_000)
})
