/**
 * The transport's body reading against a real server on 127.0.0.1: a body with a declared length
 * within the cap is read whole, without the response's stream (which aborts its request once read, at
 * the cost of a DOMException each time); larger or undeclared bodies are still cut at 64 KiB.
 */
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { describe, expect, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"
import { MAX_BODY_BYTES, send } from "../../src/internal/transport.js"

/** A loopback server answering `/len/N` with N bytes and a Content-Length, `/chunked/N` without one. */
const server = Effect.acquireRelease(
  Effect.async<{ readonly url: string; readonly connections: () => number }>((resume) => {
    let connections = 0
    const http = createServer((request, response) => {
      const [, kind, size] = request.url!.split("/")
      const body = "x".repeat(Number(size))
      if (kind === "len") response.writeHead(200, { "content-length": String(body.length) })
      else response.writeHead(200, { "transfer-encoding": "chunked" })
      response.end(body)
    })
    http.on("connection", () => connections++)
    http.listen(0, "127.0.0.1", () =>
      resume(Effect.succeed(Object.assign(http, { url: `http://127.0.0.1:${(http.address() as AddressInfo).port}`, connections: () => connections }))))
  }),
  (http) => Effect.async<void>((resume) => void (http as unknown as ReturnType<typeof createServer>).close(() => resume(Effect.void)))
)

const keepAlive = NodeHttpClient.layerWithoutAgent.pipe(Layer.provide(NodeHttpClient.makeAgentLayer({ keepAlive: true })))

/** Requests whose response body was read through its stream. */
let streamed = 0

const get = (url: string) =>
  Effect.flatMap(HttpClient.HttpClient, (client) =>
    send(
      HttpClient.transformResponse(client, Effect.map((response) =>
        new Proxy(response, {
          get: (target, property, receiver) => {
            if (property === "stream") streamed++
            return Reflect.get(target, property, receiver)
          }
        }))),
      { operation: "biscuit", request: HttpClientRequest.get(url), timeout: Duration.seconds(10), secrets: [] }
    ))

describe("transport body reading", () => {
  it.live("declared-length bodies are read whole, not streamed, on one keep-alive connection", () =>
    Effect.gen(function*() {
      const { connections, url } = yield* server
      streamed = 0
      for (let i = 0; i < 20; i++) {
        const reply = yield* get(`${url}/len/${i * 100}`)
        expect(reply.body.length).toBe(i * 100)
      }
      expect((yield* get(`${url}/len/${MAX_BODY_BYTES}`)).body.length).toBe(MAX_BODY_BYTES)
      expect(connections()).toBe(1)
      expect(streamed).toBe(0)
    }).pipe(Effect.scoped, Effect.provide(keepAlive)))

  it.live("a body past the cap is refused, declared or not; an undeclared small one is read", () =>
    Effect.gen(function*() {
      const { url } = yield* server
      for (const path of [`len/${MAX_BODY_BYTES + 1}`, `chunked/${MAX_BODY_BYTES + 1}`, "len/5000000", "chunked/5000000"]) {
        const failure = yield* Effect.flip(get(`${url}/${path}`))
        expect(failure._tag, path).toBe("ResponseDecodeError")
      }
      streamed = 0
      expect((yield* get(`${url}/chunked/300`)).body).toBe("x".repeat(300))
      expect(streamed).toBe(1)
    }).pipe(Effect.scoped, Effect.provide(keepAlive)))
})
