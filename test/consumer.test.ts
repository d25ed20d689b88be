/**
 * The package as an application installs it: `npm pack`, then a fresh project in the OS temp directory installs the
 * tarball beside the lowest Effect versions package.json's peerDependencies admit (another Effect 3 patch than the
 * one pinned in devDependencies), type-checks the README's example there (strict, NodeNext) and runs it, and runs
 * the installed package against the reference backend on 127.0.0.1.
 *
 * It needs the npm registry (or npm's cache): when npm cannot install, the test fails. Every child process that
 * runs the package gets the loopback-only DNS guard of test/setup.ts, so nothing it runs can reach a network.
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { execFile, type ExecFileOptions } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { promisify } from "node:util"
import { projectRoot } from "./utils/vectors.js"

const manifest = JSON.parse(fs.readFileSync(path.join(projectRoot, "package.json"), "utf8"))
const readme = fs.readFileSync(path.join(projectRoot, "README.md"), "utf8")

/** The README's library example: the first ```ts block after the `<!-- consumer-example` marker. */
const readmeExample = (): string => {
  const marker = readme.indexOf("<!-- consumer-example")
  if (marker < 0 || readme.indexOf("<!-- consumer-example", marker + 1) >= 0) {
    throw new Error("README.md must hold exactly one <!-- consumer-example --> marker")
  }
  const block = /```ts\n([\s\S]*?)\n```/.exec(readme.slice(marker))
  if (block === null) throw new Error("no ```ts block after the consumer-example marker in README.md")
  return block[1]!
}

/** The lowest version a caret range admits (`^3.22.2` → `3.22.2`). */
const floor = (range: string): string => {
  const match = /^\^(\d+\.\d+\.\d+)$/.exec(range)
  if (match === null) throw new Error(`peer range ${range} is not a caret range`)
  return match[1]!
}

const peers: Record<string, string> = manifest.peerDependencies
const installed = {
  effect: floor(peers["effect"]!),
  "@effect/platform": floor(peers["@effect/platform"]!),
  "@effect/platform-node": floor(peers["@effect/platform-node"]!)
}

/** The loopback-only DNS guard of test/setup.ts, as a module the consumer's processes preload. */
const dnsGuard = `
import dns from "node:dns"
const LOOPBACK = new Set(["localhost", "127.0.0.1", "::1"])
const original = dns.lookup
dns.lookup = (hostname, ...rest) => {
  if (LOOPBACK.has(hostname)) return original(hostname, ...rest)
  const callback = rest[rest.length - 1]
  process.nextTick(() => callback(Object.assign(new Error("consumer test guard: no lookup of " + hostname), { code: "ENOTFOUND" })))
}
dns.promises.lookup = async (hostname, ...rest) => {
  if (LOOPBACK.has(hostname)) return original.__promisify__(hostname, ...rest)
  throw Object.assign(new Error("consumer test guard: no lookup of " + hostname), { code: "ENOTFOUND" })
}
`

/**
 * Beside the README example: the installed package, imported by name, against the reference backend from
 * `effect-agent-identity/backend` on 127.0.0.1 (default protocol, its AuthAPI beside it) — a login in a fresh
 * CODEX_HOME, `ensureTask` through the file KeyStore, and a request to `whoami` through the middleware's
 * `BackendClient`, which must carry an accepted AgentAssertion. It prints ids and booleans only, never a secret.
 */
