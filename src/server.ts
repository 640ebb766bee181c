import closeWithGrace from 'close-with-grace'
import { buildApp } from './app.js'
import { ConfigError, loadConfig } from './config.js'

let config
try {
  config = loadConfig()
} catch (err) {
  if (!(err instanceof ConfigError)) throw err
  console.error(err.message)
  process.exit(1)
}

const app = await buildApp(config)

// SIGTERM/SIGINT: drain (readiness 503, answers with Connection: close, at most
// SHUTDOWN_DRAIN_MS), then stop accepting, finish in-flight requests, close the database.
// After an uncaught error there is nothing to drain for: close at once.
closeWithGrace({ delay: config.shutdownDrainMs + 10_000 }, async ({ signal, err }) => {
  if (err) {
    app.log.error({ err }, 'closing after an error')
  } else {
    app.log.info({ signal, drainMs: config.shutdownDrainMs }, 'draining, then closing')
    await app.shutdown.drain(config.shutdownDrainMs)
  }
  await app.close()
})

await app.listen({ host: config.host, port: config.port })
