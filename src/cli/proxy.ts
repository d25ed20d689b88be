/**
 * `proxy`: the identity proxy (`pool/Proxy.ts`) on the accounts of the store `--store` names, until interrupted.
 * Loaded only for this command, with the store's driver.
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Settings from "../Domain/Settings.js"
import * as IdentityPool from "../pool/IdentityPool.js"
import * as Proxy from "../pool/Proxy.js"
import { ListenError, listenReason } from "./errors.js"
import { print } from "./output.js"
import type { Resolved } from "./settings.js"
import { storeLayer } from "./store.js"

/** `proxy --store URL --listen HOST:PORT`. */
export const proxy = (resolved: Resolved, listen: { readonly host: string; readonly port: number }) =>
  Effect.gen(function*() {
    const served = yield* Proxy.serve({ host: listen.host, port: listen.port }).pipe(
      Effect.catchTag("ServeError", (error) =>
        Effect.fail(
          new ListenError({
            host: listen.host,
            port: listen.port,
            reason: listenReason(error.cause, { port: "--listen HOST:PORT", freePort: "port 0", host: "--listen 127.0.0.1:PORT" })
          })
        ))
    )
    const upstream = new URL(resolved.settings.baseUrl)
    const base = `${served.url}${upstream.pathname.replace(/\/+$/, "")}`
    yield* print(resolved.json, { url: served.url, base_url: base, upstream: upstream.origin }, () => [
      `identity proxy listening on ${served.url}, forwarding to ${upstream.origin}`,
      `point a client's base URL at ${base}; each request names its account in ChatGPT-Account-ID`,
      "Stop it with Ctrl-C."
    ])
    return yield* Effect.never
  }).pipe(
    Effect.scoped,
    Effect.provide(
      IdentityPool.layer().pipe(
        Layer.provideMerge(Layer.mergeAll(
          storeLayer(Option.getOrElse(Option.map(resolved.store, (s) => s.url), () => "")),
          Layer.succeed(Settings.Settings, resolved.settings),
          NodeHttpClient.layer
        ))
      )
    )
  )
