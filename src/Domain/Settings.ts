/**
 * Settings shared by every service: mode, protocol generation, base URLs, trusted hosts, forced
 * workspace, timeouts, retries and the ABOM. Given as plain values (`layer`) or as `Config`s
 * (`layerConfig`, as `PgClient.layerConfig` does); `fromEnv` reads the usual environment names.
 */
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import {
  authApiBaseFor,
  isHttpUrl,
  normalizeBaseUrl,
  normalizeHost,
  PRODUCTION_AUTHAPI,
  trimTrailingSlashes
} from "./Endpoints.js"
import { SettingsError } from "./Errors.js"
import { Abom } from "./Wire.js"

/** Whether agent identity auth is used (Codex's `features.use_agent_identity`). */
export type Mode = "enabled" | "disabled"

/**
 * Which generation of the protocol is spoken: `2026-04` (human biscuits at the ChatGPT backend, the
 * seed's auth.json record) or `2026-06` (registration at the AuthAPI, access-token logins; Codex today).
 */
export type Protocol = "2026-04" | "2026-06"

/** The protocols, newest last. */
export const PROTOCOLS: ReadonlyArray<Protocol> = ["2026-04", "2026-06"]

/** The default protocol: what Codex and the backend speak today. */
export const DEFAULT_PROTOCOL: Protocol = "2026-06"

/** The resolved settings. */
export interface Values {
  readonly mode: Mode
  readonly protocol: Protocol
  /** Normalised with Codex's rule. */
  readonly baseUrl: string
  /**
   * 2026-06: where agents and tasks are registered. The given one, else the AuthAPI of the base URL's
   * ChatGPT environment; None for a base outside those environments with none given.
   */
  readonly authApiBaseUrl: Option.Option<string>
  /** 2026-06: where the Agent Identity JWKS is served (default: the base URL). */
  readonly jwksBaseUrl: string
  /** 2026-06: the AuthAPI that names a personal access token's account (Codex's `CODEX_AUTHAPI_BASE_URL`). */
  readonly userAuthApiBaseUrl: string
  /** Hosts, besides Codex's own, to which an AgentAssertion may be sent. */
  readonly trustedHosts: ReadonlyArray<string>
  /** Codex's `forced_chatgpt_workspace_id`: wins over `tokens.account_id` when non-empty. */
  readonly forcedWorkspaceId: Option.Option<string>
  readonly timeouts: {
    readonly biscuit: Duration.Duration
    readonly register: Duration.Duration
    readonly task: Duration.Duration
    readonly jwks: Duration.Duration
  }
  readonly retry: {
    /** Attempts in all, the first included. */
    readonly maxAttempts: number
    readonly baseDelay: Duration.Duration
    /** Cap on a backoff delay and on a server's `Retry-After`. */
    readonly maxDelay: Duration.Duration
  }
  /** 2026-06: how long an account uses Bearer after its registration was unavailable. */
  readonly bootstrapCooldown: Duration.Duration
  readonly abom: Abom
  readonly userAgent: string
}

/** The settings every service reads. */
export class Settings extends Context.Tag("effect-agent-identity/Settings")<Settings, Values>() {}

/** The library's version, sent as the ABOM's `agent_version` unless overridden. */
export const VERSION = "0.1.0"

/** Codex's default base URL. */
export const DEFAULT_BASE_URL = "https://chatgpt.com/backend-api"

const osName = (platform: string): string =>
  platform === "darwin" ? "macos" : platform === "win32" ? "windows" : platform

/** Plain-value options; every field has a default. */
export interface Options {
  readonly mode?: Mode | undefined
  readonly protocol?: Protocol | undefined
  readonly baseUrl?: string | undefined
  readonly authApiBaseUrl?: string | undefined
  readonly jwksBaseUrl?: string | undefined
  readonly userAuthApiBaseUrl?: string | undefined
  readonly trustedHosts?: ReadonlyArray<string> | undefined
  readonly forcedWorkspaceId?: string | undefined
  readonly timeouts?: {
    readonly biscuit?: Duration.DurationInput | undefined
    readonly register?: Duration.DurationInput | undefined
    readonly task?: Duration.DurationInput | undefined
    readonly jwks?: Duration.DurationInput | undefined
  } | undefined
  readonly retry?: {
    readonly maxAttempts?: number | undefined
    readonly baseDelay?: Duration.DurationInput | undefined
    readonly maxDelay?: Duration.DurationInput | undefined
  } | undefined
  readonly bootstrapCooldown?: Duration.DurationInput | undefined
  readonly abom?: {
    readonly agentVersion?: string | undefined
    readonly agentHarnessId?: string | undefined
    readonly runningLocation?: string | undefined
  } | undefined
  readonly userAgent?: string | undefined
}

/**
 * A base URL given by the user: trimmed, trailing `/` removed. (An empty environment variable means unset,
 * as Codex reads its overrides; `fromEnv` drops those. An empty option is an error, not the default.)
 */
const givenUrl = (value: string | undefined): string | undefined =>
  value === undefined ? undefined : trimTrailingSlashes(value.trim())

const checkUrl = (option: SettingsError["option"], value: string): Either.Either<string, SettingsError> =>
  isHttpUrl(value)
    ? Either.right(value)
    : Either.left(new SettingsError({ option, reason: value.length === 0 ? "is empty" : "is not an http(s) URL" }))

/**
 * Resolves options to settings, or says which one is wrong. Defaults: protocol 2026-06, Codex's base URL,
 * 15 s / 15 s / 30 s / 10 s timeouts, 3 attempts, a 1-hour bootstrap cooldown, ABOM `codex-cli` / `cli-{os}`.
 */
