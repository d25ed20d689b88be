/** Serves the reference backend on a Node HTTP server (loopback by default). */
import * as HttpServer from "@effect/platform/HttpServer"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as Effect from "effect/Effect"
import { createServer } from "node:http"
import * as ReferenceBackend from "./ReferenceBackend.js"

/** Where to listen, and the backend's own options. */
export interface StartOptions extends ReferenceBackend.Options {
  readonly host?: string
  /** 0 (default) picks a free port. */
  readonly port?: number
}

/**
 * Starts the backend for the life of the scope; returns its base URL (`http://host:port/backend-api`) and
 * its AuthAPI base (`http://host:port/api/accounts`).
 */
export const start = (options: StartOptions = {}) =>
  Effect.gen(function*() {
    const host = options.host ?? "127.0.0.1"
    const { router, service } = yield* ReferenceBackend.make(options)
    const server = yield* NodeHttpServer.make(() => createServer(), { host, port: options.port ?? 0 })
    yield* HttpServer.serveEffect(router).pipe(Effect.provideService(HttpServer.HttpServer, server))
    const address = server.address
    const port = address._tag === "TcpAddress" ? address.port : 0
    const hostPart = host.includes(":") ? `[${host}]` : host
    const origin = `http://${hostPart}:${port}`
    return {
      baseUrl: `${origin}${options.prefix ?? "/backend-api"}`,
      authApiBaseUrl: `${origin}${options.authApiPrefix ?? "/api/accounts"}`,
      backend: service
    }
  })
