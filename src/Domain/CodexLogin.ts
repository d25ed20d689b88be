/** auth.json documents shaped like the ones `codex login` writes, for tests and the reference backend. */
import { encodeBase64Url } from "../crypto/base64.js"
import type { AuthDocument } from "./AuthDocument.js"

const base64UrlJson = (value: unknown) => encodeBase64Url(new TextEncoder().encode(JSON.stringify(value)))

/** The profile claims an id_token may carry (plan and FedRAMP only when given). */
export interface IdTokenOptions {
  readonly accountId?: string | null | undefined
  readonly userId?: string | null | undefined
  readonly email?: string | undefined
  readonly planType?: string | undefined
  readonly isFedramp?: boolean | undefined
}

/** An unsigned (`alg: none`) id_token with Codex's namespace claims. */
export const idToken = (claims: IdTokenOptions) =>
  [
    base64UrlJson({ alg: "none", typ: "JWT" }),
    base64UrlJson({
      ...(claims.email === undefined ? {} : { email: claims.email }),
      "https://api.openai.com/auth": {
        chatgpt_user_id: claims.userId ?? null,
        chatgpt_account_id: claims.accountId ?? null,
        ...(claims.planType === undefined ? {} : { chatgpt_plan_type: claims.planType }),
        ...(claims.isFedramp === undefined ? {} : { chatgpt_account_is_fedramp: claims.isFedramp })
      }
    }),
    "signature"
  ].join(".")

/** An auth.json like the one `codex login` writes (Codex's `make_chatgpt_auth` fixture). */
export const chatgptAuthDocument = (options: IdTokenOptions & {
  readonly accountId: string | null
  readonly accessToken?: string
  readonly refreshToken?: string
  readonly lastRefresh?: string
}): AuthDocument => ({
  auth_mode: "chatgpt",
  OPENAI_API_KEY: null,
  tokens: {
    id_token: idToken({ ...options, userId: options.userId ?? null }),
    access_token: options.accessToken ?? `access-token-${options.accountId}`,
    refresh_token: options.refreshToken ?? "refresh-token",
    account_id: options.accountId
  },
  last_refresh: options.lastRefresh ?? "2026-04-20T12:00:00.123456Z"
})

/** An auth.json holding an API-key login. */
export const apiKeyAuthDocument = (apiKey = "sk-test"): AuthDocument => ({ auth_mode: "apikey", OPENAI_API_KEY: apiKey })

