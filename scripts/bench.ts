/**
 * `npm run bench`: the performance figures of issue 6, all measured in one run, each compared with a
 * baseline measured in the same run (absolute times on a shared 2-core machine move between runs).
 * Prints a table and writes bench/results.json.
 */
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { ed25519 } from "@noble/curves/ed25519.js"
import * as ed from "@noble/ed25519"
import { sha512 } from "@noble/hashes/sha2.js"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Redacted from "effect/Redacted"
import * as Scope from "effect/Scope"
import { execFileSync } from "node:child_process"
import { createPrivateKey, sign as nodeSign } from "node:crypto"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as AssertionSigner from "../src/services/AssertionSigner.js"
import { AuthManager } from "../src/manager/AuthManager.js"
import { start } from "../src/backend/server.js"
import * as Config from "../src/Domain/Settings.js"
import * as C from "../src/crypto/index.js"
import { formatAuthDocument } from "../src/Domain/AuthDocument.js"
import * as Identity from "../src/manager/Identity.js"
import * as KeyStore from "../src/services/KeyStore.js"
import * as Layers from "../src/manager/Layers.js"
import { chatgptAuthDocument, FakeBackend, layerAuthManager } from "../src/testing/index.js"

ed.hashes.sha512 = sha512

const SECONDS = Number(process.env["BENCH_SECONDS"] ?? 1)
const REPS = 3
const median = (xs: ReadonlyArray<number>) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
const percentile = (xs: ReadonlyArray<number>, p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))]!

/** Operations per second of `op`: the median of REPS timed windows after a warm-up. */
const opsPerSecond = (op: () => unknown): number => {
  const deadline = performance.now() + 200
  while (performance.now() < deadline) op()
  const rates: Array<number> = []
  for (let r = 0; r < REPS; r++) {
    let n = 0
    const t0 = performance.now()
    const end = t0 + SECONDS * 1000
    let now = t0
    while (now < end) {
      for (let i = 0; i < 64; i++) op()
      n += 64
      now = performance.now()
    }
    rates.push(n / ((now - t0) / 1000))
  }
  return median(rates)
}

const metrics: Record<string, { value: number; unit: string }> = {}
const record = (name: string, value: number, unit: string) => {
  metrics[name] = { value: Math.round(value * 100) / 100, unit }
  console.log(`  ${name.padEnd(34)} ${metrics[name]!.value.toLocaleString("en-US").padStart(14)} ${unit}`)
}

// --- signing ------------------------------------------------------------------------------------
const seed = new Uint8Array(32).fill(7)
const key = C.keyFromSeed(seed)
const stored = C.encodePrivateKeyBase64(key)
const claims = { agentRuntimeId: "agent_3fK9xQ2mN8pL", taskId: "task_Zr7Yw1Vb5Tq0" }
const payload = C.agentAssertionPayload({ ...claims, timestamp: C.formatTimestamp(Date.now()) })
const keyObject = createPrivateKey({
  key: { kty: "OKP", crv: "Ed25519", d: C.encodeBase64Url(seed), x: C.encodeBase64Url(key.publicKey) },
  format: "jwk"
})

/** A throwaway CODEX_HOME whose auth.json holds a login, the identity above and its background task. */
const codexHomeWithTask = (): string => {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), "agent-identity-bench-"))
  fs.writeFileSync(path.join(home, "auth.json"), formatAuthDocument({
    ...chatgptAuthDocument({ accountId: "account-123", userId: "user-123" }),
    agent_identity: {
      workspace_id: "account-123",
      chatgpt_user_id: "user-123",
      agent_runtime_id: claims.agentRuntimeId,
      agent_private_key: stored,
      registered_at: "2026-04-15T00:00:00Z",
      background_task_id: claims.taskId
    }
  }), { mode: 0o600 })
  return home
}

