/** Promises 9 and 10: forged assertions are refused; no AgentAssertion is produced for an untrusted host. */
import { ed25519 } from "@noble/curves/ed25519.js"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as TestClock from "effect/TestClock"
import * as fc from "fast-check"
import { AuthManager } from "../../src/manager/AuthManager.js"
import * as AssertionVerifier from "../../src/backend/AssertionVerifier.js"
import * as C from "../../src/crypto/index.js"
import { chatgptAuthDocument } from "../../src/testing/index.js"
import { layerAuthManager2604 } from "../utils/protocol.js"
import * as E from "../../src/Domain/Endpoints.js"
import { report } from "../utils/profile.js"

const KEY = C.keyFromSeed(new Uint8Array(32).fill(7))
const OTHER = C.keyFromSeed(new Uint8Array(32).fill(8))
const withTask = {
  ...chatgptAuthDocument({ accountId: "account-123", userId: "user-123" }),
  agent_identity: {
    workspace_id: "account-123",
    chatgpt_user_id: "user-123",
    agent_runtime_id: "agent-123",
    agent_private_key: C.encodePrivateKeyBase64(KEY),
    registered_at: "2026-04-15T00:00:00Z",
    background_task_id: "task-123"
  }
}

describe("hostile base URLs (promise 10)", () => {
  const hostile = [
    "https://chatgpt.com.evil.example/backend-api", "https://evilchatgpt.com/backend-api", "https://chatgpt.co/backend-api",
    "https://chatgpt.com@evil.example/backend-api", "https://user:pass@chatgpt.com/backend-api", "https://evil.example#@chatgpt.com",
    "https://evil.example?@chatgpt.com", "https://evil.example\\@chatgpt.com", "https://evil.example/chatgpt.com/backend-api",
    "http://chatgpt.com/backend-api", "http://chat.openai.com/backend-api", "ws://chatgpt.com/backend-api",
    "https://chatgpt.com./backend-api", "https://CHATGPT.COM.evil.example", "https://x.chat.openai.com/backend-api",
    "https://chatgpt-staging.com.evil.example", "https://chat.openai.com.evil.example", "https://openai.com/backend-api",
    "https://xn--chtgpt-5ve.com/backend-api", "https://chаtgpt.com/backend-api", "https://chatgрt.com/backend-api",
    "https://127.0.0.1/backend-api", "http://localhost:8080/backend-api", "https://[::1]/backend-api", "file:///etc/passwd",
    "javascript:alert(1)", "not a url", "", "https://", "https://chatgpt.com:99999/backend-api", "https://chatgpt.com%2eevil.example/backend-api"
  ]
  const lookAlikes = fc.sample(
    fc.tuple(
      fc.constantFrom("https://", "http://", "https://user@", "https://a:b@", "HTTPS://"),
      fc.constantFrom("chatgpt.com", "chat.openai.com", "chatgpt-staging.com", "x.chatgpt.com"),
      fc.constantFrom(".evil.example", "-evil.example", ".", "evil", ".co", "%2eevil.example", "\u3002evil.example"),
      fc.constantFrom("", ":443", ":8443", "/backend-api", "?q=1", "#x")
    ).map(([scheme, host, tail, rest]) => `${scheme}${host}${tail}${rest}`),
    { numRuns: 200 - hostile.length, seed: 10 }
  )
  const all = [...hostile, ...lookAlikes]

  it.effect(`${all.length} hostile base URLs: 0 AgentAssertions (Bearer, or a SettingsError for a non-URL); the real one still gets one`, () =>
    Effect.gen(function*() {
      let assertions = 0
      let refused = 0
      let bearers = 0
      for (const baseUrl of all) {
        const header = yield* Effect.flatMap(AuthManager, (a) => a.authorizationHeaderOrBearer).pipe(
          Effect.provide(layerAuthManager2604({ document: withTask, settings: { baseUrl } })),
          // A base that is not an http(s) URL is refused when the settings are made, before anything else.
          Effect.catchTag("SettingsError", () => Effect.sync(() => refused++).pipe(Effect.as(Option.none())))
        )
        if (Option.exists(header, (h) => h.scheme === "AgentAssertion")) {
          assertions++
          console.log(`AgentAssertion produced for ${JSON.stringify(baseUrl)}`)
        }
        if (Option.exists(header, (h) => h.scheme === "Bearer")) bearers++
      }
      const control = yield* Effect.flatMap(AuthManager, (a) => a.authorizationHeaderOrBearer).pipe(
        Effect.provide(layerAuthManager2604({ document: withTask, settings: { baseUrl: "https://chatgpt.com/backend-api" } }))
      )
      report(`hostile base URLs: ${all.length} tried -> ${assertions} AgentAssertions produced, ${bearers} Bearer headers instead, ${refused} refused as settings`)
      expect(all.length).toBe(200)
      expect(assertions).toBe(0)
      expect(bearers + refused).toBe(all.length)
      expect(Option.map(control, (h) => h.scheme)).toEqual(Option.some("AgentAssertion"))
    }), 60_000)
})

