/**
 * Promise 19: no control character that came from outside reaches a terminal. Every CLI command is
 * run against hostile text — server error bodies, runtime and task ids from a server, from auth.json
 * and from an assertion, JWT claims and headers, paths and arguments the user gave, log lines — made
 * of every C0 control, DEL, every C1 control and the bidi controls; stdout and stderr are then swept
 * for any such character other than the newline ending a line.
 */
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { afterEach, describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as fs from "node:fs"
import * as path from "node:path"
import type { Endpoint } from "../../src/backend/ReferenceBackend.js"
import * as C from "../../src/crypto/index.js"
import { escapeControls, toSafeJson } from "../../src/Domain/Text.js"
import { chatgptAuthDocument } from "../../src/testing/index.js"
import { cleanTemps, cli, type Result, tempDir } from "../cli/helpers.js"
import { withBackend } from "../utils/backend.js"
import { report } from "../utils/profile.js"

afterEach(cleanTemps)

const codePoints = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => String.fromCodePoint(from + i))
/** Every character that must not reach a terminal. */
const CONTROLS = [...codePoints(0x00, 0x1f), ...codePoints(0x7f, 0x9f), ...codePoints(0x202a, 0x202e), ...codePoints(0x2066, 0x2069)]
const HOSTILE = `A\u001b[31mRED\u001b]0;owned\u0007\r\u0008\u009b2J\u202eevil\u2066${CONTROLS.join("")}Z`
/** The same, without NUL: what an argument or an environment variable can hold. */
const HOSTILE_ARG = HOSTILE.replace(/\u0000/g, "")
/** What is forbidden in output: all of them except the newline (which may only end a line). */
const FORBIDDEN = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/u

describe("escaping (src/Domain/Text.ts)", () => {
  it("escapes every control character and nothing else; JSON stays the same value", () => {
    for (const c of CONTROLS) expect(FORBIDDEN.test(escapeControls(`x${c}y`)) || escapeControls(`x${c}y`).includes("\n"), c).toBe(false)
    expect(escapeControls("\u001b[31m\r\n\t\u009b\u202e")).toBe("\\x1b[31m\\r\\n\\t\\x9b\\u202e")
    const plain = "agent_AbC-123 ünïcödé 日本 ✓"
    expect(escapeControls(plain)).toBe(plain)
    expect(escapeControls(escapeControls(HOSTILE))).toBe(escapeControls(HOSTILE))
    const value = { id: HOSTILE, nested: [HOSTILE, 1, null] }
    expect(FORBIDDEN.test(toSafeJson(value))).toBe(false)
    expect(JSON.parse(toSafeJson(value))).toEqual(value)
  })
})

