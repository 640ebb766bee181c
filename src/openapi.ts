import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { buildApp } from './app.js'
import { loadConfig } from './config.js'

export const OPENAPI_FILE = new URL('../openapi/openapi.json', import.meta.url)

/**
 * The OpenAPI document as the routes describe it. Built from the default
 * configuration on a throw-away data directory, so the environment of whoever
 * runs it cannot change the committed file.
 */
export async function generateOpenApi (): Promise<string> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ecommerce-openapi-'))
  try {
    const app = await buildApp(loadConfig({ DATA_DIR: dataDir, LOG_LEVEL: 'silent', ARGON2_MEMORY_KIB: '1024', ARGON2_TIME_COST: '1' }))
    await app.ready()
    const document = app.swagger()
    await app.close()
    return `${JSON.stringify(document, null, 2)}\n`
  } finally {
    fs.rmSync(dataDir, { recursive: true, force: true })
  }
}