const loopbackScript = `
import { NodeFileSystem, NodeHttpClient } from "@effect/platform-node"
import { HttpClientRequest } from "@effect/platform"
import { Effect, Layer } from "effect"
import { AuthManager, HttpMiddleware, Layers } from "effect-agent-identity"
import { Server } from "effect-agent-identity/backend"
import { readFileSync, writeFileSync } from "node:fs"
import * as path from "node:path"

const codexHome = process.argv[2]!
const authPath = path.join(codexHome, "auth.json")

const main = Effect.gen(function*() {
  const { baseUrl, authApiBaseUrl, backend } = yield* Server.start({ host: "127.0.0.1" })
  const login = yield* backend.issueLogin({ accountId: "account-consumer", userId: "user-consumer" })
  writeFileSync(authPath, JSON.stringify(login, null, 2), { mode: 0o600 })
  const AgentIdentity = Layers.layerFile({ codexHome, baseUrl, authApiBaseUrl, trustedHosts: ["127.0.0.1"] }).pipe(
    Layer.provide([NodeHttpClient.layer, NodeFileSystem.layer])
  )
  const Backend = HttpMiddleware.layer().pipe(Layer.provideMerge(AgentIdentity), Layer.provide(NodeHttpClient.layer))
  const { task, whoami } = yield* Effect.gen(function*() {
    const auth = yield* AuthManager.AuthManager
    const task = yield* auth.ensureTask
    const client = yield* HttpMiddleware.BackendClient
    const response = yield* client.execute(HttpClientRequest.get(baseUrl + "/v1/whoami"))
    return { task, whoami: { status: response.status, body: yield* response.json } }
  }).pipe(Effect.provide(Backend))
  const stored = JSON.parse(readFileSync(authPath, "utf8"))
  return {
    taskId: task.taskId,
    agentRuntimeId: task.agentRuntimeId,
    whoami,
    storedRuntimeId: stored.agent_identity?.agent_runtime_id,
    loginKept: JSON.stringify(stored.tokens) === JSON.stringify(login["tokens"]),
    backendTasks: yield* backend.taskCount
  }
})

Effect.runPromise(Effect.scoped(main)).then(
  (result) => console.log("RESULT " + JSON.stringify(result)),
  (error) => {
    console.error(String(error))
    process.exitCode = 1
  }
)
`

const tsconfig = {
  compilerOptions: {
    target: "ES2022",
    module: "NodeNext",
    moduleResolution: "NodeNext",
    lib: ["ES2022"],
    types: ["node"],
    strict: true,
    exactOptionalPropertyTypes: true,
    noUncheckedIndexedAccess: true,
    noImplicitOverride: true,
    // Effect's own declarations need DOM and ws types under a full lib check; ours are checked through their use.
    skipLibCheck: true,
    rootDir: "src",
    outDir: "out"
  },
  include: ["src"]
}

/** The environment of a fresh shell: what `npm test` adds for its scripts (`npm_*`) would steer the child npm. */
const cleanEnv = (extra: Record<string, string> = {}): NodeJS.ProcessEnv => ({
  ...Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith("npm_"))),
  ...extra
})

const newestMtime = (dir: string): number =>
  Math.max(
    ...fs.readdirSync(dir, { withFileTypes: true }).map((entry) =>
      entry.isDirectory() ? newestMtime(path.join(dir, entry.name)) : fs.statSync(path.join(dir, entry.name)).mtimeMs
    )
  )

let dir = ""
let home = ""
const timings: Record<string, number> = {}

/**
 * Runs a command in the consumer project; a non-zero exit rejects with its output, failing the test. Asynchronous,
 * so that the test worker keeps answering vitest while npm and tsc run.
 */
const run = async (label: string, file: string, args: ReadonlyArray<string>, options: ExecFileOptions = {}): Promise<string> => {
  const started = performance.now()
  try {
    const { stdout } = await promisify(execFile)(file, args, { cwd: dir, encoding: "utf8", env: cleanEnv(), maxBuffer: 64 * 1024 * 1024, ...options })
    return String(stdout)
  } catch (error) {
    const failure = error as { stdout?: string; stderr?: string; message: string }
    throw new Error(`${label} failed: ${failure.message}\n${failure.stdout ?? ""}\n${failure.stderr ?? ""}`)
  } finally {
    timings[label] = Math.round(performance.now() - started)
  }
}

/**
 * Runs node in the consumer project behind the DNS guard, as a user on a fresh machine: HOME is an empty
 * directory of the project, and none of the variables the library or the CLI read is inherited.
 */
const node = (label: string, args: ReadonlyArray<string>) => {
  const env = Object.fromEntries(
    Object.entries(cleanEnv({ HOME: home })).filter(([key]) =>
      key !== "CODEX_HOME" && key !== "CHATGPT_BASE_URL" && !key.startsWith("AGENT_IDENTITY_")
    )
  )
  return run(label, process.execPath, ["--import", "./dns-guard.mjs", ...args], { env, timeout: 60_000 })
}

/**
 * tsc over the consumer's src/, once, whichever test asks first: its diagnostics ("" when clean). tsc emits
 * even on a type error, so the tests that run the output do not depend on the type-check test's order.
 */
let compiling: Promise<{ readonly diagnostics: string }> | undefined
const compiled = () =>
  compiling ??= run("tsc", process.execPath, ["node_modules/typescript/bin/tsc", "-p", "."], { timeout: 3 * 60_000 }).then(
    () => ({ diagnostics: "" }),
    (error: Error) => ({ diagnostics: error.message })
  )

