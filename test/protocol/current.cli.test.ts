/**
 * The CLI under the default protocol (2026-06), as separate processes against the reference backend:
 * the AuthAPI base it needs, register/task/header for a ChatGPT and a FedRAMP login, `login
 * --with-access-token` (JWT and personal access token), `CODEX_ACCESS_TOKEN`, and refused JWTs that write
 * nothing. Every auth.json left behind is checked with both Codex readers.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { start } from "../../src/backend/server.js"
import type { Service as Backend } from "../../src/backend/ReferenceBackend.js"
import { CLI, cleanTemps, codexHomeWith, type Result, tempDir } from "../cli/helpers.js"
import { codexReaders } from "../utils/codexReaders.js"

/** Runs the CLI with `input` on stdin, the default protocol, and a clean environment. */
const run = (args: ReadonlyArray<string>, options: { readonly input?: string; readonly env?: Record<string, string> } = {}) =>
  new Promise<Result>((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      env: { PATH: process.env["PATH"] ?? "", HOME: tempDir(), ...options.env },
      stdio: ["pipe", "pipe", "pipe"]
    })
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (d) => (stdout += d))
    child.stderr.on("data", (d) => (stderr += d))
    child.on("close", (code) => resolve({ code: code ?? 1, stdout, stderr }))
    child.stdin.end(options.input ?? "")
  })

const json = (text: string) => JSON.parse(text) as Record<string, any>
const readAuthText = (home: string) => fs.readFileSync(path.join(home, "auth.json"), "utf8")

let scope: Scope.CloseableScope
let backend: Backend
let baseUrl = ""
let authApi = ""
beforeAll(async () => {
  scope = await Effect.runPromise(Scope.make())
  const started = await Effect.runPromise(Scope.extend(start(), scope))
  backend = started.backend
  baseUrl = started.baseUrl
  authApi = started.authApiBaseUrl
})
afterAll(() => Effect.runPromise(Scope.close(scope, Exit.void)))
afterEach(cleanTemps)

const urls = () => ["--base-url", baseUrl, "--authapi-base-url", authApi, "--trust-host", "127.0.0.1"]
const whoami = (headers: Record<string, string>) =>
  fetch(`${baseUrl}/v1/whoami`, { headers }).then(async (r) => ({ status: r.status, body: await r.json() as Record<string, unknown> }))