console.log("signing (ops/s)")
record("noble_curves_sign_ops", opsPerSecond(() => ed25519.sign(payload, seed)), "ops/s")
record("noble_ed25519_sign_ops", opsPerSecond(() => ed.sign(payload, seed)), "ops/s")
record("node_crypto_sign_ops", opsPerSecond(() => nodeSign(null, payload, keyObject)), "ops/s")
record("naive_header_ops", opsPerSecond(() => {
  // What the seed does per header: decode the stored PKCS#8, then sign.
  const decoded = C.decodePrivateKeyBase64(stored)
  if (decoded._tag === "Left") throw new Error("bad key")
  return C.buildAgentAssertion(decoded.right, { ...claims, timestamp: C.formatTimestamp(Date.now()) })
}), "ops/s")

const signerHeaderOps = (options: AssertionSigner.Options) => {
  const signer = Effect.runSync(AssertionSigner.make(options))
  const agentKey = Effect.runSync(signer.parse(Redacted.make(stored)))
  const identity = { agentRuntimeId: claims.agentRuntimeId, key: agentKey }
  // Each call builds the effect, as a caller (the middleware, the CLI) does.
  return opsPerSecond(() => Effect.runSync(signer.agentAssertion(identity, claims)))
}
record("header_cold_ops", signerHeaderOps({ headerCache: false }), "ops/s")
record("header_hot_ops", signerHeaderOps({}), "ops/s")
record("node_signer_header_ops", signerHeaderOps({ implementation: "node-crypto", headerCache: false }), "ops/s")

// The whole header path of an application on Codex's auth.json: read (stat-cached), bind, sign (cached).
{
  const home = codexHomeWithTask()
  const identity = Effect.runSync(Identity.make.pipe(
    Effect.provide(Layer.mergeAll(AssertionSigner.layer, Config.layer(), KeyStore.layerFile({ codexHome: home }).pipe(Layer.provide(NodeFileSystem.layer))))
  ))
  // The first read is asynchronous; after it, an unchanged file costs one stat and the path runs synchronously.
  await Effect.runPromise(identity.authorizationHeaderOrBearer)
  record("file_store_header_ops", opsPerSecond(() => Effect.runSync(identity.authorizationHeaderOrBearer)), "ops/s")
  fs.rmSync(home, { recursive: true, force: true })
}

// --- ensure under concurrency (in-memory fakes) -------------------------------------------------
console.log("ensure (in-memory fakes)")
const document = chatgptAuthDocument({ accountId: "account-123", userId: "user-123" })
const concurrent = Array.from({ length: 5 }, () =>
  Effect.runPromise(Effect.gen(function*() {
    const auth = yield* AuthManager
    const t0 = performance.now()
    yield* Effect.all(Array.from({ length: 1000 }, () => auth.ensureTask), { concurrency: "unbounded" })
    const ms = performance.now() - t0
    const calls = yield* (yield* FakeBackend).calls
    return { ms, registrations: calls.registrations.length + calls.tasks.length }
  }).pipe(Effect.provide(layerAuthManager({ document })), Logger.withMinimumLogLevel(LogLevel.None))))
const runs = []
for (const run of concurrent) runs.push(await run)
record("ensure_concurrent_ms", median(runs.map((r) => r.ms)), "ms")
record("ensure_concurrent_registrations", Math.max(...runs.map((r) => r.registrations)), "registrations")

