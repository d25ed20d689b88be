/**
 * The KeyStore a command works on: auth.json in the Codex home, or with `--store` the KeyStore of the account
 * `--account` names in that database (its module loaded only then, so the auth.json path loads no SQL driver).
 */
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type { AccountNotFoundError, KeyStoreError, StoreError } from "../Domain/Errors.js"
import * as KeyStore from "../services/KeyStore.js"
import type { Resolved } from "./settings.js"

export const keyStoreOf = (
  resolved: Pick<Resolved, "codexHome" | "accessToken"> & { readonly store?: Resolved["store"] }
): Layer.Layer<KeyStore.KeyStore, StoreError | KeyStoreError | AccountNotFoundError> =>
  Option.match(resolved.store ?? Option.none(), {
    onNone: () =>
      KeyStore.layerFile({ codexHome: resolved.codexHome, accessToken: Option.getOrUndefined(resolved.accessToken) }).pipe(
        Layer.provide(NodeFileSystem.layer)
      ),
    onSome: ({ account, url }) =>
      Layer.unwrapEffect(
        Effect.map(Effect.promise(() => import("./store.js")), (m) => m.accountKeyStore(url, Option.getOrElse(account, () => "")))
      )
  })