describe("agent-identity, protocol 2026-06", () => {
  it("a base URL outside the ChatGPT environments needs --authapi-base-url: exit 1, one line naming it, no request", async () => {
    const home = codexHomeWith(await Effect.runPromise(backend.issueLogin()))
    const before = await Effect.runPromise(backend.calls)
    const result = await run(["register", "--codex-home", home, "--base-url", baseUrl])
    expect(result.code).toBe(1)
    expect(result.stderr.trim().split("\n")).toHaveLength(1)
    expect(result.stderr).toMatch(/^error: SettingsError: .*--authapi-base-url/)
    expect(await Effect.runPromise(backend.calls)).toEqual(before)
  })

  it("a ChatGPT login: register, task, header --json with its headers; the request is accepted; both Codexes read auth.json", async () => {
    const login = await Effect.runPromise(backend.issueLogin({ accountId: "acct-cli", userId: "user-cli", planType: "team" }))
    const home = codexHomeWith(login)
    const registered = await run(["register", "--codex-home", home, ...urls(), "--json"])
    expect(registered.code).toBe(0)
    expect(Object.keys(json(registered.stdout))).toEqual(["agent_runtime_id", "public_key", "reused"])
    const task = json((await run(["task", "--codex-home", home, ...urls(), "--json"])).stdout)
    expect(task).toMatchObject({ agent_runtime_id: json(registered.stdout)["agent_runtime_id"], reused: false })
    const header = json((await run(["header", "--codex-home", home, ...urls(), "--json"])).stdout)
    expect(header["scheme"]).toBe("AgentAssertion")
    expect(header["headers"]).toEqual({ Authorization: header["authorization"], "ChatGPT-Account-ID": "acct-cli" })
    expect((await whoami(header["headers"])).status).toBe(200)
    const text = (await run(["header", "--codex-home", home, ...urls()])).stdout
    expect(text).toBe(`${header["authorization"].split(" ")[0]} ${text.split(" ")[1]}`) // still one Authorization line

    const doc = JSON.parse(readAuthText(home))
    expect(codexReaders(doc)).toEqual({ seed: null, current: null })
    expect(doc["agent_identity"]).toMatchObject({ account_id: "acct-cli", workspace_id: "acct-cli", plan_type: "team", task_id: task["task_id"] })
    const { agent_identity: _, ...rest } = doc
    expect(rest).toEqual(login)
    // status names the task of the protocol in use.
    const status = json((await run(["status", "--codex-home", home, ...urls(), "--json"])).stdout)
    expect(status["identity"]["background_task_id"]).toBe(task["task_id"])
  })

  it("a FedRAMP login: X-OpenAI-Fedramp in header --json, and the backend accepts the request", async () => {
    const home = codexHomeWith(await Effect.runPromise(backend.issueLogin({ accountId: "acct-fed", userId: "u", isFedramp: true })))
    expect((await run(["task", "--codex-home", home, ...urls()])).code).toBe(0)
    const header = json((await run(["header", "--codex-home", home, ...urls(), "--json"])).stdout)
    expect(header["headers"]).toMatchObject({ "ChatGPT-Account-ID": "acct-fed", "X-OpenAI-Fedramp": "true" })
    expect((await whoami(header["headers"])).status).toBe(200)
    expect(JSON.parse(readAuthText(home))["agent_identity"]["chatgpt_account_is_fedramp"]).toBe(true)
  })

  it("login --with-access-token stores a JWT as Codex does; task and header then work, auth.json unchanged, the task kept beside it", async () => {
    const jwt = await Effect.runPromise(backend.issueIdentityJwt({ accountId: "acct-jwt", userId: "user-jwt" }))
    const home = tempDir()
    const login = await run(["login", "--with-access-token", "--codex-home", home, ...urls(), "--json"], { input: `${jwt}\n` })
    expect(login.code).toBe(0)
    expect(json(login.stdout)).toMatchObject({ account_id: "acct-jwt", auth_mode: "agentIdentity" })
    const written = readAuthText(home)
    expect(written).toBe(`{\n  "auth_mode": "agentIdentity",\n  "OPENAI_API_KEY": null,\n  "agent_identity": "${jwt}"\n}`)
    expect(codexReaders(JSON.parse(written)).current).toBeNull()
    expect(login.stdout + login.stderr).not.toContain(jwt)

    const task = json((await run(["task", "--codex-home", home, ...urls(), "--json"])).stdout)
    expect(task["reused"]).toBe(false)
    expect(json((await run(["task", "--codex-home", home, ...urls(), "--json"])).stdout)).toMatchObject({ task_id: task["task_id"], reused: true })
    const header = json((await run(["header", "--codex-home", home, ...urls(), "--json"])).stdout)
    const accepted = await whoami(header["headers"])
    expect(accepted).toMatchObject({ status: 200, body: { agent_runtime_id: task["agent_runtime_id"], task_id: task["task_id"] } })
    expect(readAuthText(home)).toBe(written)
    expect(fs.statSync(path.join(home, "agent-identity-tasks.json")).mode & 0o777).toBe(0o600)
  })

  it("CODEX_ACCESS_TOKEN is the login for the run: task and header work and no auth.json is written", async () => {
    const jwt = await Effect.runPromise(backend.issueIdentityJwt({ accountId: "acct-env", userId: "user-env" }))
    const home = tempDir()
    const env = { CODEX_ACCESS_TOKEN: jwt }
    expect((await run(["task", "--codex-home", home, ...urls()], { env })).code).toBe(0)
    const header = json((await run(["header", "--codex-home", home, ...urls(), "--json"], { env })).stdout)
    expect((await whoami(header["headers"])).status).toBe(200)
    expect(fs.existsSync(path.join(home, "auth.json"))).toBe(false)
  })

  it("refused JWTs (forged, expired, wrong audience, wrong issuer, no kid) exit 1 and write nothing", async () => {
    const good = await Effect.runPromise(backend.issueIdentityJwt({ accountId: "a", userId: "u" }))
    const [head, body] = good.split(".")
    const refused = {
      forged: `${head}.${body}.${"A".repeat(342)}`,
      expired: await Effect.runPromise(backend.issueIdentityJwt({ accountId: "a", userId: "u", ttlSeconds: -3600 })),
      audience: await Effect.runPromise(backend.issueIdentityJwt({ accountId: "a", userId: "u", audience: "someone-else" })),
      issuer: await Effect.runPromise(backend.issueIdentityJwt({ accountId: "a", userId: "u", issuer: "https://evil.example/" })),
      kidless: await Effect.runPromise(backend.issueIdentityJwt({ accountId: "a", userId: "u", kid: null }))
    }
    for (const [why, jwt] of Object.entries(refused)) {
      const home = codexHomeWith({ kept: true })
      const result = await run(["login", "--with-access-token", "--codex-home", home, ...urls()], { input: jwt })
      expect([why, result.code]).toEqual([why, 1])
      expect(result.stderr).toMatch(/^error: AgentIdentityJwtError: /)
      expect(JSON.parse(readAuthText(home))).toEqual({ kept: true })
    }
  })

  it("a personal access token: login checks it with the AuthAPI's whoami and writes it as Codex does; header is Bearer", async () => {
    const token = await Effect.runPromise(backend.issuePersonalAccessToken({ accountId: "acct-pat", userId: "user-pat" }))
    const home = tempDir()
    const env = { CODEX_AUTHAPI_BASE_URL: authApi }
    const login = await run(["login", "--with-access-token", "--codex-home", home, ...urls(), "--json"], { input: token, env })
    expect(login.code).toBe(0)
    expect(json(login.stdout)).toEqual({ auth_mode: "personalAccessToken", agent_runtime_id: null, account_id: "acct-pat" })
    expect(readAuthText(home)).toBe(`{\n  "OPENAI_API_KEY": null,\n  "personal_access_token": "${token}"\n}`)
    const header = json((await run(["header", "--codex-home", home, ...urls(), "--json"], { env })).stdout)
    expect(header).toMatchObject({ scheme: "Bearer", authorization: `Bearer ${token}` })
    const bad = await run(["login", "--with-access-token", "--codex-home", tempDir(), ...urls()], { input: "at-not-issued", env })
    expect(bad.code).toBe(1)
  })

  it("demo (npm start) shows the 2026-06 flow: a ChatGPT login and an access-token login, each step saying what it is for", async () => {
    const result = await run(["demo"])
    expect(result.code).toBe(0)
    const lines = result.stdout.trim().split("\n")
    expect(lines.map((l) => l.split(" ")[0])).toEqual(["1.", "2.", "3.", "4.", "5.", "6.", "7.", "8.", "9.", "done."])
    expect(lines[0]).toContain("protocol 2026-06")
    expect(lines[8]).toMatch(/With no ChatGPT login at all, it registered task task_\S+ and its request was accepted/)
  })

  it("--protocol 2026-04 keeps the seed's flow (biscuits at the backend, background_task_id) and both Codexes read the record", async () => {
    const home = codexHomeWith(await Effect.runPromise(backend.issueLogin({ accountId: "acct-seed", userId: "u" })))
    const before = await Effect.runPromise(backend.calls)
    expect((await run(["task", "--protocol", "2026-04", "--codex-home", home, "--base-url", baseUrl])).code).toBe(0)
    const after = await Effect.runPromise(backend.calls)
    expect(after.biscuit - before.biscuit).toBe(2)
    const doc = JSON.parse(readAuthText(home))
    expect(codexReaders(doc)).toEqual({ seed: null, current: null })
    expect(doc["agent_identity"]["background_task_id"]).toMatch(/^task_/)
    expect(doc["agent_identity"]["task_id"]).toBeUndefined()
    const bad = await run(["status", "--protocol", "2026-05", "--codex-home", home])
    expect(bad.code).toBe(1)
    expect(bad.stderr).toMatch(/^error: SettingsError: setting protocol must be one of 2026-04, 2026-06/)
  })
})
