/** Ready-made compositions of the services. */
import type * as FileSystem from "@effect/platform/FileSystem"
import type * as HttpClient from "@effect/platform/HttpClient"
import * as Layer from "effect/Layer"
import * as AgentRegistry from "../services/AgentRegistry.js"
import * as AssertionSigner from "../services/AssertionSigner.js"
import * as AuthManager from "./AuthManager.js"
import * as BiscuitMinter from "../services/BiscuitMinter.js"
import * as Config from "../Domain/Settings.js"
import * as KeyStore from "../services/KeyStore.js"
import * as TaskRegistry from "../services/TaskRegistry.js"

/** The three HTTP services and the signer, on the ambient HttpClient. */
export const services: Layer.Layer<
  AssertionSigner.AssertionSigner | BiscuitMinter.BiscuitMinter | AgentRegistry.AgentRegistry | TaskRegistry.TaskRegistry,
  never,
  Config.AgentIdentityConfig | HttpClient.HttpClient
> = Layer.mergeAll(AgentRegistry.layer, TaskRegistry.layer).pipe(
  Layer.provideMerge(BiscuitMinter.layer),
  Layer.provideMerge(AssertionSigner.layer)
)

/** The AuthManager with the HTTP services, given settings, a KeyStore and an HttpClient. */
export const authManager: Layer.Layer<
  AuthManager.AuthManager,
  never,
  Config.AgentIdentityConfig | KeyStore.KeyStore | HttpClient.HttpClient
> = AuthManager.layer.pipe(Layer.provide(services))

/** Everything on Codex's auth.json: settings from plain values, the file KeyStore and the AuthManager. */
export const layerFile = (
  options: Config.Options & KeyStore.FileOptions
): Layer.Layer<
  AuthManager.AuthManager | KeyStore.KeyStore | Config.AgentIdentityConfig,
  never,
  HttpClient.HttpClient | FileSystem.FileSystem
> => authManager.pipe(Layer.provideMerge(Layer.merge(KeyStore.layerFile(options), Config.layer(options))))
