/**
 * Every failure that crosses the public boundary: `Schema.TaggedError` classes with structured
 * fields and a message built from them. No field or message ever holds a private key, access token
 * or biscuit; response bodies are scrubbed of the request's secrets and cut to 512 characters.
 */
import * as Schema from "effect/Schema"

/** Which backend call an HTTP failure belongs to. */
export const HttpOperation = Schema.Literal("biscuit", "register", "task", "jwks", "credential", "request")
export type HttpOperation = typeof HttpOperation.Type

/** A stored or supplied private key that cannot be used (bad base64, bad or mismatched PKCS#8). */
export class InvalidKeyError extends Schema.TaggedError<InvalidKeyError>()("InvalidKeyError", {
  reason: Schema.String
}) {
  override get message() {
    return this.reason
  }
}

/** The stored identity or task belongs to another workspace, user or runtime than the current one. */
export class BindingMismatchError extends Schema.TaggedError<BindingMismatchError>()("BindingMismatchError", {
  field: Schema.Literal("workspace", "user", "runtime"),
  expected: Schema.NullOr(Schema.String),
  actual: Schema.NullOr(Schema.String)
}) {
  override get message() {
    return this.field === "runtime"
      ? `agent task runtime ${this.actual} does not match stored agent identity ${this.expected}`
      : `stored agent identity ${this.field} ${JSON.stringify(this.actual)} does not match current ${this.field} ${JSON.stringify(this.expected)}`
  }
}

/** A 401 whose body speaks of the request's timestamp: the local clock may be wrong. */
const TIMESTAMP_REFUSAL = /timestamp|clock|skew/i

/** The backend answered with a status that is not success. */
export class HttpStatusError extends Schema.TaggedError<HttpStatusError>()("HttpStatusError", {
  operation: HttpOperation,
  status: Schema.Number,
  method: Schema.String,
  url: Schema.String,
  body: Schema.String,
  /** From `Retry-After` (seconds or an HTTP date), when the server sent one. */
  retryAfterMillis: Schema.optional(Schema.Number),
  /** The server's clock minus ours, from its `Date` header (whole seconds), when it sent one. */
  serverClockOffsetMillis: Schema.optional(Schema.Number)
}) {
  /** A hint about the local clock when the server refused the request's timestamp. */
  get clockHint(): string | undefined {
    if (this.status !== 401 || !TIMESTAMP_REFUSAL.test(this.body)) return undefined
    const offset = this.serverClockOffsetMillis
    if (offset === undefined) return "the server refused the request's timestamp: check that this machine's clock is right"
    const seconds = Math.round(Math.abs(offset) / 1000)
    if (seconds <= 2) return "the server refused the request's timestamp, though its clock agrees with this machine's within 2 s (by its Date header)"
    return `the server refused the request's timestamp, and its clock is ${seconds} s ${offset > 0 ? "ahead of" : "behind"} this machine's (by its Date header): check this machine's clock`
  }
  override get message() {
    const hint = this.clockHint
    return `${this.operation} request failed with status ${this.status} from ${this.method} ${this.url}: ${this.body}${hint === undefined ? "" : ` (${hint})`}`
  }
}

/** The request could not be sent or its answer could not be read (connection refused, reset, …). */
export class TransportError extends Schema.TaggedError<TransportError>()("TransportError", {
  operation: HttpOperation,
  method: Schema.String,
  url: Schema.String,
  reason: Schema.String,
  /** False when the connection itself failed, so the server cannot have seen the request. */
  requestSent: Schema.Boolean
}) {
  override get message() {
    return `failed to send ${this.operation} request to ${this.method} ${this.url}: ${this.reason}`
  }
}

/** The request did not complete within its timeout. */
export class TimeoutError extends Schema.TaggedError<TimeoutError>()("TimeoutError", {
  operation: HttpOperation,
  method: Schema.String,
  url: Schema.String,
  timeoutMillis: Schema.Number
}) {
  override get message() {
    return `${this.operation} request to ${this.method} ${this.url} timed out after ${this.timeoutMillis} ms`
  }
}

/** A success answer whose body or headers are not what the protocol says. */
export class ResponseDecodeError extends Schema.TaggedError<ResponseDecodeError>()("ResponseDecodeError", {
  operation: HttpOperation,
  url: Schema.String,
  reason: Schema.String
}) {
  override get message() {
    return `failed to parse ${this.operation} response from ${this.url}: ${this.reason}`
  }
}

