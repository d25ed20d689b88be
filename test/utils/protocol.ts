/**
 * The suites written for the seed (protocol 2026-04) run pinned to it, so that every earlier behaviour
 * stays checked as it was; the 2026-06 suites use the library's default.
 */
import type * as Settings from "../../src/Domain/Settings.js"
import { layerAuthManager } from "../../src/testing/index.js"

/** The seed's protocol. */
export const SEED = "2026-04" as const

/** `layerAuthManager` with protocol 2026-04 unless the settings name another. */
export const layerAuthManager2604 = (options: Parameters<typeof layerAuthManager>[0] = {}) =>
  layerAuthManager({ ...options, settings: { protocol: SEED, ...options.settings } as Settings.Options })
