import { ConfigError } from '../config.js'

/** Runs an admin command: a bad variable is the user's to fix, so it is said without a stack trace. */
export async function runCommand (main: () => Promise<void>): Promise<void> {
  try {
    await main()
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error
    console.error(error.message)
    process.exitCode = 1
  }
}
