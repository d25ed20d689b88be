/** Branded identifiers. */
import * as Schema from "effect/Schema"

/** The id the backend gives a registered agent key. */
export const AgentRuntimeId = Schema.String.pipe(Schema.brand("AgentRuntimeId"))
export type AgentRuntimeId = typeof AgentRuntimeId.Type

/** The id of a registered background task. */
export const TaskId = Schema.String.pipe(Schema.brand("TaskId"))
export type TaskId = typeof TaskId.Type