// --- register + task over loopback ----------------------------------------------------------------
console.log("flow (register + task against the embedded backend on 127.0.0.1)")
const scope = Effect.runSync(Scope.make())
const { backend, baseUrl } = await Effect.runPromise(start().pipe(Scope.extend(scope)))
const flows: Array<number> = []
const before = await Effect.runPromise(backend.calls)
const FLOWS = Number(process.env["BENCH_FLOWS"] ?? 150)
const client = NodeHttpClient.layer
for (let i = 0; i < FLOWS; i++) {
  const login = await Effect.runPromise(backend.issueLogin())
  const layer = Layers.authManager.pipe(
    Layer.provide(Layer.mergeAll(KeyStore.layerMemory(login), Config.layer({ baseUrl }), client))
  )
  const t0 = performance.now()
  await Effect.runPromise(Effect.flatMap(AuthManager, (a) => a.ensureTask).pipe(Effect.provide(layer), Logger.withMinimumLogLevel(LogLevel.None)))
  flows.push(performance.now() - t0)
}
const after = await Effect.runPromise(backend.calls)
await Effect.runPromise(Scope.close(scope, Exit.void))
record("flow_p50_ms", percentile(flows, 0.5), "ms")
record("flow_p99_ms", percentile(flows, 0.99), "ms")
record("flow_round_trips", (after.biscuit + after.register + after.task - before.biscuit - before.register - before.task) / FLOWS, "requests")

// --- CLI start-up -----------------------------------------------------------------------------------
console.log("start-up (median of 15 cold starts)")
const home = codexHomeWithTask()
const cold = (args: ReadonlyArray<string>) => {
  const times: Array<number> = []
  for (let i = 0; i < 16; i++) {
    const t0 = performance.now()
    execFileSync(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"] })
    if (i > 0) times.push(performance.now() - t0) // the first warms the file cache
  }
  return median(times)
}
const cliArgs = [path.resolve("dist/cli.js"), "header", "--codex-home", home, "--base-url", "https://chatgpt.com/backend-api"]
if (!execFileSync(process.execPath, cliArgs, { encoding: "utf8" }).startsWith("AgentAssertion ")) throw new Error("header did not sign")
record("cli_header_ms", cold(cliArgs), "ms")
record("node_startup_ms", cold(["-e", "0"]), "ms")
fs.rmSync(home, { recursive: true, force: true })

// --- ratios -------------------------------------------------------------------------------------
const v = (name: string) => metrics[name]!.value
const targets: Array<[string, number, string, boolean]> = [
  ["header_cold_ops / noble_curves_sign_ops", v("header_cold_ops") / v("noble_curves_sign_ops"), ">= 0.9", v("header_cold_ops") >= 0.9 * v("noble_curves_sign_ops")],
  ["header_hot_ops / noble_curves_sign_ops", v("header_hot_ops") / v("noble_curves_sign_ops"), ">= 50", v("header_hot_ops") >= 50 * v("noble_curves_sign_ops")],
  ["node_signer_header_ops / node_crypto_sign_ops", v("node_signer_header_ops") / v("node_crypto_sign_ops"), ">= 0.8", v("node_signer_header_ops") >= 0.8 * v("node_crypto_sign_ops")],
  ["cli_header_ms / node_startup_ms", v("cli_header_ms") / v("node_startup_ms"), "<= 3", v("cli_header_ms") <= 3 * v("node_startup_ms")],
  ["flow_round_trips", v("flow_round_trips"), "= 4", v("flow_round_trips") === 4],
  ["ensure_concurrent_registrations", v("ensure_concurrent_registrations"), "= 2 (1 agent + 1 task)", v("ensure_concurrent_registrations") === 2],
  ["header_cold_ops / naive_header_ops", v("header_cold_ops") / v("naive_header_ops"), "(information)", true]
]
console.log("ratios")
for (const [name, ratio, target, ok] of targets) {
  console.log(`  ${name.padEnd(46)} ${ratio.toFixed(2).padStart(8)}  target ${target.padEnd(24)} ${ok ? "ok" : "MISSED"}`)
}

const machine = `node ${process.version}, ${os.cpus()[0]?.model.trim() ?? "unknown cpu"} x${os.cpus().length}`
fs.mkdirSync("bench", { recursive: true })
fs.writeFileSync("bench/results.json", JSON.stringify({ metrics, machine }, null, 2) + "\n")
console.log(`wrote bench/results.json (${machine})`)
