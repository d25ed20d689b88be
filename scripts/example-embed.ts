/** The README's embedding example, kept here so that `npm run typecheck` proves it compiles. */
import { HttpClientRequest } from "@effect/platform"
import { NodeFileSystem, NodeHttpClient } from "@effect/platform-node"
import { Effect, Layer } from "effect"
import { AuthManager, HttpMiddleware, Layers } from "../src/index.js"

// Settings and CODEX_HOME come through Config: CODEX_HOME (else ~/.codex), CODEX_ACCESS_TOKEN,
// CHATGPT_BASE_URL, AGENT_IDENTITY_PROTOCOL, CODEX_AGENT_IDENTITY_AUTHAPI_BASE_URL, …
const AgentIdentity = HttpMiddleware.layer().pipe(
  Layer.provideMerge(Layers.layerFromEnv),
  Layer.provideMerge(NodeHttpClient.layer),
  Layer.provide(NodeFileSystem.layer)
)

export const program = Effect.gen(function*() {
  const auth = yield* AuthManager.AuthManager
  const task = yield* auth.ensureTask // registers what is missing once, then reuses it
  const backend = yield* HttpMiddleware.BackendClient // signs requests to the backend, and only those
  const response = yield* backend.execute(HttpClientRequest.get("https://chatgpt.com/backend-api/me"))
  return { task, status: response.status }
}).pipe(Effect.scoped, Effect.provide(AgentIdentity))