describe("assertion forgery (promise 9)", () => {
  const directory: AssertionVerifier.AgentDirectory = {
    publicKey: (id) => Effect.succeed(id === "agent-123" ? Option.some(KEY.publicKey) : id === "agent-456" ? Option.some(OTHER.publicKey) : Option.none()),
    taskOwner: (id) => Effect.succeed(id === "task-123" ? Option.some("agent-123") : id === "task-456" ? Option.some("agent-456") : Option.none())
  }
  const verifier = AssertionVerifier.make({ directory })
  const now = Date.now()
  const timestamp = C.formatTimestamp(now)
  const genuine = C.buildAgentAssertion(KEY, { agentRuntimeId: "agent-123", taskId: "task-123", timestamp })
  const token = (C.decodeBase64Url(genuine.slice(15)) as { right: Uint8Array }).right
  const envelope = JSON.parse(new TextDecoder().decode(token)) as Record<string, string>
  const encode = (value: unknown) => C.AGENT_ASSERTION_PREFIX + C.encodeBase64Url(new TextEncoder().encode(typeof value === "string" ? value : JSON.stringify(value)))

  /** S + L: the same signature with a non-canonical scalar (S >= L). */
  const withLargeS = (() => {
    const signature = (C.decodeBase64(envelope["signature"]!) as { right: Uint8Array }).right
    let s = 0n
    for (let i = 63; i >= 32; i--) s = (s << 8n) | BigInt(signature[i]!)
    s += ed25519.Point.Fn.ORDER
    const out = Uint8Array.from(signature)
    for (let i = 32; i < 64; i++) {
      out[i] = Number(s & 0xffn)
      s >>= 8n
    }
    return { ...envelope, signature: C.encodeBase64(out) }
  })()

  const forgeries: Array<[string, string]> = [
    ["swapped ids", encode({ ...envelope, agent_runtime_id: "agent-456", task_id: "task-456" })],
    ["task of another agent", encode({ ...envelope, task_id: "task-456" })],
    ["wrong key", C.buildAgentAssertion(OTHER, { agentRuntimeId: "agent-123", taskId: "task-123", timestamp })],
    ["S >= L", encode(withLargeS)],
    ["padded base64url", genuine + "="],
    ["standard base64 token", C.AGENT_ASSERTION_PREFIX + C.encodeBase64(token)],
    ["extra key", encode({ agent_runtime_id: envelope["agent_runtime_id"], extra: "x", signature: envelope["signature"], task_id: envelope["task_id"], timestamp })],
    ["missing key", encode({ agent_runtime_id: envelope["agent_runtime_id"], signature: envelope["signature"], task_id: envelope["task_id"] })],
    ["unsorted keys", encode({ task_id: envelope["task_id"], agent_runtime_id: envelope["agent_runtime_id"], signature: envelope["signature"], timestamp })],
    ["whitespace", encode(JSON.stringify(envelope, null, 1))],
    ["duplicate key", encode(JSON.stringify(envelope).replace("{", `{"task_id":"task-123",`))],
    ["non-string value", encode({ ...envelope, timestamp: 1 })],
    ["fractional timestamp", encode({ ...envelope, timestamp: timestamp.replace("Z", ".000Z") })],
    ["lower-case scheme", genuine.replace("AgentAssertion", "agentassertion")],
    ["Bearer scheme", genuine.replace("AgentAssertion", "Bearer")],
    ["two spaces", genuine.replace("AgentAssertion ", "AgentAssertion  ")],
    ["empty", ""]
  ]

  it.effect("every forgery is refused, every one-byte flip of the token too; the genuine one passes", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(now)
      let refused = 0
      for (const [name, header] of forgeries) {
        const result = yield* Effect.either(verifier.verify(header))
        // Refused for what it is, not for its time.
        if (Either.isLeft(result) && !result.left.reason.includes("skew")) refused++
        else console.log(`not refused as a forgery: ${name}`)
      }
      let flips = 0
      for (let i = 0; i < token.length; i++) {
        const flipped = Uint8Array.from(token)
        flipped[i]! ^= 0x01
        const result = yield* Effect.either(verifier.verify(C.AGENT_ASSERTION_PREFIX + C.encodeBase64Url(flipped)))
        if (Either.isLeft(result) && !result.left.reason.includes("skew")) flips++
      }
      report(`assertion forgery: ${refused}/${forgeries.length} forgeries and ${flips}/${token.length} byte flips refused`)
      expect(refused).toBe(forgeries.length)
      expect(flips).toBe(token.length)
      expect((yield* verifier.verify(genuine)).taskId).toBe("task-123")
    }))

  it("a percent-encoded spelling of a trusted host is that host (WHATWG URL parsing, as Rust's url crate), so it is trusted", () => {
    expect(new URL("https://chatgpt%2ecom/backend-api").hostname).toBe("chatgpt.com")
    expect(E.isTrustedBaseUrl("https://chatgpt%2ecom/backend-api")).toBe(true)
  })
})
