/**
 * `effect-agent-identity/backend`: the server side, for applications that accept AgentAssertions or
 * test against a backend of their own. Each module is a namespace: `AssertionVerifier` (the verifier
 * and its HttpServer guard, `authenticate`), `ReferenceBackend` (the in-memory backend as an
 * HttpRouter, with its recorders) and `Server` (`Server.start`: the reference backend on a Node HTTP
 * server, loopback by default, for the life of a scope). The root entry does not re-export these:
 * the layering of docs/ARCHITECTURE.md keeps `backend` out of the root.
 */
export * as AssertionVerifier from "./AssertionVerifier.js"
export * as ReferenceBackend from "./ReferenceBackend.js"
export * as Server from "./server.js"
