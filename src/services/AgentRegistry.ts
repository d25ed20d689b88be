/**
 * AgentRegistry: registers an agent's Ed25519 public key (`POST {base}/v1/agent/register` with a
 * fresh human biscuit, the ABOM and the `ssh-ed25519` key) and returns its runtime id, validated
 * before anyone puts it in a URL.
 */
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import { BiscuitMinter, type MintError } from "./BiscuitMinter.js"
import { AgentIdentityConfig } from "../Domain/Settings.js"
import { AgentRuntimeId } from "../Domain/Ids.js"
import { RegisterAgentRequest, RegisterAgentResponse } from "../Domain/Wire.js"
import type { RuntimeIdError } from "../Domain/Errors.js"
import { registerUrl, validateRuntimeId } from "../Domain/Endpoints.js"
import { decodeJsonBody, retrying, send } from "../internal/transport.js"

/** Errors of a registration. */
export type RegisterError = MintError | RuntimeIdError

/** The AgentRegistry's operations. */
export interface Service {
  readonly register: (input: {
    readonly accessToken: Redacted.Redacted<string>
    readonly publicKeySsh: string
  }) => Effect.Effect<AgentRuntimeId, RegisterError>
}

/** The AgentRegistry service. */
export class AgentRegistry extends Context.Tag("effect-agent-identity/AgentRegistry")<AgentRegistry, Service>() {}

const encodeBody = Schema.encodeSync(RegisterAgentRequest)

/** The registry on the ambient HttpClient and BiscuitMinter. */
export const make = Effect.gen(function*() {
  const config = yield* AgentIdentityConfig
  const client = yield* HttpClient.HttpClient
  const minter = yield* BiscuitMinter
  const url = registerUrl(config.baseUrl)
  const register: Service["register"] = ({ accessToken, publicKeySsh }) => {
    const body = JSON.stringify(encodeBody(new RegisterAgentRequest({ abom: config.abom, agent_public_key: publicKeySsh, capabilities: [] })))
    // One biscuit per POST: each attempt mints its own.
    const attempt = Effect.gen(function*() {
      const biscuit = yield* minter.mint({ method: "POST", url }, accessToken)
      const request = HttpClientRequest.post(url).pipe(
        HttpClientRequest.setHeaders({ "x-openai-authorization": Redacted.value(biscuit), "user-agent": config.userAgent }),
        HttpClientRequest.bodyText(body, "application/json")
      )
      return yield* send(client, { operation: "register", request, timeout: config.timeouts.register, secrets: [accessToken, biscuit] })
    })
    return attempt.pipe(
      retrying(config.retry, { idempotent: false }),
      Effect.flatMap(decodeJsonBody(RegisterAgentResponse, "register", url)),
      Effect.flatMap(({ agent_runtime_id }) => validateRuntimeId(agent_runtime_id)),
      Effect.map(AgentRuntimeId.make),
      Effect.withSpan("AgentRegistry.register")
    )
  }
  return AgentRegistry.of({ register })
})

/** The registry as a layer. */
export const layer: Layer.Layer<AgentRegistry, never, AgentIdentityConfig | HttpClient.HttpClient | BiscuitMinter> =
  Layer.effect(AgentRegistry, make)
