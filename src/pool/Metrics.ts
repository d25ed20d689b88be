/**
 * The fleet's metrics, through Effect's `Metric` (the process-wide registry): registrations (agents, tasks,
 * session tasks), renewals of rejected tasks, failures by error tag, the latency of a header through the
 * pool, and the proxy's answers by status class. Any exporter that reads Effect's registry sees them
 * (`@effect/opentelemetry`'s metrics reader does; see the README's "Fleets" section); `snapshot` reads them
 * as plain numbers.
 */
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import * as MetricBoundaries from "effect/MetricBoundaries"
import type * as MetricPair from "effect/MetricPair"
import * as MetricState from "effect/MetricState"

/** What a registration registered: an agent identity, an account's task, or a session's task. */
export type RegistrationKind = "agent" | "task" | "session"

/** Registrations made by the pool, tagged `kind` (`agent`, `task`, `session`). */
export const registrations = Metric.counter("agent_identity_registrations_total", {
  description: "agent identities and tasks registered by the identity pool",
  incremental: true
})

/** Rejected tasks replaced by a newly registered one (401 recovery), tagged `kind` (`task`, `session`). */
export const renewals = Metric.counter("agent_identity_task_renewals_total", {
  description: "rejected agent tasks replaced by the identity pool",
  incremental: true
})

/** Failed pool operations, tagged `error` with the failure's `_tag`. */
export const failures = Metric.counter("agent_identity_failures_total", {
  description: "identity pool operations that failed, by error tag",
  incremental: true
})

/** Time to produce an `Authorization` header through the pool (registrations included when it needs them), in ms. */
export const headerLatency = Metric.histogram(
  "agent_identity_header_duration_ms",
  MetricBoundaries.fromIterable([0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000]),
  "time to produce an Authorization header through the identity pool, in milliseconds"
)

/** Requests the proxy answered, tagged `status` with the status class (`2xx`, `4xx`, …). */
export const proxyResponses = Metric.counter("agent_identity_proxy_responses_total", {
  description: "requests answered by the identity proxy, by status class",
  incremental: true
})

/** Every metric of this module by name, as an exporter or a test sees them. */
export const NAMES = [
  "agent_identity_registrations_total",
  "agent_identity_task_renewals_total",
  "agent_identity_failures_total",
  "agent_identity_header_duration_ms",
  "agent_identity_proxy_responses_total"
] as const

/** Counts one registration of a kind. */
export const countRegistration = (kind: RegistrationKind) => Metric.increment(Metric.tagged(registrations, "kind", kind))

/** Counts one renewal of a kind. */
export const countRenewal = (kind: "task" | "session") => Metric.increment(Metric.tagged(renewals, "kind", kind))

/** Counts one failure by its tag. */
export const countFailure = (error: { readonly _tag: string }) => Metric.increment(Metric.tagged(failures, "error", error._tag))

/** Records an effect's duration in `headerLatency` (in milliseconds, by the Clock). */
export const timeHeader = <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.clockWith((clock) =>
    Effect.flatMap(clock.currentTimeNanos, (start) =>
      Effect.tap(self, () =>
        Effect.flatMap(clock.currentTimeNanos, (end) => Metric.update(headerLatency, Number(end - start) / 1e6))))
  )

/** The pool's metrics as plain numbers (process-wide totals since start). */
export interface Snapshot {
  readonly registrations: Readonly<Record<RegistrationKind, number>>
  readonly renewals: Readonly<Record<"task" | "session", number>>
  /** By error tag. */
  readonly failures: Readonly<Record<string, number>>
  readonly header: { readonly count: number; readonly sum: number; readonly min: number; readonly max: number }
  /** By status class. */
  readonly proxyResponses: Readonly<Record<string, number>>
}

const tagOf = (pair: MetricPair.MetricPair.Untyped, key: string) => pair.metricKey.tags.find((t) => t.key === key)?.value

/** Reads the pool's metrics from Effect's registry. */
export const snapshot: Effect.Effect<Snapshot> = Effect.map(Metric.snapshot, (pairs) => {
  const registered: Record<RegistrationKind, number> = { agent: 0, task: 0, session: 0 }
  const renewed: Record<"task" | "session", number> = { task: 0, session: 0 }
  const failed: Record<string, number> = {}
  const answered: Record<string, number> = {}
  let header = { count: 0, sum: 0, min: 0, max: 0 }
  for (const pair of pairs) {
    const state = pair.metricState
    const name = pair.metricKey.name
    if (MetricState.isCounterState(state)) {
      const count = Number(state.count)
      if (name === "agent_identity_registrations_total") {
        const kind = tagOf(pair, "kind") as RegistrationKind | undefined
        if (kind !== undefined && kind in registered) registered[kind] += count
      } else if (name === "agent_identity_task_renewals_total") {
        const kind = tagOf(pair, "kind") as "task" | "session" | undefined
        if (kind !== undefined && kind in renewed) renewed[kind] += count
      } else if (name === "agent_identity_failures_total") {
        const tag = tagOf(pair, "error")
        if (tag !== undefined) failed[tag] = (failed[tag] ?? 0) + count
      } else if (name === "agent_identity_proxy_responses_total") {
        const status = tagOf(pair, "status")
        if (status !== undefined) answered[status] = (answered[status] ?? 0) + count
      }
    } else if (MetricState.isHistogramState(state) && name === "agent_identity_header_duration_ms") {
      header = { count: state.count, sum: state.sum, min: state.min, max: state.max }
    }
  }
  return { registrations: registered, renewals: renewed, failures: failed, header, proxyResponses: answered }
})
