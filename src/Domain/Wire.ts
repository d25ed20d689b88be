/** The backend's request and response bodies, fields in wire order. */
import * as Schema from "effect/Schema"

/** The agent bill of materials sent at registration. */
export class Abom extends Schema.Class<Abom>("Abom")({
  agent_version: Schema.String,
  agent_harness_id: Schema.String,
  running_location: Schema.String
}) {}

/** `POST {base}/v1/agent/register` body (2026-04: `capabilities` always empty). */
export class RegisterAgentRequest extends Schema.Class<RegisterAgentRequest>("RegisterAgentRequest")({
  abom: Abom,
  agent_public_key: Schema.String,
  capabilities: Schema.Array(Schema.String)
}) {}

/** `POST {authapi}/v1/agent/register` body (2026-06): `capabilities: ["responsesapi"]`, `ttl: null`. */
export class RegisterAgentRequestV2 extends Schema.Class<RegisterAgentRequestV2>("RegisterAgentRequestV2")({
  abom: Abom,
  agent_public_key: Schema.String,
  capabilities: Schema.Array(Schema.String),
  ttl: Schema.Null
}) {}

/** The capabilities a 2026-06 agent registers with. */
export const AGENT_CAPABILITIES: ReadonlyArray<string> = ["responsesapi"]

/** Its answer: extra fields are ignored. */
export const RegisterAgentResponse = Schema.Struct({ agent_runtime_id: Schema.String })

/** `POST {base}/v1/agent/{id}/task/register` body (seed order: signature, then timestamp). */
export class RegisterTaskRequest extends Schema.Class<RegisterTaskRequest>("RegisterTaskRequest")({
  signature: Schema.String,
  timestamp: Schema.String
}) {}

/** `POST {authapi}/v1/agent/{id}/task/register` body (2026-06 order: timestamp, then signature). */
export class RegisterTaskRequestV2 extends Schema.Class<RegisterTaskRequestV2>("RegisterTaskRequestV2")({
  timestamp: Schema.String,
  signature: Schema.String
}) {}

/** Its answer: a plaintext or sealed task id, snake_case or camelCase (null counts as absent). */
export const RegisterTaskResponse = Schema.Struct({
  task_id: Schema.optionalWith(Schema.String, { nullable: true }),
  taskId: Schema.optionalWith(Schema.String, { nullable: true }),
  encrypted_task_id: Schema.optionalWith(Schema.String, { nullable: true }),
  encryptedTaskId: Schema.optionalWith(Schema.String, { nullable: true })
})

/** `GET {authapi}/v1/user-auth-credential/whoami` answer: a personal access token's account. */
export const CredentialWhoami = Schema.Struct({
  email: Schema.optionalWith(Schema.String, { nullable: true }),
  chatgpt_user_id: Schema.String,
  chatgpt_account_id: Schema.String,
  chatgpt_plan_type: Schema.String,
  chatgpt_account_is_fedramp: Schema.Boolean
})
export type CredentialWhoami = typeof CredentialWhoami.Type