describe("no control character from outside reaches stdout or stderr (promise 19)", () => {
  it("every command, against hostile servers, files, assertions, JWTs, paths and arguments", async () => {
    const outputs: Array<{ readonly name: string; readonly result: Result }> = []
    const run = async (name: string, args: ReadonlyArray<string>, env: Record<string, string> = {}, input?: string) =>
      outputs.push({ name, result: await cli(args, env, input) })
    const homeWith = (doc: unknown) => {
      const home = tempDir()
      fs.writeFileSync(path.join(home, "auth.json"), JSON.stringify(doc, null, 2), { mode: 0o600 })
      return home
    }

    // Servers whose error bodies are hostile, on every endpoint, with logs on.
    const body = (status: number) => () => Effect.succeed(HttpServerResponse.text(HOSTILE, { status }))
    const faults: Record<string, Partial<Record<Endpoint, () => Effect.Effect<HttpServerResponse.HttpServerResponse>>>> = {
      "biscuit 500": { biscuit: body(500) },
      "biscuit 401": { biscuit: body(401) },
      "register 400": { register: body(400) },
      "register 503": { register: body(503) },
      "task 500": { task: body(500) },
      "task 401 timestamp": { task: () => Effect.succeed(HttpServerResponse.text(`timestamp ${HOSTILE}`, { status: 401 })) },
      "jwks 500": { jwks: body(500) }
    }
    for (const [name, fault] of Object.entries(faults)) {
      await withBackend({ fault: (endpoint) => Option.fromNullable(fault[endpoint]?.()) }, async ({ backend, baseUrl }) => {
        const home = homeWith(await Effect.runPromise(backend.issueLogin()))
        // `task` registers the agent first, so it meets every endpoint's fault.
        await run(`${name}: task`, ["task", "--codex-home", home, "--base-url", baseUrl], { AGENT_IDENTITY_LOG_LEVEL: "debug" })
        await run(`${name}: task --json`, ["task", "--codex-home", home, "--base-url", baseUrl, "--json"])
        if (name.startsWith("jwks")) await run(`${name}: import-jwt`, ["import-jwt", "--codex-home", home, "--base-url", baseUrl], {}, "a.b.c")
      })
    }

    // Servers answering hostile ids (the runtime id; a plain task id).
    await withBackend({ nextRuntimeId: () => HOSTILE }, async ({ backend, baseUrl }) => {
      const home = homeWith(await Effect.runPromise(backend.issueLogin()))
      await run("hostile runtime id: register", ["register", "--codex-home", home, "--base-url", baseUrl], { AGENT_IDENTITY_LOG_LEVEL: "debug" })
    })
    await withBackend({ sealTaskIds: false, nextTaskId: () => HOSTILE }, async ({ backend, baseUrl }) => {
      const home = homeWith(await Effect.runPromise(backend.issueLogin()))
      await run("hostile task id: task", ["task", "--codex-home", home, "--base-url", baseUrl], { AGENT_IDENTITY_LOG_LEVEL: "debug" })
      await run("hostile task id: task --json", ["task", "--codex-home", home, "--base-url", baseUrl, "--json"])
      expect(JSON.parse(fs.readFileSync(path.join(home, "auth.json"), "utf8")).agent_identity.background_task_id).toBeUndefined()
    })

    // auth.json with hostile values: login claims and account, a stored record, a JWT identity.
    const key = C.keyFromSeed(new Uint8Array(32).fill(9))
    const hostileLogin = chatgptAuthDocument({ accountId: HOSTILE, userId: HOSTILE, accessToken: "at_plain" })
    const records = {
      "hostile record ids": { workspace_id: HOSTILE, chatgpt_user_id: HOSTILE, agent_runtime_id: HOSTILE, registered_at: HOSTILE, background_task_id: HOSTILE },
      "hostile registered_at": { workspace_id: HOSTILE, chatgpt_user_id: HOSTILE, agent_runtime_id: "agent-1", registered_at: HOSTILE, background_task_id: "task-1" }
    }
    for (const [name, record] of Object.entries(records)) {
      const home = homeWith({ ...hostileLogin, agent_identity: { ...record, agent_private_key: C.encodePrivateKeyBase64(key) } })
      for (const args of [["status"], ["status", "--json"], ["header"], ["header", "--json"], ["header", "--trust-host", "127.0.0.1"], ["forget"]]) {
        await run(`${name}: ${args.join(" ")}`, [...args, "--codex-home", home, "--base-url", "http://127.0.0.1:1/backend-api"], {
          AGENT_IDENTITY_LOG_LEVEL: "debug"
        })
      }
    }
    const jwtPart = (value: unknown) => C.encodeBase64Url(new TextEncoder().encode(JSON.stringify(value)))
    const hostileJwt = [
      jwtPart({ alg: "RS256", kid: HOSTILE }),
      jwtPart({ iss: HOSTILE, aud: HOSTILE, iat: 1, exp: 2, agent_runtime_id: HOSTILE, agent_private_key: HOSTILE, account_id: HOSTILE, chatgpt_user_id: HOSTILE, email: HOSTILE, plan_type: HOSTILE, chatgpt_account_is_fedramp: false }),
      "c2ln"
    ].join(".")
    const jwtHome = homeWith({ ...hostileLogin, agent_identity: hostileJwt })
    for (const args of [["status"], ["status", "--json"], ["header"], ["register"]]) {
      await run(`JWT identity: ${args.join(" ")}`, [...args, "--codex-home", jwtHome, "--base-url", "http://127.0.0.1:1/backend-api"], { AGENT_IDENTITY_LOG_LEVEL: "debug" })
    }
    await withBackend({}, async ({ backend, baseUrl }) => {
      const home = homeWith(await Effect.runPromise(backend.issueLogin()))
      await run("import-jwt: a hostile kid", ["import-jwt", "--codex-home", home, "--base-url", baseUrl], {}, hostileJwt)
    })

    // An assertion carrying hostile ids, correctly signed: verify reports them.
    const forged = C.buildAgentAssertion(key, { agentRuntimeId: HOSTILE, taskId: HOSTILE, timestamp: C.formatTimestamp(Date.now()) })
    const publicKey = C.encodeSshPublicKey(key.publicKey)
    await run("verify: hostile ids", ["verify", forged, "--public-key", publicKey])
    await run("verify: hostile ids --json", ["verify", forged, "--public-key", publicKey, "--json"])
    await run("verify: a hostile key", ["verify", forged, "--public-key", HOSTILE_ARG])

    // What the user typed: a path, an unknown argument, a host to serve on, a log level.
    const odd = path.join(tempDir(), HOSTILE_ARG.replace(/\//g, ""))
    await run("status: a hostile path", ["status", "--codex-home", odd])
    await run("status: a hostile path in $CODEX_HOME", ["status"], { CODEX_HOME: odd })
    await run("an unknown argument", ["status", `--${HOSTILE_ARG}`])
    await run("serve on a hostile host", ["serve", "--host", HOSTILE_ARG, "--port", "1"])
    await run("a hostile log level", ["status"], { AGENT_IDENTITY_LOG_LEVEL: HOSTILE_ARG })
    await run("login: a hostile token", ["login", "--with-access-token", "--codex-home", tempDir(), "--protocol", "2026-06"], {}, HOSTILE)
    await run("login: a hostile JWT", ["login", "--with-access-token", "--codex-home", tempDir(), "--protocol", "2026-06"], {}, hostileJwt)

    let dirty = 0
    let escaped = 0
    for (const { name, result } of outputs) {
      for (const [stream, text] of [["stdout", result.stdout], ["stderr", result.stderr]] as const) {
        const found = FORBIDDEN.exec(text)
        if (found !== null) {
          dirty++
          console.log(`${name}: U+${found[0].codePointAt(0)!.toString(16).padStart(4, "0")} on ${stream}: ${JSON.stringify(text.slice(0, 300))}`)
        }
        if (/\\x1b|\\u001b/.test(text)) escaped++
      }
    }
    report(
      `terminal: ${outputs.length} command runs (${outputs.length * 2} streams) against hostile text of ${CONTROLS.length} control characters -> ` +
        `${dirty} streams with a control character; ${escaped} showed the hostile text escaped`
    )
    expect(dirty).toBe(0)
    expect(escaped).toBeGreaterThan(10)
  }, 300_000)
})
