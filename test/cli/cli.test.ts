/** The `agent-identity` CLI as a separate process against the reference backend on 127.0.0.1 (spec/cli.md). */
import { afterEach, describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { spawn } from "node:child_process"
import type { Service as Backend } from "../../src/backend/ReferenceBackend.js"
import { backendPerFile } from "../utils/backend.js"
import * as C from "../../src/crypto/index.js"
import { loadVectors } from "../utils/vectors.js"
import { CLI, cleanTemps, cli, codexHomeWith, readAuth, tempDir } from "./helpers.js"

let backend: Backend
let baseUrl: string
const trust = ["--trust-host", "127.0.0.1"]
backendPerFile((started) => ({ backend, baseUrl } = started))
afterEach(cleanTemps)

const login = (extra: Record<string, unknown> = {}): Promise<Record<string, any>> =>
  Effect.runPromise(backend.issueLogin()).then((doc) => ({ ...doc, ...extra }))
const json = (stdout: string) => JSON.parse(stdout) as Record<string, any>

/**
 * A CODEX_HOME whose auth.json holds a login and a stored identity with a task, written directly (as
 * Codex would have left it), for tests of commands that only read it; registration has its own test.
 */
const homeWithIdentity = async (privateKey: string = loadVectors().seeds[0]!.pkcs8_v2_base64) => {
  const doc = await login()
  const claims = JSON.parse(Buffer.from(doc["tokens"].id_token.split(".")[1], "base64url").toString())
  const identity = {
    workspace_id: doc["tokens"].account_id,
    chatgpt_user_id: claims["https://api.openai.com/auth"].chatgpt_user_id,
    agent_runtime_id: "agent-123",
    agent_private_key: privateKey,
    registered_at: "2026-04-15T00:00:00Z",
    background_task_id: "task-123"
  }
  return { doc, home: codexHomeWith({ ...doc, agent_identity: identity }), identity }
}

describe("agent-identity", () => {
  it("register, then task: JSON shapes, reuse, auth.json kept and 0600", async () => {
    const original = await login({ unknown_field: { nested: [1, "two"] } })
    const home = codexHomeWith(original)
    fs.chmodSync(path.join(home, "auth.json"), 0o644)
    const base = ["--codex-home", home, "--base-url", baseUrl, "--json"]

    const first = await cli(["register", ...base])
    expect(first.code).toBe(0)
    const registered = json(first.stdout)
    expect(Object.keys(registered)).toEqual(["agent_runtime_id", "public_key", "reused"])
    expect(registered["reused"]).toBe(false)
    expect(registered["public_key"]).toMatch(/^ssh-ed25519 [A-Za-z0-9+/]{68}$/)
    expect(json((await cli(["register", ...base])).stdout)).toEqual({ ...registered, reused: true })

    const task = await cli(["task", ...base])
    expect(task.code).toBe(0)
    const taskJson = json(task.stdout)
    expect(Object.keys(taskJson)).toEqual(["agent_runtime_id", "task_id", "reused"])
    expect(taskJson).toMatchObject({ agent_runtime_id: registered["agent_runtime_id"], reused: false })
    expect(json((await cli(["task", ...base])).stdout)).toEqual({ ...taskJson, reused: true })

    const stored = readAuth(home)
    const { agent_identity, ...rest } = stored
    expect(rest).toEqual(original)
    expect(agent_identity).toMatchObject({ agent_runtime_id: registered["agent_runtime_id"], background_task_id: taskJson["task_id"] })
    expect(fs.statSync(path.join(home, "auth.json")).mode & 0o777).toBe(0o600)
    expect(first.stdout + task.stdout).not.toContain(agent_identity.agent_private_key)
  })

  it("header: AgentAssertion for a trusted host (flag or env), Bearer otherwise; one line; no network", async () => {
    const { doc, home, identity } = await homeWithIdentity()
    const base = ["--codex-home", home, "--base-url", baseUrl]
    const before = await Effect.runPromise(backend.calls)

    const [trusted, viaEnv, untrusted, untrustedJson] = await Promise.all([
      cli(["header", ...base, ...trust, "--json"]),
      cli(["header", ...base], { AGENT_IDENTITY_TRUSTED_HOSTS: "example.com, 127.0.0.1" }),
      cli(["header", ...base]),
      cli(["header", ...base, "--json"])
    ])
    expect(trusted.code).toBe(0)
    const header = json(trusted.stdout)
    expect(Object.keys(header)).toEqual(["authorization", "scheme"])
    expect(header["scheme"]).toBe("AgentAssertion")
    const publicKey = C.keyFromSeed((C.decodePrivateKeyBase64(identity.agent_private_key) as any).right.seed).publicKey
    const verified = C.verifyAgentAssertion(header["authorization"], publicKey)
    expect(verified._tag === "Right" && [verified.right.agentRuntimeId, verified.right.taskId]).toEqual(["agent-123", "task-123"])

    expect(viaEnv.stdout).toMatch(/^AgentAssertion [A-Za-z0-9_-]+\n$/)
    expect(untrusted.stdout).toBe(`Bearer ${doc.tokens.access_token}\n`)
    expect(json(untrustedJson.stdout)).toEqual({ authorization: `Bearer ${doc.tokens.access_token}`, scheme: "Bearer" })
    expect(await Effect.runPromise(backend.calls)).toEqual(before)
  })

  it("header and status read keys written as PKCS#8 v1 and v2", async () => {
    // One seed: which keys decode is the crypto core's (every vector, both forms); here, that the CLI reads both.
    const seeds = loadVectors().seeds.slice(0, 1)
    const cases = seeds.flatMap((seed) => [seed.pkcs8_base64, seed.pkcs8_v2_base64].map((stored) => ({ seed, stored })))
    await Promise.all(cases.map(async ({ seed, stored }) => {
      const { home } = await homeWithIdentity(stored)
      const base = ["--codex-home", home, "--base-url", "https://chatgpt.com/backend-api"]
      const [header, status] = await Promise.all([cli(["header", ...base, "--json"]), cli(["status", ...base, "--json"])])
      const authorization = json(header.stdout)["authorization"] as string
      const verified = C.verifyAgentAssertion(authorization, C.keyFromSeed(Buffer.from(seed.seed_hex, "hex")).publicKey)
      expect(verified._tag === "Right" && verified.right.taskId).toBe("task-123")
      expect(json(status.stdout)["identity"]["public_key"]).toBe(seed.public_key_ssh)
    }))
    expect(cases.map((c) => c.stored.slice(0, 8))).toEqual(expect.arrayContaining(["MFECAQEw", "MC4CAQAw"]))
  })

  it("status: binding and identity, never the private key", async () => {
    const doc = await login()
    const bare = codexHomeWith(doc)
    const { home, identity } = await homeWithIdentity()
    const [none, result, text] = await Promise.all([
      cli(["status", "--codex-home", bare, "--base-url", baseUrl, "--json"]),
      cli(["status", "--codex-home", home, "--base-url", baseUrl, "--json"]),
      cli(["status", "--codex-home", home, "--base-url", baseUrl])
    ])
    expect(json(none.stdout)).toEqual({
      binding: { binding_id: `chatgpt-account-${doc.tokens.account_id}`, account_id: doc.tokens.account_id, user_id: expect.any(String) },
      identity: null
    })
    const status = json(result.stdout)
    expect(Object.keys(status["identity"])).toEqual(["agent_runtime_id", "public_key", "registered_at", "background_task_id", "task_id"])
    expect(status["identity"]).toMatchObject({ agent_runtime_id: "agent-123", task_id: "task-123", background_task_id: "task-123", public_key: loadVectors().seeds[0]!.public_key_ssh })
    for (const out of [result.stdout, text.stdout]) expect(out).not.toContain(identity.agent_private_key)
    expect(text.stdout).toContain("background task: task-123")
  })

  it("verify: the vector header is valid within the skew window and invalid outside it; a tampered header exits 1", async () => {
    const v = loadVectors().seeds[0]!
    const skewOk = Math.ceil((Date.now() - Date.parse(v.agent_assertion.timestamp)) / 1000) + 60
    // Which headers the parser refuses is the crypto core's (every negative vector, test/crypto/vectors.test.ts);
    // here, how the command reports a refusal: a bad signature, another scheme.
    const tampered = loadVectors().negative.agent_assertion.vectors.filter((n) => ["tampered_signature", "wrong_scheme"].includes(n.name))
    expect(tampered.length).toBe(2)
    const [valid, stale, ...refused] = await Promise.all([
      cli(["verify", v.agent_assertion.header, "--public-key", v.public_key_ssh, "--max-skew-seconds", String(skewOk), "--json"]),
      cli(["verify", v.agent_assertion.header, "--public-key", v.public_key_ssh, "--json"]),
      ...tampered.map((bad) => cli(["verify", bad.header, "--public-key", v.public_key_ssh, "--max-skew-seconds", String(skewOk)]))
    ])
    expect(valid!.code).toBe(0)
    expect(json(valid!.stdout)).toEqual({ valid: true, agent_runtime_id: "agent-123", task_id: "task-123", timestamp: v.agent_assertion.timestamp })

    expect(stale!.code).toBe(1)
    expect(json(stale!.stdout)).toEqual({ valid: false, agent_runtime_id: null, task_id: null, timestamp: null })
    expect(stale!.stderr).toMatch(/^error: AssertionRejectedError: timestamp \S+ is more than 300 s from now\n$/)

    for (const result of refused) {
      expect(result.code).toBe(1)
      expect(result.stderr).toMatch(/^error: AssertionRejectedError: [^\n]*\n$/)
      expect(result.stderr).not.toContain("from now")
    }
  })

  it("forget removes the identity and nothing else", async () => {
    const { doc, home } = await homeWithIdentity()
    expect(json((await cli(["forget", "--codex-home", home, "--json"])).stdout)).toEqual({ removed: true })
    expect(readAuth(home)).toEqual(doc)
    expect(json((await cli(["forget", "--codex-home", home, "--json"])).stdout)).toEqual({ removed: false })
  })

  it("environment defaults: $CODEX_HOME, $CHATGPT_BASE_URL, then ~/.codex", async () => {
    const home = codexHomeWith(await login())
    const user = tempDir()
    fs.mkdirSync(path.join(user, ".codex"))
    fs.writeFileSync(path.join(user, ".codex", "auth.json"), JSON.stringify(await login()))
    const [viaEnv, viaHome, none] = await Promise.all([
      cli(["register", "--json"], { CODEX_HOME: home, CHATGPT_BASE_URL: baseUrl }),
      cli(["register", "--base-url", baseUrl, "--json"], { HOME: user }),
      // An empty home: ~/.codex/auth.json is read, and it holds no login.
      cli(["register"], { HOME: tempDir() })
    ])
    expect(viaEnv.code).toBe(0)
    expect(readAuth(home)["agent_identity"].agent_runtime_id).toBe(json(viaEnv.stdout)["agent_runtime_id"])
    expect(viaHome.code).toBe(0)
    expect(readAuth(path.join(user, ".codex"))["agent_identity"].agent_runtime_id).toBe(json(viaHome.stdout)["agent_runtime_id"])
    expect(none.code).toBe(1)
    expect(none.stderr).toBe("error: LoginUnavailableError: no ChatGPT login found in auth.json; run `codex login` first\n")
  })

  it("failures: exit 1 with one stderr line that holds no secret", async () => {
    const doc = await login()
    const apiKey = codexHomeWith({ OPENAI_API_KEY: "sk-secret-canary", auth_mode: "apikey" })
    const [result, refused] = await Promise.all([
      cli(["register", "--codex-home", apiKey, "--base-url", baseUrl]),
      cli(["register", "--codex-home", codexHomeWith(doc), "--base-url", "http://127.0.0.1:1/backend-api"])
    ])
    expect(result.code).toBe(1)
    expect(result.stderr).toMatch(/^error: LoginUnavailableError: .*API-key login.*\n$/)
    expect(result.stderr).not.toContain("sk-secret-canary")

    expect(refused.code).toBe(1)
    expect(refused.stderr).toMatch(/^error: TransportError: [^\n]*\n$/)
    expect(refused.stderr).not.toContain(doc.tokens.access_token)
  })

  it("usage errors exit 2; --help exits 0 for the root and every command", async () => {
    const usage = await Promise.all([["header", "--no-such-option"], ["no-such-command"], ["verify"], ["serve", "--port", "not-a-number"]].map((args) => cli(args)))
    expect(usage.map((r) => r.code)).toEqual([2, 2, 2, 2])
    const commands = ["register", "task", "header", "status", "verify", "forget", "import-jwt", "serve", "demo"]
    const [help, ...each] = await Promise.all([cli(["--help"]), ...commands.map((command) => cli([command, "--help"]))])
    expect(help!.code).toBe(0)
    for (const command of commands) expect(help!.stdout).toContain(command)
    each.forEach((result, i) => {
      expect(result.code).toBe(0)
      expect(result.stdout).toContain(commands[i])
    })
  })

  it("serve runs the reference backend as a process until SIGTERM", async () => {
    const child = spawn(process.execPath, [CLI, "serve", "--port", "0", "--json"], { stdio: ["ignore", "pipe", "pipe"] })
    const line = await new Promise<string>((resolve) => child.stdout.once("data", (d: Buffer) => resolve(d.toString())))
    const served = json(line)["base_url"] as string
    expect(served).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/backend-api$/)
    const doc = await (await fetch(`${served}/test/login`, { method: "POST" })).json()
    const home = codexHomeWith(doc)
    const task = await cli(["task", "--codex-home", home, "--base-url", served, "--json"])
    expect(task.code).toBe(0)
    const header = json((await cli(["header", "--codex-home", home, "--base-url", served, ...trust, "--json"])).stdout)
    const whoami = await (await fetch(`${served}/v1/whoami`, { headers: { authorization: header["authorization"] } })).json()
    expect(whoami).toMatchObject({ scheme: "AgentAssertion", task_id: json(task.stdout)["task_id"] })
    const code = await new Promise<number | null>((resolve) => {
      child.once("exit", (c) => resolve(c))
      child.kill("SIGTERM")
    })
    expect(code).toBe(0)
  })

  it("demo under protocol 2026-04 runs the whole flow and exits 0, as text and as JSON (npm start's default: test/protocol)", async () => {
    const [result, asJsonRun] = await Promise.all([cli(["demo"]), cli(["demo", "--json"])])
    expect(result.code).toBe(0)
    const lines = result.stdout.trim().split("\n")
    expect(lines.map((l) => l.split(" ")[0])).toEqual(["1.", "2.", "3.", "4.", "5.", "6.", "7.", "done."])
    expect(lines[5]).toMatch(/^6\. A request carrying it is accepted: GET \/v1\/whoami answered 200/)
    expect(lines[6]).toMatch(/^7\. .*without the backend: valid for task task_\S+\.$/)
    // It ends with what to try next.
    expect(lines[7]).toMatch(/^done\. Next: `agent-identity serve` starts this backend and prints the three commands/)
    expect(asJsonRun.code).toBe(0)
    const asJson = json(asJsonRun.stdout)
    expect(asJson["ok"]).toBe(true)
    expect(asJson["whoami"]["scheme"]).toBe("AgentAssertion")
  })
})
