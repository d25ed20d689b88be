// The reference backend in a process of its own, for `npm run bench`: the client's CPU is then measured
// without the server's. Idle keep-alive sockets are kept for two minutes (Node's default is 5 s), so a
// client reusing one never races the server closing it. Prints the base URL; stops when stdin closes.
import * as HttpServer from "@effect/platform/HttpServer"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import { createServer } from "node:http"
import * as ReferenceBackend from "../dist/backend/ReferenceBackend.js"

const scope = Effect.runSync(Scope.make())
const port = await Effect.runPromise(Effect.gen(function*() {
  const { router } = yield* ReferenceBackend.make()
  const server = yield* NodeHttpServer.make(() => Object.assign(createServer(), { keepAliveTimeout: 120_000 }), { host: "127.0.0.1", port: 0 })
  yield* HttpServer.serveEffect(router).pipe(Effect.provideService(HttpServer.HttpServer, server))
  return server.address._tag === "TcpAddress" ? server.address.port : 0
}).pipe(Scope.extend(scope)))
process.stdout.write(`http://127.0.0.1:${port}/backend-api\n`)
process.stdin.resume()
process.stdin.on("end", () => {
  void Effect.runPromise(Scope.close(scope, Exit.void)).finally(() => process.exit(0))
})
