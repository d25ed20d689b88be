import { describe, expect, it } from "@effect/vitest"
import * as ConfigValue from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Config from "../src/Domain/Settings.js"

describe("settings", () => {
  it.effect("layerConfig reads the environment's names; overrides win; defaults are Codex's", () =>
    Effect.gen(function*() {
      const provider = ConfigProvider.fromMap(new Map([
        ["CHATGPT_BASE_URL", "https://chatgpt.com/"],
        ["AGENT_IDENTITY_MODE", "disabled"],
        ["AGENT_IDENTITY_TRUSTED_HOSTS", " 127.0.0.1, ::1 ,,"],
        ["AGENT_IDENTITY_FORCED_WORKSPACE_ID", "ws-1"]
      ]))
      const settings = yield* Config.Settings.pipe(
        Effect.provide(Config.layerConfig({ ...Config.fromEnv, timeouts: { task: ConfigValue.succeed(Duration.seconds(5)) } })),
        Effect.withConfigProvider(provider)
      )
      expect(settings.baseUrl).toBe("https://chatgpt.com/backend-api")
      expect(settings.mode).toBe("disabled")
      expect(settings.trustedHosts).toEqual(["127.0.0.1", "[::1]"])
      expect(settings.forcedWorkspaceId).toEqual(Option.some("ws-1"))
      expect(Duration.toMillis(settings.timeouts.task)).toBe(5000)
      expect(Duration.toMillis(settings.timeouts.register)).toBe(15000)

      const defaults = Either.getOrThrow(Config.resolve())
      expect([defaults.baseUrl, defaults.mode, defaults.retry.maxAttempts, defaults.abom.agent_harness_id])
        .toEqual(["https://chatgpt.com/backend-api", "enabled", 3, "codex-cli"])
      expect(Duration.toMillis(defaults.timeouts.task)).toBe(30000)
      const bad = yield* Effect.flip(
        Config.Settings.pipe(
          Effect.provide(Config.layerConfig()),
          Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["AGENT_IDENTITY_MODE", "sometimes"]])))
        )
      )
      expect(ConfigError.isConfigError(bad)).toBe(true)
      expect(String(bad)).toContain("AGENT_IDENTITY_MODE")
    }))
})