/** The sealed task id could not be opened (bad base64, tampered, wrong key, not UTF-8). */
export class DecryptError extends Schema.TaggedError<DecryptError>()("DecryptError", {
  reason: Schema.String
}) {
  override get message() {
    return this.reason
  }
}

/** Why there is no usable ChatGPT login. */
export const LoginUnavailableReason = Schema.Literal(
  "NoLogin",
  "ApiKey",
  "MissingToken",
  "MissingAccount",
  "Expired",
  "Unsupported",
  "PersonalAccessToken",
  "MalformedToken"
)
export type LoginUnavailableReason = typeof LoginUnavailableReason.Type

const loginMessages: Record<LoginUnavailableReason, string> = {
  NoLogin: "no ChatGPT login found in auth.json; run `codex login` first",
  ApiKey: "auth.json holds an API-key login; agent identity needs a ChatGPT login (`codex login`)",
  MissingToken: "the ChatGPT login in auth.json has no access token; run `codex login` again",
  MissingAccount: "the ChatGPT login in auth.json has no account id; run `codex login` again",
  Expired: "the ChatGPT access token was rejected (expired or revoked); log in again with `codex login`",
  Unsupported: "auth.json holds a login this library cannot use for agent identity; log in with `codex login` or an access token",
  PersonalAccessToken: "a personal access token is a Bearer login and has no agent identity; use an Agent Identity access token or `codex login`",
  MalformedToken:
    "the access token holds characters an HTTP header cannot carry (control characters, spaces or non-ASCII); log in again with `codex login`"
}

/** No ChatGPT login can be used: none, an API-key login, a missing, expired or malformed token, or a missing account. */
export class LoginUnavailableError extends Schema.TaggedError<LoginUnavailableError>()("LoginUnavailableError", {
  reason: LoginUnavailableReason
}) {
  override get message() {
    return loginMessages[this.reason]
  }
}

/**
 * auth.json could not be read, parsed, locked or written. `NotRegularFile`: the path (or the lock's)
 * is a FIFO, directory, device or socket, refused before it is opened. A database store (`effect-agent-identity/store`)
 * fails `Database` when a query fails and `Encryption` when a row cannot be opened with the store's keys
 * (`path` names the store and the account, never a secret). `systemError` keeps the
 * system's own words (`EROFS: read-only file system`) when a system call failed.
 */
export class KeyStoreError extends Schema.TaggedError<KeyStoreError>()("KeyStoreError", {
  reason: Schema.Literal("Io", "Unparseable", "Lock", "NotRegularFile", "Database", "Encryption"),
  path: Schema.String,
  detail: Schema.String,
  systemError: Schema.optional(Schema.String)
}) {
  override get message() {
    return `${this.path}: ${this.detail}${this.systemError === undefined ? "" : ` (${this.systemError})`}`
  }
}

/** auth.json holds an agent identity in a form we do not write (a later Codex's JWT form); we never overwrite it silently. */
export class ForeignIdentityFormatError extends Schema.TaggedError<ForeignIdentityFormatError>()(
  "ForeignIdentityFormatError",
  { form: Schema.String }
) {
  override get message() {
    return `auth.json holds an agent identity in another format (${this.form}); run \`agent-identity forget\` to replace it`
  }
}

/** A runtime id (or task id) from the server that is unsafe to put in a URL path or a header. */
export class RuntimeIdError extends Schema.TaggedError<RuntimeIdError>()("RuntimeIdError", {
  reason: Schema.String,
  /** Shown JSON-escaped and cut to 80 characters. */
  runtimeId: Schema.String,
  kind: Schema.optional(Schema.Literal("runtime", "task"))
}) {
  override get message() {
    return `unsafe agent ${this.kind === "task" ? "task" : "runtime"} id ${this.runtimeId}: ${this.reason}`
  }
}

/** Agent identity is switched off in the settings. */
export class AgentIdentityDisabledError extends Schema.TaggedError<AgentIdentityDisabledError>()(
  "AgentIdentityDisabledError",
  {}
) {
  override get message() {
    return "agent identity is disabled (mode: disabled)"
  }
}

/** An AgentAssertion (or a task registration signature) that a verifier rejects. */
export class AssertionRejectedError extends Schema.TaggedError<AssertionRejectedError>()("AssertionRejectedError", {
  reason: Schema.String
}) {
  override get message() {
    return this.reason
  }
}

