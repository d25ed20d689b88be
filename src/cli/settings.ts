/**
 * How the global options and their environment defaults become the library's settings: each option given
 * on the command line replaces the `Config` of the same setting, and the rest come from the environment
 * through the library's own `Settings.fromEnv` and `KeyStore.codexHome`. No @effect/cli here: the fast
 * path uses it too.
 */
import * as Config from "effect/Config"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Redacted from "effect/Redacted"
import * as path from "node:path"
import { SettingsError } from "../Domain/Errors.js"
import * as Settings from "../Domain/Settings.js"
import * as KeyStore from "../services/KeyStore.js"

/** Parsed global options. */
export interface Global {
  readonly codexHome: Option.Option<string>
  readonly baseUrl: Option.Option<string>
  readonly trustHost: ReadonlyArray<string>
  readonly json: boolean
  readonly protocol: Option.Option<string>
  readonly authapiBaseUrl: Option.Option<string>
  readonly jwksBaseUrl: Option.Option<string>
  /** `--store`: a database instead of auth.json. */
  readonly store: Option.Option<string>
}

/** What a command runs with. */
export interface Resolved {
  readonly codexHome: string
  readonly settings: Settings.Values
  readonly json: boolean
  /** `CODEX_ACCESS_TOKEN`: the login for this run, over auth.json's, never written. */
  readonly accessToken: Option.Option<Redacted.Redacted<string>>
  /** `--store` and `--account`: the account's KeyStore in a database replaces auth.json. */
  readonly store: Option.Option<{ readonly url: string; readonly account: Option.Option<string> }>
}

const given = <A>(flag: Option.Option<A>, fallback: Config.Config<A | undefined>): Config.Config<A | undefined> =>
  Option.match(flag, { onNone: () => fallback, onSome: (value) => Config.succeed(value) })

const protocolOf = (text: string): Effect.Effect<Settings.Protocol, SettingsError> =>
  (Settings.PROTOCOLS as ReadonlyArray<string>).includes(text)
    ? Effect.succeed(text as Settings.Protocol)
    : Effect.fail(Settings.invalidProtocol(text))

/** Where each setting comes from: its option, and the environment variable behind it. */
const SOURCES: Readonly<Record<SettingsError["option"], { readonly flag?: keyof Global & string; readonly option?: string; readonly env: string }>> = {
  baseUrl: { flag: "baseUrl", option: "--base-url", env: "CHATGPT_BASE_URL" },
  authApiBaseUrl: { flag: "authapiBaseUrl", option: "--authapi-base-url", env: "CODEX_AGENT_IDENTITY_AUTHAPI_BASE_URL" },
  jwksBaseUrl: { flag: "jwksBaseUrl", option: "--jwks-base-url", env: "CODEX_AGENT_IDENTITY_JWKS_BASE_URL" },
  userAuthApiBaseUrl: { env: "CODEX_AUTHAPI_BASE_URL" },
  protocol: { flag: "protocol", option: "--protocol", env: "AGENT_IDENTITY_PROTOCOL" }
}

/** The error, saying where the wrong value came from: the option given, else its environment variable. */
const located = (global: Global, command: string) => (error: SettingsError): SettingsError => {
  const source = SOURCES[error.option]
  const flag = source.flag === undefined ? undefined : global[source.flag]
  const given = flag !== undefined && Option.isOption(flag) && Option.isSome(flag)
  const where = given ? `given with ${source.option}; see \`agent-identity ${command} --help\`` : `from $${source.env}`
  return new SettingsError({ option: error.option, reason: `${error.reason} (${where})` })
}

/** Applies the environment defaults, validating every setting before any file or network is touched. */
export const resolve = (global: Global, command = "COMMAND", account: Option.Option<string> = Option.none()) =>
  Effect.gen(function*() {
    const protocol = Option.isSome(global.protocol) ? Option.some(yield* protocolOf(global.protocol.value)) : Option.none()
    const options = yield* Config.unwrap<Settings.Options>({
      ...Settings.fromEnv,
      baseUrl: given(global.baseUrl, Settings.fromEnv.baseUrl),
      protocol: given(protocol, Settings.fromEnv.protocol),
      authApiBaseUrl: given(global.authapiBaseUrl, Settings.fromEnv.authApiBaseUrl),
      jwksBaseUrl: given(global.jwksBaseUrl, Settings.fromEnv.jwksBaseUrl),
      trustedHosts: Config.map(Settings.fromEnv.trustedHosts, (env) => [...global.trustHost, ...env]),
      mode: Config.succeed("enabled")
    })
    const settings = yield* Settings.resolve(options)
    const codexHome = yield* Option.match(global.codexHome, { onNone: () => KeyStore.codexHome, onSome: Config.succeed })
    const accessToken = yield* KeyStore.accessTokenFromEnv
    return {
      codexHome: path.resolve(codexHome),
      settings,
      json: global.json,
      accessToken: Option.fromNullable(accessToken),
      store: Option.map(global.store, (url) => ({ url: url.trim(), account }))
    } satisfies Resolved
  }).pipe(Effect.mapError((error) => error._tag === "SettingsError" ? located(global, command)(error) : error))

/**
 * The settings of a command that brings its own backend (`serve`, `demo`): only the protocol is read
 * (its option, else $AGENT_IDENTITY_PROTOCOL); nothing else of the environment applies to it.
 */
export const resolveProtocolOnly = (global: Global, command: string) =>
  Effect.gen(function*() {
    const protocol = Option.isSome(global.protocol) ? yield* protocolOf(global.protocol.value) : yield* Settings.fromEnv.protocol
    const settings = yield* Settings.resolve({ protocol })
    return { json: global.json, settings }
  }).pipe(Effect.mapError((error) => error._tag === "SettingsError" ? located(global, command)(error) : error))
