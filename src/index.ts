/**
 * effect-agent-identity: Codex-compatible ChatGPT agent identity for Effect applications.
 * Each service is a namespace: `KeyStore.KeyStore` (the tag), `KeyStore.layerFile(…)`, and so on.
 */
export * as AgentIdentityJwt from "./AgentIdentityJwt.js"
export * as AgentRegistry from "./AgentRegistry.js"
export * as AssertionSigner from "./AssertionSigner.js"
export * as AuthManager from "./AuthManager.js"
export * as BiscuitMinter from "./BiscuitMinter.js"
export * as AgentIdentityConfig from "./Config.js"
export * as AuthDocument from "./Domain/AuthDocument.js"
export * from "./Domain/Ids.js"
export * as Wire from "./Domain/Wire.js"
export * from "./Errors.js"
export * as Endpoints from "./http/endpoints.js"
export * as HttpMiddleware from "./http/middleware.js"
export * as Identity from "./Identity.js"
export * as KeyStore from "./KeyStore.js"
export * as Layers from "./Layers.js"
export * as SessionTasks from "./SessionTasks.js"
export * as TaskRegistry from "./TaskRegistry.js"
