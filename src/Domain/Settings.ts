/**
 * Settings shared by every service: mode, base URL (normalised), trusted hosts, forced workspace,
 * timeouts, retries and the ABOM. Given as plain values (`layer`) or read through `Config` (`layerConfig`).
 */
import * as Config from "effect/Config"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { Abom } from "./Wire.js"
import { normalizeBaseUrl, normalizeHost } from "./Endpoints.js"

/** Whether agent identity auth is used (Codex's `features.use_agent_identity`). */
export type Mode = "enabled" | "disabled"

/** The resolved settings. */
export interface Settings {
  readonly mode: Mode
  /** Normalised with Codex's rule. */
  readonly baseUrl: string
  /** Hosts, besides Codex's own, to which an AgentAssertion may be sent. */
  readonly trustedHosts: ReadonlyArray<string>
  /** Codex's `forced_chatgpt_workspace_id`: wins over `tokens.account_id` when non-empty. */
  readonly forcedWorkspaceId: Option.Option<string>
  readonly timeouts: {
    readonly biscuit: Duration.Duration
    readonly register: Duration.Duration
    readonly task: Duration.Duration
  }
  readonly retry: {
    /** Attempts in all, the first included. */
    readonly maxAttempts: number
    readonly baseDelay: Duration.Duration
    /** Cap on a backoff delay and on a server's `Retry-After`. */
    readonly maxDelay: Duration.Duration
  }
  readonly abom: Abom
  readonly userAgent: string
}

/** The settings every service reads. */
export class AgentIdentityConfig extends Context.Tag("effect-agent-identity/AgentIdentityConfig")<
  AgentIdentityConfig,
  Settings
>() {}

/** The library's version, sent as the ABOM's `agent_version` unless overridden. */
export const VERSION = "0.1.0"

/** Codex's default base URL. */
export const DEFAULT_BASE_URL = "https://chatgpt.com/backend-api"

const osName = (platform: string): string =>
  platform === "darwin" ? "macos" : platform === "win32" ? "windows" : platform

/** Plain-value options; every field has a default. */
export interface Options {
  readonly mode?: Mode | undefined
  readonly baseUrl?: string | undefined
  readonly trustedHosts?: ReadonlyArray<string> | undefined
  readonly forcedWorkspaceId?: string | undefined
  readonly timeouts?: Partial<Settings["timeouts"]> | undefined
  readonly retry?: Partial<Settings["retry"]> | undefined
  readonly abom?: Partial<{
    readonly agentVersion: string
    readonly agentHarnessId: string
    readonly runningLocation: string
  }> | undefined
  readonly userAgent?: string | undefined
}

/** Resolves options to settings: 15 s / 15 s / 30 s timeouts, 3 attempts, ABOM `codex-cli` / `cli-{os}`. */
export const make = (options: Options = {}): Settings => ({
  mode: options.mode ?? "enabled",
  baseUrl: normalizeBaseUrl(options.baseUrl ?? DEFAULT_BASE_URL),
  trustedHosts: (options.trustedHosts ?? []).map(normalizeHost).filter((h) => h.length > 0),
  forcedWorkspaceId: Option.fromNullable(options.forcedWorkspaceId).pipe(Option.filter((w) => w.length > 0)),
  timeouts: {
    biscuit: options.timeouts?.biscuit ?? Duration.seconds(15),
    register: options.timeouts?.register ?? Duration.seconds(15),
    task: options.timeouts?.task ?? Duration.seconds(30)
  },
  retry: {
    maxAttempts: Math.max(1, options.retry?.maxAttempts ?? 3),
    baseDelay: options.retry?.baseDelay ?? Duration.millis(250),
    maxDelay: options.retry?.maxDelay ?? Duration.seconds(10)
  },
  abom: new Abom({
    agent_version: options.abom?.agentVersion ?? VERSION,
    agent_harness_id: options.abom?.agentHarnessId ?? "codex-cli",
    running_location: options.abom?.runningLocation ?? `cli-${osName(process.platform)}`
  }),
  userAgent: options.userAgent ?? `effect-agent-identity/${VERSION}`
})

/** The settings from plain values. */
export const layer = (options: Options = {}): Layer.Layer<AgentIdentityConfig> =>
  Layer.succeed(AgentIdentityConfig, make(options))

/**
 * The settings from `Config`: `CHATGPT_BASE_URL`, `AGENT_IDENTITY_MODE`, `AGENT_IDENTITY_TRUSTED_HOSTS`
 * (comma separated), `AGENT_IDENTITY_FORCED_WORKSPACE_ID`; `overrides` win over all of them.
 */
export const layerConfig = (overrides: Options = {}): Layer.Layer<AgentIdentityConfig, import("effect/ConfigError").ConfigError> =>
  Layer.effect(
    AgentIdentityConfig,
    Effect.gen(function*() {
      const baseUrl = yield* Config.string("CHATGPT_BASE_URL").pipe(Config.withDefault(DEFAULT_BASE_URL))
      const mode = yield* Config.literal("enabled", "disabled")("AGENT_IDENTITY_MODE").pipe(Config.withDefault("enabled" as const))
      const hosts = yield* Config.string("AGENT_IDENTITY_TRUSTED_HOSTS").pipe(Config.withDefault(""))
      const forced = yield* Config.option(Config.string("AGENT_IDENTITY_FORCED_WORKSPACE_ID"))
      return make({
        baseUrl,
        mode,
        trustedHosts: hosts.split(",").map((h) => h.trim()).filter((h) => h.length > 0),
        forcedWorkspaceId: Option.getOrUndefined(forced),
        ...Object.fromEntries(Object.entries(overrides).filter(([, value]) => value !== undefined))
      })
    })
  )
