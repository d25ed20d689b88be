/** Ready-made compositions of the services. */
import type * as FileSystem from "@effect/platform/FileSystem"
import type * as HttpClient from "@effect/platform/HttpClient"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type { SettingsError } from "../Domain/Errors.js"
import * as Settings from "../Domain/Settings.js"
import * as AgentIdentityJwt from "../services/AgentIdentityJwt.js"
import * as AgentRegistry from "../services/AgentRegistry.js"
import * as AssertionSigner from "../services/AssertionSigner.js"
import * as BiscuitMinter from "../services/BiscuitMinter.js"
import * as KeyStore from "../services/KeyStore.js"
import * as TaskRegistry from "../services/TaskRegistry.js"
import * as AuthManager from "./AuthManager.js"
import * as Identity from "./Identity.js"

/** The HTTP services (registries, biscuits, the JWKS) and the signer, on the ambient HttpClient. */
export const services: Layer.Layer<
  | AssertionSigner.AssertionSigner
  | BiscuitMinter.BiscuitMinter
  | AgentRegistry.AgentRegistry
  | TaskRegistry.TaskRegistry
  | AgentIdentityJwt.AgentIdentityJwt,
  never,
  Settings.Settings | HttpClient.HttpClient
> = Layer.mergeAll(AgentRegistry.layer, TaskRegistry.layer, AgentIdentityJwt.layer).pipe(
  Layer.provideMerge(BiscuitMinter.layer),
  Layer.provideMerge(AssertionSigner.layer)
)

/** The AuthManager and its offline half (`Identity`) with the HTTP services, given settings, a KeyStore and an HttpClient. */
export const authManager: Layer.Layer<
  AuthManager.AuthManager | Identity.Identity,
  never,
  Settings.Settings | KeyStore.KeyStore | HttpClient.HttpClient
> = AuthManager.layer.pipe(
  Layer.provideMerge(Identity.layer),
  Layer.provide(services)
)

/** Everything on Codex's auth.json: settings from plain values, the file KeyStore and the AuthManager. */
export const layerFile = (
  options: Settings.Options & KeyStore.FileOptions
): Layer.Layer<
  AuthManager.AuthManager | Identity.Identity | KeyStore.KeyStore | Settings.Settings,
  SettingsError,
  HttpClient.HttpClient | FileSystem.FileSystem
> => authManager.pipe(Layer.provideMerge(Layer.merge(KeyStore.layerFile(options), Settings.layer(options))))

/** `layerFile` with every option a `Config`. */
export const layerFileConfig = (
  config: Config.Config.Wrap<Settings.Options & KeyStore.FileOptions>
): Layer.Layer<
  AuthManager.AuthManager | Identity.Identity | KeyStore.KeyStore | Settings.Settings,
  SettingsError | ConfigError.ConfigError,
  HttpClient.HttpClient | FileSystem.FileSystem
> => Layer.unwrapEffect(Effect.map(Config.unwrap(config), layerFile))

/**
 * The ready layer: `layerFileConfig` with the usual environment names — `CODEX_HOME` (else `~/.codex`),
 * `CHATGPT_BASE_URL`, `AGENT_IDENTITY_PROTOCOL` and the rest of `Settings.fromEnv`.
 */
export const layerFromEnv: Layer.Layer<
  AuthManager.AuthManager | Identity.Identity | KeyStore.KeyStore | Settings.Settings,
  SettingsError | ConfigError.ConfigError,
  HttpClient.HttpClient | FileSystem.FileSystem
> = layerFileConfig({ ...Settings.fromEnv, codexHome: KeyStore.codexHome })
