/**
 * How the global options and their environment defaults become the library's settings. Environment
 * values come through `Config`, never `process.env`. No @effect/cli here: the fast path uses it too.
 */
import * as Config from "effect/Config"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as os from "node:os"
import * as path from "node:path"
import * as Settings from "../Domain/Settings.js"

/** Parsed global options. */
export interface Global {
  readonly codexHome: Option.Option<string>
  readonly baseUrl: Option.Option<string>
  readonly trustHost: ReadonlyArray<string>
  readonly json: boolean
}

/** What a command runs with. */
export interface Resolved {
  readonly codexHome: string
  readonly settings: Settings.Settings
  readonly json: boolean
}

/** Applies the environment defaults. */
export const resolve = (global: Global) =>
  Effect.gen(function*() {
    const envHome = yield* Config.option(Config.string("CODEX_HOME"))
    const envBase = yield* Config.option(Config.string("CHATGPT_BASE_URL"))
    const envHosts = yield* Config.string("AGENT_IDENTITY_TRUSTED_HOSTS").pipe(Config.withDefault(""))
    const codexHome = Option.getOrElse(
      Option.orElse(global.codexHome, () => Option.filter(envHome, (h) => h.length > 0)),
      () => path.join(os.homedir(), ".codex")
    )
    const baseUrl = Option.getOrElse(
      Option.orElse(global.baseUrl, () => Option.filter(envBase, (b) => b.length > 0)),
      () => Settings.DEFAULT_BASE_URL
    )
    const trustedHosts = [...global.trustHost, ...envHosts.split(",")].map((h) => h.trim()).filter((h) => h.length > 0)
    return {
      codexHome: path.resolve(codexHome),
      settings: Settings.make({ baseUrl, trustedHosts, mode: "enabled" }),
      json: global.json
    } satisfies Resolved
  })
