import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    setupFiles: ["test/setup.ts"],
    // vitest would run one file at a time on 2 cores (cores - 1 workers); most files wait on child
    // processes, sockets or timers as much as they compute, so two at a time keep both cores busy.
    maxWorkers: 2,
    minWorkers: 1,
    // A safety net only (tests never assert wall-clock times): spawning CLIs slows down on a loaded machine.
    testTimeout: 60_000,
    hookTimeout: 30_000
  }
})
