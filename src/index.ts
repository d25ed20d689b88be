/**
 * effect-agent-identity: Codex-compatible ChatGPT agent identity for Effect applications.
 * Each service is a namespace: `KeyStore.KeyStore` (the tag), `KeyStore.layerFile(…)`, and so on.
 */
export * as AgentIdentityJwt from "./services/AgentIdentityJwt.js"
export * as AgentRegistry from "./services/AgentRegistry.js"
export * as AssertionSigner from "./services/AssertionSigner.js"
export * as AuthManager from "./manager/AuthManager.js"
export * as BiscuitMinter from "./services/BiscuitMinter.js"
export * as Binding from "./Domain/Binding.js"
export * as Settings from "./Domain/Settings.js"
export * as AuthDocument from "./Domain/AuthDocument.js"
export * from "./Domain/Ids.js"
export * as Wire from "./Domain/Wire.js"
export * from "./Domain/Errors.js"
export * as Endpoints from "./Domain/Endpoints.js"
export * as HttpMiddleware from "./http/middleware.js"
export * as Identity from "./manager/Identity.js"
export * as KeyStore from "./services/KeyStore.js"
export * as Layers from "./manager/Layers.js"
export * as PersonalAccessToken from "./services/PersonalAccessToken.js"
export * as Progress from "./Domain/Progress.js"
export * as SessionTasks from "./manager/SessionTasks.js"
export * as TaskRegistry from "./services/TaskRegistry.js"
