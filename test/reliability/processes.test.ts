/**
 * Promises 2 and 14, with the built CLI as separate processes against the reference backend on
 * 127.0.0.1: racing processes make one registration per round; no secret reaches any output.
 */
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { afterEach, describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as fs from "node:fs"
import * as path from "node:path"
import type { Endpoint } from "../../src/backend/ReferenceBackend.js"
import * as C from "../../src/crypto/index.js"
import { formatAuthDocument } from "../../src/Domain/AuthDocument.js"
import { cleanTemps, cli, readAuth, tempDir } from "../cli/helpers.js"
import { withBackend } from "../utils/backend.js"
import { counts, report, timeout } from "../utils/profile.js"

const PROCESSES = counts.racers
const ROUNDS = counts.raceRounds
afterEach(cleanTemps)

describe("processes racing on one CODEX_HOME (promise 2)", () => {
  it(`${PROCESSES} CLI processes x ${ROUNDS} round${ROUNDS === 1 ? "" : "s"} racing register, then task: one registration per round, the same ids everywhere`, async () => {
    await withBackend({}, async ({ backend, baseUrl }) => {
      const home = tempDir()
      fs.writeFileSync(path.join(home, "auth.json"), formatAuthDocument(await Effect.runPromise(backend.issueLogin())), { mode: 0o600 })
      const args = (command: string) => [command, "--codex-home", home, "--base-url", baseUrl, "--json"]
      let exact = 0
      for (let round = 0; round < ROUNDS; round++) {
        const agentsBefore = await Effect.runPromise(backend.agentCount)
        const tasksBefore = await Effect.runPromise(backend.taskCount)
        const registers = await Promise.all(Array.from({ length: PROCESSES }, () => cli(args("register"))))
        const tasks = await Promise.all(Array.from({ length: PROCESSES }, () => cli(args("task"))))
        const ids = new Set(registers.map((r) => JSON.parse(r.stdout).agent_runtime_id))
        const taskIds = new Set(tasks.map((r) => `${JSON.parse(r.stdout).agent_runtime_id}/${JSON.parse(r.stdout).task_id}`))
        const auth = readAuth(home)
        const ok = [...registers, ...tasks].every((r) => r.code === 0) &&
          ids.size === 1 && taskIds.size === 1 &&
          registers.filter((r) => !JSON.parse(r.stdout).reused).length === 1 &&
          tasks.filter((r) => !JSON.parse(r.stdout).reused).length === 1 &&
          (await Effect.runPromise(backend.agentCount)) - agentsBefore === 1 &&
          (await Effect.runPromise(backend.taskCount)) - tasksBefore === 1 &&
          auth["agent_identity"].agent_runtime_id === [...ids][0]
        if (ok) exact++
        else console.log("round", round, registers, tasks)
        // Back to no identity for the next round (the forget command itself is tested in test/cli/cli.test.ts).
        const { agent_identity: _, ...loggedIn } = auth
        fs.writeFileSync(path.join(home, "auth.json"), formatAuthDocument(loggedIn), { mode: 0o600 })
      }
      report(`cross-process: ${PROCESSES} processes x ${ROUNDS} round${ROUNDS === 1 ? "" : "s"} -> exactly one agent and one task registration, same ids printed by all, in ${exact}/${ROUNDS} rounds`)
      expect(exact).toBe(ROUNDS)
    })
  }, timeout(120_000, 900_000))
})

describe("secret canaries (promise 14)", () => {
  const canary = (name: string) => `CANARY${name}${C.encodeBase64Url(crypto.getRandomValues(new Uint8Array(9)))}`
  const secrets = { refresh: canary("REFRESH"), biscuit: canary("BISCUIT"), email: canary("IDTOKEN") }
  const echo = (status: number) => (request: { headers: Readonly<Record<string, string>> }) =>
    Effect.succeed(HttpServerResponse.text(`echo: ${JSON.stringify(request.headers)}`, { status }))
  // The quick profile runs the first `counts.canaryFaults`: no fault, and an echo on each of the three endpoints.
  const allFaults: Record<string, Partial<Record<Endpoint, (request: { headers: Readonly<Record<string, string>> }) => Effect.Effect<HttpServerResponse.HttpServerResponse>>>> = {
    none: {},
    "biscuit echoes 401": { biscuit: echo(401) },
    "register echoes 400 (biscuit canary)": {
      biscuit: () => Effect.succeed(HttpServerResponse.empty({ status: 200, headers: { "x-openai-authorization": secrets.biscuit } })),
      register: echo(400)
    },
    "task echoes 500": { task: echo(500) },
    "biscuit echoes 500": { biscuit: echo(500) },
    "register 503 echo": { register: echo(503) },
    "register garbage": { register: () => Effect.succeed(HttpServerResponse.text("{not json")) },
    "task tampered": { task: () => Effect.succeed(HttpServerResponse.unsafeJson({ encrypted_task_id: C.encodeBase64(new Uint8Array(64)) })) }
  }
  const faults = Object.entries(allFaults).slice(0, counts.canaryFaults)
  // Only register and task reach the backend, so only they can see a fault. The offline commands read
  // auth.json alone: they run once in each state the faults leave it in, not again for the same state.
  const online = [["register"], ["task"]]
  const offline = [["status"], ["status", "--json"], ["header", "--trust-host", "127.0.0.1"], ["header"], ["forget"]] // forget last

  it(`register and task under ${faults.length} faults, the offline commands in every state they leave: 0 canaries in stdout or stderr`, async () => {
    let runs = 0
    let leaks = 0
    const states = new Set<string>()
    const underFault = ([name, fault]: (typeof faults)[number]) =>
      withBackend({ fault: (endpoint, _n, request) => Option.fromNullable(fault[endpoint]?.(request)) }, async ({ backend, baseUrl }) => {
        const login = await Effect.runPromise(backend.issueLogin())
        const tokens = login["tokens"] as Record<string, string>
        const idToken = tokens["id_token"]!.split(".")
        const claims = JSON.parse(Buffer.from(idToken[1]!, "base64url").toString())
        const document = {
          ...login,
          tokens: {
            ...tokens,
            refresh_token: secrets.refresh,
            id_token: [idToken[0], C.encodeBase64Url(new TextEncoder().encode(JSON.stringify({ ...claims, email: secrets.email }))), idToken[2]].join(".")
          }
        }
        const home = tempDir()
        fs.writeFileSync(path.join(home, "auth.json"), JSON.stringify(document, null, 2), { mode: 0o600 })
        const base = ["--codex-home", home, "--base-url", baseUrl]
        const results: Array<{ command: string; out: string }> = []
        const one = async (command: ReadonlyArray<string>) => {
          const result = await cli([...command, ...base])
          runs++
          // `header` prints the access token by contract when it falls back to Bearer; nothing else may.
          const stdout = command[0] === "header" && result.stdout.startsWith("Bearer ") ? "" : result.stdout
          results.push({ command: command.join(" "), out: stdout + result.stderr })
        }
        // register, then task (it starts from what register left)
        for (const command of online) await one(command)
        // Read before forget removes it: the stored private key is a canary too.
        const auth = readAuth(home)
        const stored = auth["agent_identity"]?.agent_private_key as string | undefined
        // Nothing written that was not meant to be: the login as it was, and never the biscuit.
        const { agent_identity: _, ...rest } = auth
        expect(rest).toEqual(document)
        expect(JSON.stringify(auth)).not.toContain(secrets.biscuit)
        const state = stored === undefined ? "no identity" : auth["agent_identity"].background_task_id ? "identity and task" : "identity, no task"
        if (!states.has(state)) {
          states.add(state)
          // The readers side by side, then forget (which changes the state).
          await Promise.all(offline.slice(0, -1).map(one))
          await one(offline[offline.length - 1]!)
        }
        const all = [tokens["access_token"]!, secrets.refresh, secrets.email, secrets.biscuit, ...(stored ? [stored] : [])]
        for (const { command, out } of results) {
          for (const secret of all) {
            if (out.includes(secret)) {
              leaks++
              console.log(`LEAK under "${name}" by "${command}"`)
            }
          }
        }
      })
    // Two faults at a time: each has its own backend and CODEX_HOME.
    for (let i = 0; i < faults.length; i += 2) await Promise.all(faults.slice(i, i + 2).map(underFault))
    report(
      `secret canaries: ${runs} command runs (register and task under ${faults.length} faults; ${offline.length} offline commands ` +
        `in each of the ${states.size} states they left: ${[...states].sort().join(", ")}) -> ${leaks} canaries in stdout or stderr`
    )
    expect(leaks).toBe(0)
    expect([...states].sort()).toEqual(["identity and task", "identity, no task", "no identity"])
    expect(runs).toBe(online.length * faults.length + offline.length * states.size)
  }, timeout(120_000, 900_000))
})