export const resolve = (options: Options = {}): Either.Either<Values, SettingsError> =>
  Either.gen(function*() {
    const rawBase = givenUrl(options.baseUrl) ?? DEFAULT_BASE_URL
    yield* checkUrl("baseUrl", rawBase)
    const baseUrl = normalizeBaseUrl(rawBase)
    const givenAuthApi = givenUrl(options.authApiBaseUrl)
    if (givenAuthApi !== undefined) yield* checkUrl("authApiBaseUrl", givenAuthApi)
    const jwksBaseUrl = givenUrl(options.jwksBaseUrl) ?? baseUrl
    yield* checkUrl("jwksBaseUrl", jwksBaseUrl)
    const userAuthApiBaseUrl = givenUrl(options.userAuthApiBaseUrl) ?? PRODUCTION_AUTHAPI
    yield* checkUrl("userAuthApiBaseUrl", userAuthApiBaseUrl)
    return {
      mode: options.mode ?? "enabled",
      protocol: options.protocol ?? DEFAULT_PROTOCOL,
      baseUrl,
      authApiBaseUrl: givenAuthApi === undefined ? authApiBaseFor(rawBase) : Option.some(givenAuthApi),
      jwksBaseUrl,
      userAuthApiBaseUrl,
      trustedHosts: (options.trustedHosts ?? []).map(normalizeHost).filter((h) => h.length > 0),
      forcedWorkspaceId: Option.fromNullable(options.forcedWorkspaceId).pipe(Option.filter((w) => w.length > 0)),
      timeouts: {
        biscuit: Duration.decode(options.timeouts?.biscuit ?? "15 seconds"),
        register: Duration.decode(options.timeouts?.register ?? "15 seconds"),
        task: Duration.decode(options.timeouts?.task ?? "30 seconds"),
        jwks: Duration.decode(options.timeouts?.jwks ?? "10 seconds")
      },
      retry: {
        maxAttempts: Math.max(1, options.retry?.maxAttempts ?? 3),
        baseDelay: Duration.decode(options.retry?.baseDelay ?? "250 millis"),
        maxDelay: Duration.decode(options.retry?.maxDelay ?? "10 seconds")
      },
      bootstrapCooldown: Duration.decode(options.bootstrapCooldown ?? "1 hour"),
      abom: new Abom({
        agent_version: options.abom?.agentVersion ?? VERSION,
        agent_harness_id: options.abom?.agentHarnessId ?? "codex-cli",
        running_location: options.abom?.runningLocation ?? `cli-${osName(process.platform)}`
      }),
      userAgent: options.userAgent ?? `effect-agent-identity/${VERSION}`
    }
  })

/** The error of an unknown protocol name. */
export const invalidProtocol = (text: string): SettingsError =>
  new SettingsError({ option: "protocol", reason: `must be one of ${PROTOCOLS.join(", ")} (got ${JSON.stringify(text.slice(0, 40))})` })

/** The settings from plain values. */
export const layer = (options: Options = {}): Layer.Layer<Settings, SettingsError> =>
  Layer.effect(Settings, resolve(options))

/** A string setting from the environment: trimmed, empty meaning unset. */
const optionalString = (name: string): Config.Config<string | undefined> =>
  Config.string(name).pipe(
    Config.map((value) => value.trim()),
    Config.option,
    Config.map(Option.filter((value) => value.length > 0)),
    Config.map(Option.getOrUndefined)
  )

/**
 * The options from the usual environment names: `CHATGPT_BASE_URL`, `AGENT_IDENTITY_MODE`,
 * `AGENT_IDENTITY_PROTOCOL`, `AGENT_IDENTITY_TRUSTED_HOSTS` (comma separated),
 * `AGENT_IDENTITY_FORCED_WORKSPACE_ID`, and Codex's `CODEX_AGENT_IDENTITY_AUTHAPI_BASE_URL` and
 * `CODEX_AGENT_IDENTITY_JWKS_BASE_URL` and `CODEX_AUTHAPI_BASE_URL`. Each field is its own `Config`, so a caller can replace any of them.
 */
export const fromEnv = {
  baseUrl: optionalString("CHATGPT_BASE_URL"),
  mode: Config.option(Config.literal("enabled", "disabled")("AGENT_IDENTITY_MODE")).pipe(Config.map(Option.getOrUndefined)),
  protocol: Config.option(Config.literal(...PROTOCOLS)("AGENT_IDENTITY_PROTOCOL")).pipe(Config.map(Option.getOrUndefined)),
  trustedHosts: optionalString("AGENT_IDENTITY_TRUSTED_HOSTS").pipe(
    Config.map((hosts) => (hosts ?? "").split(",").map((h) => h.trim()).filter((h) => h.length > 0))
  ),
  forcedWorkspaceId: optionalString("AGENT_IDENTITY_FORCED_WORKSPACE_ID"),
  authApiBaseUrl: optionalString("CODEX_AGENT_IDENTITY_AUTHAPI_BASE_URL"),
  jwksBaseUrl: optionalString("CODEX_AGENT_IDENTITY_JWKS_BASE_URL"),
  userAuthApiBaseUrl: optionalString("CODEX_AUTHAPI_BASE_URL")
} satisfies Config.Config.Wrap<Options>

/** The settings from `Config`s, one per option (any may be left out: its default applies). */
export const layerConfig = (
  config: Config.Config.Wrap<Options> = fromEnv
): Layer.Layer<Settings, ConfigError.ConfigError | SettingsError> =>
  Layer.effect(Settings, Effect.flatMap(Config.unwrap(config), resolve))
