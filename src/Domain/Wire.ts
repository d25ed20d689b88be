/** The backend's request and response bodies, fields in wire order. */
import * as Schema from "effect/Schema"

/** The agent bill of materials sent at registration. */
export class Abom extends Schema.Class<Abom>("Abom")({
  agent_version: Schema.String,
  agent_harness_id: Schema.String,
  running_location: Schema.String
}) {}

/** `POST {base}/v1/agent/register` body. */
export class RegisterAgentRequest extends Schema.Class<RegisterAgentRequest>("RegisterAgentRequest")({
  abom: Abom,
  agent_public_key: Schema.String,
  capabilities: Schema.Array(Schema.String)
}) {}

/** Its answer: extra fields are ignored. */
export const RegisterAgentResponse = Schema.Struct({ agent_runtime_id: Schema.String })

/** `POST {base}/v1/agent/{id}/task/register` body (seed order: signature, then timestamp). */
export class RegisterTaskRequest extends Schema.Class<RegisterTaskRequest>("RegisterTaskRequest")({
  signature: Schema.String,
  timestamp: Schema.String
}) {}

/** Its answer: a plaintext or sealed task id, snake_case or camelCase. */
export const RegisterTaskResponse = Schema.Struct({
  task_id: Schema.optional(Schema.String),
  taskId: Schema.optional(Schema.String),
  encrypted_task_id: Schema.optional(Schema.String),
  encryptedTaskId: Schema.optional(Schema.String)
})

