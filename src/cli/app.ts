/** The `agent-identity` command tree (spec/cli.md). Online commands are imported on demand. */
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as HelpDoc from "@effect/cli/HelpDoc"
import * as ValidationError from "@effect/cli/ValidationError"
import * as Options from "@effect/cli/Options"
import * as Effect from "effect/Effect"
import { type Global, options as global, resolve } from "./global.js"
import * as Offline from "./offline.js"

const online = Effect.promise(() => import("./online.js"))

const command = <Name extends string, E, R>(
  name: Name,
  description: string,
  handler: (resolved: Effect.Effect.Success<ReturnType<typeof resolve>>) => Effect.Effect<void, E, R>
) =>
  Command.make(name, global, (options: Global) => Effect.flatMap(resolve(options), handler)).pipe(
    Command.withDescription(description)
  )

const register = command(
  "register",
  "ensure an agent identity for the ChatGPT login in auth.json (reuse, else register) and store it",
  (resolved) => Effect.flatMap(online, (m) => m.register(resolved))
)

const task = command(
  "task",
  "ensure the identity, then reuse its background task or register one and store its id",
  (resolved) => Effect.flatMap(online, (m) => m.task(resolved))
)

const header = command(
  "header",
  "print the Authorization value for a downstream request (AgentAssertion where allowed, else Bearer); no network",
  Offline.header
)

const status = command("status", "show the binding, the stored identity and its task (never the private key)", Offline.status)

const forget = command("forget", "remove the stored agent identity from auth.json, keeping every other field", Offline.forget)

const verify = Command.make(
  "verify",
  {
    ...global,
    header: Args.text({ name: "HEADER" }).pipe(Args.withDescription("the Authorization value, `AgentAssertion <token>`")),
    publicKey: Options.text("public-key").pipe(Options.withDescription("the agent's `ssh-ed25519 …` public key")),
    maxSkewSeconds: Options.integer("max-skew-seconds").pipe(
      Options.withDefault(300),
      Options.withDescription("largest accepted distance between the assertion's timestamp and now")
    )
  },
  (options) => Effect.flatMap(resolve(options), (resolved) => Offline.verify(resolved, options))
).pipe(Command.withDescription("check an AgentAssertion offline; exit 1 when it is invalid"))

const importJwt = Command.make(
  "import-jwt",
  {
    ...global,
    jwt: Args.text({ name: "-" }).pipe(
      Args.withDescription("read the JWT from stdin (the default, unless $AGENT_IDENTITY_JWT is set); never give the JWT itself here: `ps` shows it to every user"),
      Args.optional
    )
  },
  (options) => Effect.flatMap(resolve(options), (resolved) => Effect.flatMap(online, (m) => m.importJwt(resolved, options.jwt)))
).pipe(Command.withDescription("verify an Agent Identity JWT (from stdin or $AGENT_IDENTITY_JWT) against the backend's JWKS (RS256) and store it in auth.json"))

const login = Command.make(
  "login",
  {
    ...global,
    withAccessToken: Options.boolean("with-access-token").pipe(
      Options.withDescription("read an access token from stdin: an Agent Identity JWT, or a personal access token (at-…)")
    )
  },
  (options) =>
    Effect.gen(function*() {
      if (!options.withAccessToken) {
        return yield* Effect.fail(ValidationError.invalidValue(HelpDoc.p("login needs --with-access-token (a ChatGPT login is made with `codex login`)")))
      }
      const resolved = yield* resolve(options)
      return yield* Effect.flatMap(online, (m) => m.loginFromStdin(resolved))
    })
).pipe(Command.withDescription("store an access token read from stdin as Codex's `login --with-access-token` does (verified first)"))

const serve = Command.make(
  "serve",
  {
    ...global,
    host: Options.text("host").pipe(Options.withDefault("127.0.0.1"), Options.withDescription("address to listen on")),
    port: Options.integer("port").pipe(Options.withDefault(0), Options.withDescription("port (0 picks a free one)"))
  },
  (options) => Effect.flatMap(resolve(options), (resolved) => Effect.flatMap(online, (m) => m.serve(resolved, options)))
).pipe(Command.withDescription("run the embedded reference backend"))

const demo = command(
  "demo",
  "run the whole flow (register, task, header, a request, an offline check; under 2026-06 an access-token login too) against the embedded backend on 127.0.0.1",
  (resolved) => Effect.flatMap(online, (m) => m.demo(resolved))
)

/** The root command. */
export const app = Command.make("agent-identity").pipe(
  Command.withDescription("a cryptographic agent identity with the ChatGPT backend, shared with Codex's auth.json"),
  Command.withSubcommands([register, task, header, status, verify, forget, login, importJwt, serve, demo])
)
