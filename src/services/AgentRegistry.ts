/**
 * AgentRegistry: registers an agent's Ed25519 public key and returns its runtime id, validated before
 * anyone puts it in a URL. 2026-04: `POST {base}/v1/agent/register` with a fresh human biscuit, the ABOM,
 * the `ssh-ed25519` key and no capabilities. 2026-06: `POST {authapi}/v1/agent/register` with the user's
 * Bearer token (and `X-OpenAI-Fedramp: true` for a FedRAMP account), `capabilities: ["responsesapi"]`,
 * `ttl: null`.
 */
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import { authApiRegisterUrl, isHeaderSafeToken, registerUrl, requireAuthApi, validateRuntimeId } from "../Domain/Endpoints.js"
import { LoginUnavailableError, type RuntimeIdError, type SettingsError } from "../Domain/Errors.js"
import { AgentRuntimeId } from "../Domain/Ids.js"
import { Settings } from "../Domain/Settings.js"
import { AGENT_CAPABILITIES, RegisterAgentRequest, RegisterAgentRequestV2, RegisterAgentResponse } from "../Domain/Wire.js"
import { decodeJsonBody, retrying, send } from "../internal/transport.js"
import { BiscuitMinter, type MintError } from "./BiscuitMinter.js"

/** Errors of a registration. */
export type RegisterError = MintError | RuntimeIdError | SettingsError

/** The AgentRegistry's operations. */
export interface Service {
  readonly register: (input: {
    readonly accessToken: Redacted.Redacted<string>
    readonly publicKeySsh: string
    /** 2026-06: the account is FedRAMP (`X-OpenAI-Fedramp: true`). */
    readonly fedramp?: boolean | undefined
  }) => Effect.Effect<AgentRuntimeId, RegisterError>
}

/** The AgentRegistry service. */
export class AgentRegistry extends Context.Tag("effect-agent-identity/AgentRegistry")<AgentRegistry, Service>() {}

// A body is validated once, by its encoder (which checks every field): its constructor is told not to.
const encodeBody = Schema.encodeSync(RegisterAgentRequest)
const encodeBodyV2 = Schema.encodeSync(RegisterAgentRequestV2)

/** The registry on the ambient HttpClient and BiscuitMinter. */
export const make = Effect.gen(function*() {
  const settings = yield* Settings
  const client = yield* HttpClient.HttpClient
  const minter = yield* BiscuitMinter

  /** 2026-04: one biscuit per POST, each attempt mints its own. */
  const registerWithBiscuit = (accessToken: Redacted.Redacted<string>, publicKeySsh: string) => {
    const url = registerUrl(settings.baseUrl)
    const body = JSON.stringify(encodeBody(new RegisterAgentRequest({ abom: settings.abom, agent_public_key: publicKeySsh, capabilities: [] }, true)))
    const attempt = Effect.gen(function*() {
      const biscuit = yield* minter.mint({ method: "POST", url }, accessToken)
      const request = HttpClientRequest.post(url).pipe(
        HttpClientRequest.setHeaders({ "x-openai-authorization": Redacted.value(biscuit), "user-agent": settings.userAgent }),
        HttpClientRequest.bodyText(body, "application/json")
      )
      return yield* send(client, { operation: "register", request, timeout: settings.timeouts.register, secrets: [accessToken, biscuit] })
    })
    return { url, reply: attempt.pipe(retrying(settings.retry, { idempotent: false })) }
  }

  /** 2026-06: the Bearer token at the AuthAPI, no biscuit. */
  const registerWithBearer = (authApi: string, accessToken: Redacted.Redacted<string>, publicKeySsh: string, fedramp: boolean) => {
    const url = authApiRegisterUrl(authApi)
    const body = JSON.stringify(encodeBodyV2(
      new RegisterAgentRequestV2({ abom: settings.abom, agent_public_key: publicKeySsh, capabilities: AGENT_CAPABILITIES, ttl: null }, true)
    ))
    const request = HttpClientRequest.post(url).pipe(
      HttpClientRequest.setHeaders({
        authorization: `Bearer ${Redacted.value(accessToken)}`,
        "user-agent": settings.userAgent,
        ...(fedramp ? { "x-openai-fedramp": "true" } : {})
      }),
      HttpClientRequest.bodyText(body, "application/json")
    )
    const attempt = send(client, { operation: "register", request, timeout: settings.timeouts.register, secrets: [accessToken] })
    // An agent POST the server may have seen is not repeated (it would register a second agent).
    return { url, reply: attempt.pipe(retrying(settings.retry, { idempotent: false })) }
  }

  const register: Service["register"] = ({ accessToken, fedramp, publicKeySsh }) =>
    Effect.gen(function*() {
      // A token no header can carry is the login's fault, said as such (not a defect of the HTTP stack).
      if (!isHeaderSafeToken(Redacted.value(accessToken))) return yield* new LoginUnavailableError({ reason: "MalformedToken" })
      const { reply, url } = settings.protocol === "2026-04"
        ? registerWithBiscuit(accessToken, publicKeySsh)
        : registerWithBearer(yield* requireAuthApi(settings), accessToken, publicKeySsh, fedramp === true)
      const answer = yield* Effect.flatMap(reply, decodeJsonBody(RegisterAgentResponse, "register", url))
      return AgentRuntimeId.make(yield* validateRuntimeId(answer.agent_runtime_id))
    }).pipe(Effect.withSpan("AgentRegistry.register", { captureStackTrace: false }))

  return AgentRegistry.of({ register })
})

/** The registry as a layer. */
export const layer: Layer.Layer<AgentRegistry, never, Settings | HttpClient.HttpClient | BiscuitMinter> =
  Layer.effect(AgentRegistry, make)