/** An Agent Identity JWT that cannot be decoded or verified. */
export class AgentIdentityJwtError extends Schema.TaggedError<AgentIdentityJwtError>()("AgentIdentityJwtError", {
  reason: Schema.String
}) {
  override get message() {
    return this.reason
  }
}

/**
 * Agent or task registration was unavailable (429, 5xx, timeouts, connection failures) on every attempt.
 * Under 2026-06 the account then uses Bearer for a cooldown, as Codex does, instead of asking again.
 */
export class BootstrapUnavailableError extends Schema.TaggedError<BootstrapUnavailableError>()("BootstrapUnavailableError", {
  operation: Schema.Literal("agent identity registration", "agent task registration"),
  attempts: Schema.Number,
  reason: Schema.String
}) {
  override get message() {
    return `agent identity bootstrap unavailable after ${this.attempts} attempts during ${this.operation}: ${this.reason}`
  }
}

/** A setting that cannot be used, found before any network I/O. */
export class SettingsError extends Schema.TaggedError<SettingsError>()("SettingsError", {
  option: Schema.Literal("baseUrl", "authApiBaseUrl", "jwksBaseUrl", "userAuthApiBaseUrl", "protocol"),
  reason: Schema.String
}) {
  override get message() {
    return `setting ${this.option} ${this.reason}`
  }
}

/** An optional native module that a chosen layer needs is not installed, or does not load here. */
export class NativeModuleUnavailableError extends Schema.TaggedError<NativeModuleUnavailableError>()(
  "NativeModuleUnavailableError",
  { module: Schema.String, reason: Schema.String }
) {
  override get message() {
    return `${this.module} is not available (${this.reason}); install it, or use the default layer`
  }
}

/**
 * A fleet's store holds no login for the account a request names (`NotHeld`), or holds several users' and
 * the request names none (`SeveralUsers`).
 */
export class AccountNotFoundError extends Schema.TaggedError<AccountNotFoundError>()("AccountNotFoundError", {
  accountId: Schema.String,
  reason: Schema.Literal("NotHeld", "SeveralUsers")
}) {
  override get message() {
    return this.reason === "NotHeld"
      ? `no login is held for account ${JSON.stringify(this.accountId)}`
      : `account ${JSON.stringify(this.accountId)} has logins of several users: name one`
  }
}

/**
 * A database store (`effect-agent-identity/store`) could not be opened or kept: `KeyMissing` (no
 * `AGENT_IDENTITY_STORE_KEY`), `KeyInvalid` (a key is not base64 of 32 bytes), `WrongKey` (rows are encrypted with
 * a key the store was not given, or a row does not open with its key), `Location` (not `sqlite:PATH` or
 * `postgres://…`), `Database` (connecting or a query failed), `Migration` (the schema could not be brought up to
 * date). `location` is the store's secret-free location; no key or secret is ever in the message.
 */
export class StoreError extends Schema.TaggedError<StoreError>()("StoreError", {
  reason: Schema.Literal("KeyMissing", "KeyInvalid", "WrongKey", "Location", "Database", "Migration"),
  location: Schema.String,
  detail: Schema.String
}) {
  override get message() {
    return `${this.location}: ${this.detail}`
  }
}

/** Every error the library's services can fail with. */
export type AuthError =
  | InvalidKeyError
  | BindingMismatchError
  | HttpStatusError
  | TransportError
  | TimeoutError
  | ResponseDecodeError
  | DecryptError
  | LoginUnavailableError
  | KeyStoreError
  | ForeignIdentityFormatError
  | RuntimeIdError
  | AgentIdentityDisabledError
  | AgentIdentityJwtError
  | BootstrapUnavailableError
  | SettingsError
  | NativeModuleUnavailableError
  | AccountNotFoundError
  | StoreError

/** The schema of the union, for encoding errors (e.g. `--json` output). */
export const AuthError = Schema.Union(
  InvalidKeyError,
  BindingMismatchError,
  HttpStatusError,
  TransportError,
  TimeoutError,
  ResponseDecodeError,
  DecryptError,
  LoginUnavailableError,
  KeyStoreError,
  ForeignIdentityFormatError,
  RuntimeIdError,
  AgentIdentityDisabledError,
  AgentIdentityJwtError,
  BootstrapUnavailableError,
  SettingsError,
  NativeModuleUnavailableError,
  AccountNotFoundError,
  StoreError
)
