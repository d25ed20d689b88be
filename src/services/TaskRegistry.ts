/**
 * TaskRegistry: registers a background task for an agent (`POST {base}/v1/agent/{id}/task/register`
 * with a fresh biscuit and a signed timestamp). The task id comes back plain (`task_id`, `taskId`) or
 * sealed to the agent's key (`encrypted_task_id`, `encryptedTaskId`).
 */
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import { AssertionSigner, type SigningIdentity } from "./AssertionSigner.js"
import { BiscuitMinter, type MintError } from "./BiscuitMinter.js"
import { AgentIdentityConfig } from "../Domain/Settings.js"
import { TaskId } from "../Domain/Ids.js"
import { RegisterTaskRequest, RegisterTaskResponse } from "../Domain/Wire.js"
import { type DecryptError, ResponseDecodeError, type RuntimeIdError } from "../Domain/Errors.js"
import { taskRegisterUrl } from "../Domain/Endpoints.js"
import { decodeJsonBody, retrying, send } from "../internal/transport.js"

/** Errors of a task registration. */
export type TaskError = MintError | RuntimeIdError | DecryptError

/** The TaskRegistry's operations. */
export interface Service {
  readonly register: (input: {
    readonly accessToken: Redacted.Redacted<string>
    readonly identity: SigningIdentity
  }) => Effect.Effect<TaskId, TaskError>
}

/** The TaskRegistry service. */
export class TaskRegistry extends Context.Tag("effect-agent-identity/TaskRegistry")<TaskRegistry, Service>() {}

const encodeBody = Schema.encodeSync(RegisterTaskRequest)

/** The registry on the ambient HttpClient, BiscuitMinter and AssertionSigner. */
export const make = Effect.gen(function*() {
  const config = yield* AgentIdentityConfig
  const client = yield* HttpClient.HttpClient
  const minter = yield* BiscuitMinter
  const signer = yield* AssertionSigner
  const register: Service["register"] = ({ accessToken, identity }) =>
    Effect.gen(function*() {
      const url = yield* taskRegisterUrl(config.baseUrl, identity.agentRuntimeId)
      const attempt = Effect.gen(function*() {
        const biscuit = yield* minter.mint({ method: "POST", url }, accessToken)
        const signed = yield* signer.signTaskRegistration(identity)
        const request = HttpClientRequest.post(url).pipe(
          HttpClientRequest.setHeaders({ "x-openai-authorization": Redacted.value(biscuit), "user-agent": config.userAgent }),
          HttpClientRequest.bodyText(JSON.stringify(encodeBody(new RegisterTaskRequest(signed))), "application/json")
        )
        return yield* send(client, { operation: "task", request, timeout: config.timeouts.task, secrets: [accessToken, biscuit] })
      })
      const answer = yield* attempt.pipe(
        retrying(config.retry, { idempotent: false }),
        Effect.flatMap(decodeJsonBody(RegisterTaskResponse, "task", url))
      )
      const plain = answer.task_id ?? answer.taskId
      if (plain !== undefined) return TaskId.make(plain)
      const sealed = answer.encrypted_task_id ?? answer.encryptedTaskId
      if (sealed !== undefined) return yield* signer.openTaskId(identity.key, sealed)
      return yield* new ResponseDecodeError({ operation: "task", url, reason: "agent task registration response omitted task id" })
    }).pipe(Effect.withSpan("TaskRegistry.register"))
  return TaskRegistry.of({ register })
})

/** The registry as a layer. */
export const layer: Layer.Layer<
  TaskRegistry,
  never,
  AgentIdentityConfig | HttpClient.HttpClient | BiscuitMinter | AssertionSigner
> = Layer.effect(TaskRegistry, make)