beforeAll(async () => {
  const built = path.join(projectRoot, "dist/index.js")
  if (!fs.existsSync(built) || fs.statSync(built).mtimeMs < newestMtime(path.join(projectRoot, "src"))) {
    throw new Error("dist/ is older than src/: run `npm run build` first (`npm test` does)")
  }
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "eai-consumer-"))
  home = path.join(dir, "home")
  fs.mkdirSync(home)
  const packed = JSON.parse(await run("npm pack", "npm", ["pack", "--json", "--pack-destination", dir], { cwd: projectRoot }))
  const tarball = path.join(dir, packed[0].filename)
  fs.writeFileSync(path.join(dir, "package.json"), JSON.stringify({ name: "consumer", private: true, type: "module" }, null, 2))
  await run("npm install", "npm", [
    "install",
    "--no-audit",
    "--no-fund",
    "--prefer-offline",
    "--save-exact",
    tarball,
    ...Object.entries(installed).map(([name, version]) => `${name}@${version}`),
    `typescript@${manifest.devDependencies.typescript}`,
    `@types/node@${manifest.devDependencies["@types/node"]}`
  ], { timeout: 8 * 60_000 })
  fs.writeFileSync(path.join(dir, "tsconfig.json"), JSON.stringify(tsconfig, null, 2))
  fs.mkdirSync(path.join(dir, "src"))
  fs.writeFileSync(path.join(dir, "src/example.ts"), readmeExample())
  fs.writeFileSync(path.join(dir, "src/loopback.ts"), loopbackScript)
  fs.writeFileSync(path.join(dir, "dns-guard.mjs"), dnsGuard)
}, 10 * 60_000)

afterAll(() => {
  console.log(`consumer project timings (ms): ${JSON.stringify(timings)}`)
  if (dir !== "") fs.rmSync(dir, { recursive: true, force: true })
})

describe("a consumer project on another Effect 3 patch", () => {
  it("installs on the lowest peer versions, which differ from our pinned Effect", () => {
    expect(installed.effect).not.toBe(manifest.devDependencies.effect)
    for (const [name, version] of Object.entries(installed)) {
      const found = JSON.parse(fs.readFileSync(path.join(dir, "node_modules", name, "package.json"), "utf8"))
      expect(found.version, name).toBe(version)
    }
  })

  it("holds one copy of effect, and npm ls finds no missing or invalid peer", async () => {
    const copies = (await run("npm ls effect", "npm", ["ls", "effect", "--all", "--parseable"])).split("\n").filter((l) => l.length > 0)
    expect(copies).toEqual([path.join(fs.realpathSync(dir), "node_modules/effect")])
    await run("npm ls", "npm", ["ls", "--all"])
  })

  it("type-checks the README example and the loopback script (strict, NodeNext)", async () => {
    const { diagnostics } = await compiled()
    expect(diagnostics).toBe("")
  }, 4 * 60_000)

  it("runs the README example offline", async () => {
    await compiled()
    await node("README example", ["out/example.js"])
  }, 2 * 60_000)

  it("registers, gets a task and is accepted by the reference backend on loopback, through the installed package", async () => {
    await compiled()
    const codexHome = path.join(dir, "codex-home")
    fs.mkdirSync(codexHome)
    const out = await node("loopback run", ["out/loopback.js", codexHome])
    const line = out.split("\n").find((l) => l.startsWith("RESULT "))
    expect(line, out).toBeDefined()
    const result = JSON.parse(line!.slice("RESULT ".length))
    expect(result.whoami).toEqual({
      status: 200,
      body: { scheme: "AgentAssertion", agent_runtime_id: result.agentRuntimeId, task_id: result.taskId, account_id: "account-consumer" }
    })
    expect(result).toMatchObject({ storedRuntimeId: result.agentRuntimeId, loginKept: true, backendTasks: 1 })
  }, 2 * 60_000)

  it("the agent-identity bin is self-contained: it runs with no @effect/cli installed", async () => {
    expect(fs.existsSync(path.join(dir, "node_modules/@effect/cli"))).toBe(false)
    const out = await node("bin --version", ["node_modules/.bin/agent-identity", "--version"])
    expect(out.trim()).toBe(manifest.version)
  }, 2 * 60_000)
})
