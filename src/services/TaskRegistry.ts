/**
 * TaskRegistry: registers a task for an agent with a signed timestamp. 2026-04: `POST
 * {base}/v1/agent/{id}/task/register` with a fresh biscuit, body `{signature, timestamp}`. 2026-06: `POST
 * {authapi}/v1/agent/{id}/task/register` with no credentials at all, body `{timestamp, signature}`: the
 * signature is the only proof. The task id comes back plain (`task_id`, `taskId`) or sealed to the agent's
 * key (`encrypted_task_id`, `encryptedTaskId`).
 */
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import { authApiTaskRegisterUrl, requireAuthApi, taskRegisterUrl, validateTaskId } from "../Domain/Endpoints.js"
import {
  type DecryptError,
  LoginUnavailableError,
  ResponseDecodeError,
  type RuntimeIdError,
  type SettingsError
} from "../Domain/Errors.js"
import { TaskId } from "../Domain/Ids.js"
import { Settings } from "../Domain/Settings.js"
import { RegisterTaskRequest, RegisterTaskRequestV2, RegisterTaskResponse } from "../Domain/Wire.js"
import { decodeJsonBody, retrying, send } from "../internal/transport.js"
import { AssertionSigner, type SigningIdentity } from "./AssertionSigner.js"
import { BiscuitMinter, type MintError } from "./BiscuitMinter.js"

/** Errors of a task registration. */
export type TaskError = MintError | RuntimeIdError | DecryptError | SettingsError

/** The TaskRegistry's operations. */
export interface Service {
  readonly register: (input: {
    /** 2026-04 mints a biscuit with it; 2026-06 sends no credentials. */
    readonly accessToken: Option.Option<Redacted.Redacted<string>>
    readonly identity: SigningIdentity
  }) => Effect.Effect<TaskId, TaskError>
}

/** The TaskRegistry service. */
export class TaskRegistry extends Context.Tag("effect-agent-identity/TaskRegistry")<TaskRegistry, Service>() {}

// A body is validated once, by its encoder (which checks every field): its constructor is told not to.
const encodeBody = Schema.encodeSync(RegisterTaskRequest)
const encodeBodyV2 = Schema.encodeSync(RegisterTaskRequestV2)

/** The registry on the ambient HttpClient, BiscuitMinter and AssertionSigner. */
export const make = Effect.gen(function*() {
  const settings = yield* Settings
  const client = yield* HttpClient.HttpClient
  const minter = yield* BiscuitMinter
  const signer = yield* AssertionSigner

  const post = (url: string, body: string, headers: Record<string, string>, secrets: ReadonlyArray<Redacted.Redacted<string>>) =>
    send(client, {
      operation: "task",
      request: HttpClientRequest.post(url).pipe(
        HttpClientRequest.setHeaders({ ...headers, "user-agent": settings.userAgent }),
        HttpClientRequest.bodyText(body, "application/json")
      ),
      timeout: settings.timeouts.task,
      secrets
    })

  /** 2026-04: a biscuit minted with the access token for each attempt; a POST the server may have seen is not repeated. */
  const withBiscuit = (url: string, identity: SigningIdentity, accessToken: Option.Option<Redacted.Redacted<string>>) =>
    Effect.gen(function*() {
      if (Option.isNone(accessToken)) return yield* new LoginUnavailableError({ reason: "NoLogin" })
      const token = accessToken.value
      return yield* Effect.gen(function*() {
        const biscuit = yield* minter.mint({ method: "POST", url }, token)
        const signed = yield* signer.signTaskRegistration(identity)
        return yield* post(url, JSON.stringify(encodeBody(new RegisterTaskRequest(signed, true))), {
          "x-openai-authorization": Redacted.value(biscuit)
        }, [token, biscuit])
      }).pipe(retrying(settings.retry, { idempotent: false }))
    })

  /** 2026-06: no credentials; a spare task is harmless, so every transient failure is tried again, freshly signed. */
  const signedOnly = (url: string, identity: SigningIdentity) =>
    Effect.flatMap(signer.signTaskRegistration(identity), (signed) =>
      post(url, JSON.stringify(encodeBodyV2(new RegisterTaskRequestV2(signed, true))), {}, [])).pipe(
        retrying(settings.retry, { idempotent: true, serverErrors: true })
      )

  const register: Service["register"] = ({ accessToken, identity }) =>
    Effect.gen(function*() {
      const url = settings.protocol === "2026-04"
        ? yield* taskRegisterUrl(settings.baseUrl, identity.agentRuntimeId)
        : yield* authApiTaskRegisterUrl(yield* requireAuthApi(settings), identity.agentRuntimeId)
      const reply = settings.protocol === "2026-04" ? withBiscuit(url, identity, accessToken) : signedOnly(url, identity)
      const answer = yield* Effect.flatMap(reply, decodeJsonBody(RegisterTaskResponse, "task", url))
      const plain = answer.task_id ?? answer.taskId
      const sealed = answer.encrypted_task_id ?? answer.encryptedTaskId
      const taskId = plain !== undefined && plain !== null
        ? TaskId.make(plain)
        : sealed !== undefined && sealed !== null
        ? yield* signer.openTaskId(identity.key, sealed)
        : yield* new ResponseDecodeError({ operation: "task", url, reason: "agent task registration response omitted task id" })
      return TaskId.make(yield* validateTaskId(taskId))
    }).pipe(Effect.withSpan("TaskRegistry.register", { captureStackTrace: false }))

  return TaskRegistry.of({ register })
})

/** The registry as a layer. */
export const layer: Layer.Layer<
  TaskRegistry,
  never,
  Settings | HttpClient.HttpClient | BiscuitMinter | AssertionSigner
> = Layer.effect(TaskRegistry, make)
