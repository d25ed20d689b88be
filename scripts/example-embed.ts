/** The README's embedding example, kept here so that `npm run typecheck` proves it compiles. */
import { NodeFileSystem, NodeHttpClient } from "@effect/platform-node"
import { Effect, Layer } from "effect"
import { AuthManager, HttpMiddleware, Layers } from "../src/index.js"

const AgentIdentity = Layers.layerFile({ codexHome: `${process.env["HOME"]}/.codex` }).pipe(
  Layer.provide([NodeHttpClient.layer, NodeFileSystem.layer])
)

export const program = Effect.gen(function*() {
  const auth = yield* AuthManager.AuthManager
  const task = yield* auth.ensureTask // registers the agent and a task once, then reuses them
  return task
}).pipe(Effect.provide(AgentIdentity))

export const authorizedClient = HttpMiddleware.layer().pipe(Layer.provide(AgentIdentity), Layer.provide(NodeHttpClient.layer))
